// A pass over every token of a SQLite database with SQLiteStore, measured: argv is the database,
// the row count, the way (`iterate` or `getTokens`) and, to fill a new database first, `fill`.
// The rows are written in bulk in the official table (ids 1..N as text), as the Python SDK would
// leave them. Prints {given, heapGrowth, rssGrowth} (bytes); run with --expose-gc for the heap
// measured live (after a collection) rather than with its garbage.
import Database from 'better-sqlite3'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { COLUMNS } from '../../src/store/rows.ts'
import { createTableSql } from '../../src/stores/sql/schema.ts'

const [path, count, way, fill] = process.argv.slice(2)
const rows = Number(count)

if (fill === 'fill') {
  const db = new Database(path)
  db.exec(createTableSql('sqlite', 'oauthtoken'))
  const insert = db.prepare(
    `INSERT INTO oauthtoken (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
  )
  // Zoho-sized values (70-character tokens) that differ per row.
  const value = (kind: string, i: number): string =>
    `1000.${kind}${i.toString(16).padStart(28, '0')}.${'0123456789abcdef'.repeat(2)}`
  db.transaction(() => {
    for (let i = 1; i <= rows; i += 1) {
      insert.run(
        String(i),
        `user${i}@zylker.example`,
        '1000.CLIENTIDCLIENTIDCLIENTIDCLIENT',
        'secret0123456789abcdef0123456789abcdef01',
        value('r', i),
        value('a', i),
        value('g', i),
        String(1_900_000_000_000 + i),
        'https://portal.zylker.example/oauth/callback',
        'https://www.zohoapis.com',
      )
    }
  })()
  db.close()
}

const gc = (globalThis as { gc?: () => void }).gc
const heap = (): number => {
  gc?.()
  return process.memoryUsage().heapUsed
}
// Which ids were given, and how often: allocated before the start is measured.
const times = new Uint8Array(rows + 1)
const store = new SQLiteStore({ path: path! })
await store.findTokenById('1')
const startHeap = heap()
const startRss = process.memoryUsage().rss
let peakHeap = startHeap
let peakRss = startRss
const sample = (): void => {
  peakHeap = Math.max(peakHeap, heap())
  peakRss = Math.max(peakRss, process.memoryUsage().rss)
}
let given = 0
const seen = (id: string | undefined): void => {
  times[Number(id)]! += 1
  given += 1
}

if (way === 'iterate') {
  for await (const token of store.iterateTokens()) {
    seen(token.id)
    if (given % 10_000 === 0) sample()
  }
} else {
  const all = await store.getTokens()
  sample()
  for (const token of all) seen(token.id)
}
sample()
await store.close()
const once = times.every((n, id) => n === (id === 0 ? 0 : 1))
process.stdout.write(
  JSON.stringify({
    given,
    once,
    heapGrowth: peakHeap - startHeap,
    rssGrowth: peakRss - startRss,
  }),
)
