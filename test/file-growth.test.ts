// Opening a token file costs the same per row whatever the file's size: the official SDKs'
// files are opened as they are, and a file changed by another process is read again whole.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { COLUMNS } from '../src/index.ts'
import { scratchDir, scratchPath } from './helpers.ts'

const run = promisify(execFile)
const dir = scratchDir()
const CHILD = new URL('./children/open-file.ts', import.meta.url).pathname

/** An official-format token file of `rows` rows, as the official SDKs write it (no quotes). */
function officialFile(rows: number): string {
  const path = scratchPath(dir, `${rows}.txt`)
  const lines = [COLUMNS.join(',')]
  for (let i = 1; i <= rows; i += 1) {
    lines.push(
      `${i},user${i}@zylker.example,1000.CLIENT,secret${i},1000.refresh.${i}.b3f1c0de,` +
        `1000.access.${i}.9a8b7c6d,,${1_900_000_000_000 + i},https://zylker.example/cb,https://www.zohoapis.com`,
    )
  }
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

/** A realistic file: 70-character tokens, a 35-character client id, about 330 bytes a row. */
function realisticFile(rows: number): string {
  const path = scratchPath(dir, `realistic-${rows}.txt`)
  const secret = (kind: string, i: number): string =>
    `1000.${kind}${String(i).padStart(27, '0')}.${'0123456789abcdef'.repeat(2)}`
  const lines = [COLUMNS.join(',')]
  for (let i = 1; i <= rows; i += 1) {
    lines.push(
      `${i},user${String(i).padStart(6, '0')}@zylker.example,1000.ABCDEFGHIJKLMNOPQRSTUVWXYZ01234,` +
        `${'5'.repeat(42)},${secret('r', i)},${secret('a', i)},${secret('g', i)},` +
        `${1_900_000_000_000 + i},https://portal.zylker.example/oauth/callback,https://www.zohoapis.com`,
    )
  }
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

/** Heap bytes a row that opening the file and finding one token leaves (after a full GC). */
async function heapPerRow(path: string, rows: number): Promise<number> {
  const script = `
    const { FileStore } = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)})
    gc()
    const before = process.memoryUsage().heapUsed
    const store = new FileStore(${JSON.stringify(path)})
    if (!(await store.findTokenById('${rows}'))) throw new Error('not found')
    gc()
    process.stdout.write(String((process.memoryUsage().heapUsed - before) / ${rows}))
    globalThis.keep = store`
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
    { timeout: 120_000 },
  )
  return Number(stdout.trim())
}

/** Milliseconds to open the file and find its last row, in a child killed after `limitMs`. */
async function openMs(path: string, rows: number, limitMs: number): Promise<number> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, path, String(rows)], {
    timeout: limitMs,
  }).catch((err: { killed?: boolean }) => {
    if (err.killed) throw new Error(`opening ${rows} rows took over ${limitMs} ms`)
    throw err
  })
  return Number(stdout.trim())
}

describe('FileStore reads a token file in linear time', () => {
  it('the time per row at 200,000 rows is under twice that at 20,000', async () => {
    const small = officialFile(20_000)
    const large = officialFile(200_000)
    // The least of three runs of each, alternated: the least is the run others disturbed least.
    let smallMs = Infinity
    let largeMs = Infinity
    for (let round = 0; round < 3; round += 1) {
      smallMs = Math.min(smallMs, await openMs(small, 20_000, 60_000))
      // Twice the time per row allowed, plus the child's start-up: a quadratic reader is killed.
      const limit = Math.ceil(Math.max(30_000, smallMs * 10 * 2 * 4))
      largeMs = Math.min(largeMs, await openMs(large, 200_000, limit))
    }
    const ratio = largeMs / 200_000 / (smallMs / 20_000)
    expect(
      ratio,
      `${smallMs.toFixed(0)} ms for 20k rows, ${largeMs.toFixed(0)} ms for 200k`,
    ).toBeLessThan(2)
  }, 300_000)
})

describe('FileStore keeps a small index of the rows it reads', () => {
  it('opening a file of 100,000 realistic rows costs under 250 heap bytes a row', async () => {
    // Rows point into the file's text and slice their values when asked: no string per value.
    const bytes = await heapPerRow(realisticFile(100_000), 100_000)
    expect(bytes, `${bytes.toFixed(0)} heap bytes a row`).toBeLessThan(250)
  }, 180_000)
})
