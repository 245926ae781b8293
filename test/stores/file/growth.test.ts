// Opening a token file keeps a small index of its rows: each row points into the file's text
// and slices its values when asked. That the time per row stays the same whatever the file's
// size is measured by `npm run bench` (its Scale section's growth table, 100,000 → 1,000,000
// rows), not here: a timed threshold flakes on a loaded machine.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { COLUMNS } from '../../../src/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()

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
    const { FileStore } = await import(${JSON.stringify(new URL('../../../src/index.ts', import.meta.url).href)})
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

describe('FileStore keeps a small index of the rows it reads', () => {
  it('opening a file of 100,000 realistic rows costs under 250 heap bytes a row', async () => {
    // Rows point into the file's text and slice their values when asked: no string per value.
    const bytes = await heapPerRow(realisticFile(100_000), 100_000)
    expect(bytes, `${bytes.toFixed(0)} heap bytes a row`).toBeLessThan(250)
  }, 180_000)
})
