// The keeper's idle pass in `npm run bench`: the time of one pass that finds nothing due, at
// 100,000 stored tokens, per store. Each store is filled in bulk in its own format (scale-stores.ts:
// the official file and tables, RedisStore's own key layout), every token an hour from expiry, and
// opened by its URL as `tokenkeeper keep` opens it. The same pass with the store's due scan
// hidden shows what it saves: without it a pass reads every token.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryStore, TokenKeeper, type TokenStore } from '../src/index.ts'
import { createStore } from '../src/stores/create.ts'
import { fastRows, fillStore, SERVER_OF, type ScaleKind } from './scale-stores.ts'
import { COLUMNS, tokenFromRow, type TokenRow } from '../src/store/rows.ts'
import { reachable } from './servers.ts'

export const IDLE_KINDS = ['memory', 'file', 'sqlite', 'mysql', 'postgres', 'redis'] as const
export type IdleKind = (typeof IDLE_KINDS)[number]

const NAMES: Record<IdleKind, string> = {
  memory: 'MemoryStore',
  file: 'FileStore',
  sqlite: 'SQLiteStore',
  mysql: 'DBStore (MariaDB)',
  postgres: 'PostgresStore',
  redis: 'RedisStore',
}

/** How each store finds the due tokens, as its code does it. */
const HOW: Record<IdleKind, string> = {
  memory: 'scans its rows in memory',
  file: 'scans the rows it holds in memory (the file is read again only when changed)',
  sqlite: 'index on (expiry, id)',
  mysql: 'index on (expiry, id)',
  postgres: 'index on (expiry, id)',
  redis: 'sorted set of ids by expiry',
}

/** One store's idle pass. */
export interface IdlePassFigures {
  readonly store: string
  readonly tokens: number
  readonly how: string
  /**
   * The first pass, with the store's first open: the SQL stores add their schema and indexes to
   * the official table then, RedisStore builds its due index in its first scan.
   */
  readonly firstPassMs: number
  /** Median, fastest and slowest of `passes` later passes, each finding nothing due. */
  readonly medianMs: number
  readonly minMs: number
  readonly maxMs: number
  readonly passes: number
  /** The same pass with the due scan hidden: the keeper reads every token (median). */
  readonly fullReadMs: number
  readonly fullReadPasses: number
  /**
   * A keeper that keeps only the tokens in use (`usedWithinMs` 1 day, `refreshIdleAfterMs` 30
   * days) on a clock 8 days later, when every token is idle and long expired: it reads none
   * (median of `passes`). Absent from results measured before it existed.
   */
  readonly allIdleMs?: number | undefined
}

const DAY = 86_400_000

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The store as a keeper without a due scan sees it: every method but `findDueTokens`, bound to
 * the store (its private fields need the real `this`).
 */
function withoutDueScan(store: TokenStore): TokenStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'findDueTokens') return undefined
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value
    },
    has: (target, key) => key !== 'findDueTokens' && Reflect.has(target, key),
  })
}

/** Times one pass; a pass that finds anything due is a broken benchmark, not a figure. */
async function timePass(keeper: TokenKeeper): Promise<number> {
  const started = performance.now()
  const summary = await keeper.runOnce()
  const took = performance.now() - started
  if (summary.due !== 0) throw new Error(`an idle pass found ${summary.due} tokens due`)
  return took
}

/** A memory store of `rows` tokens (the same rows as the others), saved through the store. */
async function memoryStore(rows: number): Promise<TokenStore> {
  const store = new MemoryStore()
  for (const batch of fastRows(rows)) {
    await Promise.all(
      batch.map((row) =>
        store.saveToken(
          tokenFromRow(Object.fromEntries(COLUMNS.map((c, i) => [c, row[i]!])) as TokenRow),
        ),
      ),
    )
  }
  return store
}

/** The idle pass of one store of `rows` tokens; the store is removed afterwards. */
export async function benchIdlePass(
  kind: IdleKind,
  rows: number,
  { passes = 7, fullReadPasses = 3 } = {},
): Promise<IdlePassFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-idle-'))
  let drop = async (): Promise<void> => undefined
  let store: TokenStore | undefined
  try {
    if (kind === 'memory') {
      store = await memoryStore(rows)
    } else {
      const filled = await fillStore(kind satisfies ScaleKind, dir, rows)
      drop = () => filled.drop()
      store = await createStore(filled.url)
    }
    // The default policy: due when less than 5 minutes are left; every token has an hour.
    const keeper = new TokenKeeper({ store })
    const firstPassMs = await timePass(keeper)
    const times: number[] = []
    for (let i = 0; i < passes; i += 1) times.push(await timePass(keeper))
    // Eight days on, every token expired a week ago and nobody used one: kept only in use,
    // none is read (the default policy would find all of them due).
    const eightDaysOn = (): number => Date.now() + 8 * DAY
    const inUseOnly = new TokenKeeper({
      store,
      usedWithinMs: DAY,
      refreshIdleAfterMs: 30 * DAY,
      now: eightDaysOn,
    })
    const idle: number[] = []
    for (let i = 0; i < passes; i += 1) idle.push(await timePass(inUseOnly))
    const blind = new TokenKeeper({ store: withoutDueScan(store) })
    const full: number[] = []
    for (let i = 0; i < fullReadPasses; i += 1) full.push(await timePass(blind))
    return {
      store: NAMES[kind],
      tokens: rows,
      how: HOW[kind],
      firstPassMs,
      medianMs: median(times),
      minMs: Math.min(...times),
      maxMs: Math.max(...times),
      passes,
      fullReadMs: median(full),
      fullReadPasses,
      allIdleMs: median(idle),
    }
  } finally {
    await store?.close?.()
    await drop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Every store's idle pass, one store at a time; a store whose server does not listen is left
 * out, and a store that fails is named in `problems` while the others are still measured.
 */
export async function benchIdlePasses(
  rows: number,
  problems: string[],
  kinds: readonly IdleKind[] = IDLE_KINDS,
): Promise<IdlePassFigures[]> {
  const figures: IdlePassFigures[] = []
  for (const kind of kinds) {
    const server = kind === 'memory' ? undefined : SERVER_OF[kind]
    if (server && !(await reachable(server.host, server.port))) {
      console.log(`keeper idle pass, ${NAMES[kind]}: skipped, nothing listens on ${server.port}`)
      continue
    }
    try {
      const f = await benchIdlePass(kind, rows)
      figures.push(f)
      console.log(
        `keeper idle pass, ${f.store.padEnd(18)} ${rows} tokens: first ${f.firstPassMs.toFixed(1)} ms, median ${f.medianMs.toFixed(2)} ms [${f.minMs.toFixed(2)} – ${f.maxMs.toFixed(2)}], reading every token ${f.fullReadMs.toFixed(1)} ms, all idle (usedWithinMs) ${f.allIdleMs?.toFixed(2)} ms`,
      )
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      problems.push(`keeper idle pass, ${NAMES[kind]}: ${message}`)
      console.log(`keeper idle pass, ${NAMES[kind]}: FAILED, the run goes on: ${message}`)
    }
  }
  return figures
}

const ms = (n: number): string =>
  n >= 1000
    ? `${(n / 1000).toFixed(2)} s`
    : n >= 10
      ? `${n.toFixed(1)} ms`
      : n >= 1
        ? `${n.toFixed(2)} ms`
        : `${Math.round(n * 1000)} µs`

/** The idle-pass rows as a Markdown table. */
export function renderIdleMarkdown(figures: readonly IdlePassFigures[]): string[] {
  if (figures.length === 0) return []
  return [
    `**The keeper's pass that finds nothing due** (${figures[0]!.tokens.toLocaleString('en-US')} stored tokens, each an hour from expiry; the default policy, due when 5 minutes are left; median of ${figures[0]!.passes} passes after the first, slowest beside it; "reading every token" is the same pass with the store's due scan hidden, as a store without one is kept; "all idle" is a keeper with \`usedWithinMs\` 1 day and \`refreshIdleAfterMs\` 30 days on a clock 8 days later, when every token expired a week ago and none was used: it reads none, where the default policy would find them all due):`,
    '',
    '| store | finds due tokens by | first pass (with the first open, which builds the schema and indexes a store lacks) | pass, median (slowest) | reading every token instead | all idle, kept only in use |',
    '|---|---|---:|---:|---:|---:|',
    ...figures.map(
      (f) =>
        `| ${f.store} | ${f.how} | ${ms(f.firstPassMs)} | ${ms(f.medianMs)} (${ms(f.maxMs)}) | ${ms(f.fullReadMs)} | ${f.allIdleMs === undefined ? 'not measured' : ms(f.allIdleMs)} |`,
    ),
    '',
  ]
}

// `npx tsx bench/keeper-idle.ts [kind,...] [rows]`: this section alone, printed, not written.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const kinds = (process.argv[2]?.split(',') ?? IDLE_KINDS) as IdleKind[]
  const problems: string[] = []
  const figures = await benchIdlePasses(Number(process.argv[3] ?? 100_000), problems, kinds)
  console.log(['', ...renderIdleMarkdown(figures), ...problems].join('\n'))
  process.exit(problems.length ? 1 : 0)
}
