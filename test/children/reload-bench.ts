// Time for a FileStore that has read a 1,000,000-row file to see one row another process added
// (appended in place, as the Python SDK does) or replaced (a new file renamed over the old one).
// Usage: node --import tsx test/children/reload-bench.ts DIR [rows] [rounds]
import { appendFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { COLUMNS, FileStore } from '../../src/index.ts'

const [dir = '.', rowsArg = '1000000', roundsArg = '5'] = process.argv.slice(2)
const rows = Number(rowsArg)
const rounds = Number(roundsArg)
const row = (i: number, access = `1000.access.${i}.9a8b7c6d`): string =>
  `${i},user${i}@zylker.example,1000.CLIENT,secret${i},1000.refresh.${i}.b3f1c0de,` +
  `${access},,${1_900_000_000_000 + i},https://zylker.example/cb,https://www.zohoapis.com`
const path = join(dir, 'bench.csv')
const lines = [COLUMNS.join(',')]
for (let i = 1; i <= rows; i += 1) lines.push(row(i))
writeFileSync(path, lines.join('\n') + '\n')

const store = new FileStore(path)
const started = performance.now()
await store.findTokenById('1')
console.log(`open ${rows} rows: ${(performance.now() - started).toFixed(0)} ms`)
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
/** Wall and CPU (user + system) milliseconds of `action`: the machine may be shared. */
async function timed(action: () => Promise<void>): Promise<[number, number]> {
  const cpu = process.cpuUsage()
  const wall = performance.now()
  await action()
  const used = process.cpuUsage(cpu)
  return [performance.now() - wall, (used.user + used.system) / 1000]
}

const appended: [number, number][] = []
for (let r = 0; r < rounds; r += 1) {
  const id = rows + 1 + r
  appendFileSync(path, row(id) + '\n')
  lines.push(row(id))
  appended.push(
    await timed(async () => {
      if (!(await store.findTokenById(String(id)))) throw new Error('appended row not seen')
    }),
  )
}
const replaced: [number, number][] = []
for (let r = 0; r < rounds; r += 1) {
  const at = Math.floor(rows / 2) + r
  lines[at] = row(at, `1000.access.refreshed.${r}`)
  writeFileSync(`${path}.next`, lines.join('\n') + '\n')
  renameSync(`${path}.next`, path)
  replaced.push(
    await timed(async () => {
      const found = await store.findTokenById(String(at))
      if (found?.accessToken !== `1000.access.refreshed.${r}`)
        throw new Error('replaced row not seen')
    }),
  )
}
const report = (what: string, xs: [number, number][]): void => {
  const wall = xs.map((x) => x[0])
  const cpu = xs.map((x) => x[1])
  const list = (ys: number[]): string => ys.map((y) => y.toFixed(0)).join(', ')
  console.log(
    `${what} row seen: median ${median(wall).toFixed(0)} ms wall (${list(wall)}), ` +
      `${median(cpu).toFixed(0)} ms CPU (${list(cpu)})`,
  )
}
report('appended', appended)
report('replaced', replaced)
const counts = await import('../../src/stores/file.ts').then(
  (m: Record<string, unknown>) => m.reloadCount,
)
if (counts) console.log(`reloads: ${JSON.stringify(counts)}`)
