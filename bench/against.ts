// npm run bench:against -- <rev> [store]: the tokenkeeper rows of the benchmark for this
// checkout and for <rev> side by side, in one run: child processes alternate between the two
// (ABAB…), so both meet the same machine, and each row's medians and their ratio are printed.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { formatRate } from './harness.ts'

const [rev, only] = process.argv.slice(2)
if (!rev) {
  console.error(
    'usage: npm run bench:against -- <git revision> [FileStore|SQLiteStore|DBStore|PostgresStore|RedisStore]',
  )
  process.exit(2)
}
const here = resolve(import.meta.dirname, '..')
const there = mkdtempSync(join(tmpdir(), 'tokenkeeper-against-'))
execFileSync('git', ['worktree', 'add', '--detach', there, rev], { cwd: here, stdio: 'ignore' })
if (!existsSync(join(there, 'node_modules')))
  symlinkSync(join(here, 'node_modules'), join(there, 'node_modules'))
const ROUNDS = Number(process.env.ROUNDS ?? 3)
type Row = { store: string; operation: string; tokens: number; callers: number; median: number }
const seen = new Map<string, { base: number[]; head: number[] }>()
const failures: string[] = []
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [side, root] of [
      ['base', there],
      ['head', here],
    ] as const) {
      let out: string
      try {
        out = execFileSync(
          process.execPath,
          [
            join(here, 'node_modules/tsx/dist/cli.mjs'),
            join(here, 'bench/children/rows.ts'),
            root,
            ...(only ? [only] : []),
          ],
          { cwd: here, encoding: 'utf8', maxBuffer: 1 << 24 },
        )
      } catch (err) {
        // A failed round keeps the rows it printed; the others still run.
        const failed = err as { stdout?: string; stderr?: string; message: string }
        out = failed.stdout ?? ''
        failures.push(
          `round ${round + 1} ${side}: ${(failed.stderr ?? failed.message).trim().split('\n').slice(0, 6).join(' ')}`,
        )
      }
      for (const line of out.split('\n').filter((l) => l.startsWith('{'))) {
        const row = JSON.parse(line) as Row
        const key = `${row.store} | ${row.operation} | ${row.tokens} | ${row.callers}`
        const entry = seen.get(key) ?? { base: [], head: [] }
        entry[side].push(row.median)
        seen.set(key, entry)
      }
      console.error(`round ${round + 1}/${ROUNDS}: ${side} done`)
    }
  }
} finally {
  execFileSync('git', ['worktree', 'remove', '--force', there], { cwd: here, stdio: 'ignore' })
  rmSync(there, { recursive: true, force: true })
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
console.log(`| store | operation | tokens | callers | ${rev} | this checkout | ratio |`)
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
for (const [key, { base, head }] of seen) {
  if (base.length === 0 || head.length === 0) {
    console.log(
      `| ${key} | ${base.length ? formatRate(median(base)) : 'failed'} | ${head.length ? formatRate(median(head)) : 'failed'} | – |`,
    )
    continue
  }
  const ratio = median(head) / median(base)
  const flag = ratio < 0.9 ? ' (worse by more than 10%)' : ''
  console.log(
    `| ${key} | ${formatRate(median(base))} | ${formatRate(median(head))} | ${ratio.toFixed(2)}×${flag} |`,
  )
}
if (failures.length > 0) {
  console.log(`\n${failures.length} round(s) failed; their rows have fewer samples:`)
  for (const failure of failures) console.log(`- ${failure}`)
}
