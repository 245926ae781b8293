// How PostgresStore numbers new rows (issue 13): the next after the largest numeric id, read
// from a partial expression index, allocated under a transaction-level advisory lock per table.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { numericIdValue } from '../../../src/store/ids.ts'
import { COLUMNS } from '../../../src/store/rows.ts'
import { PostgresStore } from '../../../src/stores/postgres.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const run = promisify(execFile)
const PG_URL = SERVICES.postgres.url
const STORE_MODULE = fileURLToPath(new URL('../../../src/stores/postgres.ts', import.meta.url))
const TOKEN_MODULE = fileURLToPath(new URL('../../../src/index.ts', import.meta.url))

let serial = 0
const tables = new Set<string>()
function newTable(): string {
  serial += 1
  const table = `tkids_${process.pid}_${serial}`
  tables.add(table)
  return table
}

const pools: pg.Pool[] = []
function newPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 10, ...config })
  pool.on('error', () => undefined)
  pools.push(pool)
  return pool
}
const admin = newPool({ max: 4 })

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i))
const byNumber = (ids: string[]) => [...ids].sort((a, b) => Number(a) - Number(b))

function user(name: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.C',
    clientSecret: 's',
    refreshToken: `1000.r.${name}`,
    accessToken: `1000.a.${name}`,
  })
}

async function ids(table: string): Promise<string[]> {
  return (await admin.query<{ id: string }>(`SELECT id FROM "${table}"`)).rows.map((r) => r.id)
}

/** The SQL texts a pool's clients are sent, as the store sends them. */
function recordQueries(pool: pg.Pool, seen: string[]): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (
      ...args: unknown[]
    ) => {
      const first = args[0]
      seen.push(typeof first === 'string' ? first : (first as { text: string }).text)
      return query(...args)
    }
  })
}

/** A child process: saves `count` new users with 5 callers once `barrier` is unlocked. */
const CHILD = `
import pg from 'pg'
const { PostgresStore } = await import(${JSON.stringify(STORE_MODULE)})
const { OAuthToken, UserSignature } = await import(${JSON.stringify(TOKEN_MODULE)})
const [url, table, prefix, count, barrier] = process.argv.slice(1)
const store = new PostgresStore({ connectionString: url, table })
await store.getTokens()
const gate = new pg.Client({ connectionString: url })
await gate.connect()
await gate.query('SELECT pg_advisory_lock_shared($1::bigint)', [barrier])
await gate.end()
const ids = []
const started = Date.now()
let next = 0
await Promise.all(Array.from({ length: 5 }, async () => {
  while (next < Number(count)) {
    const i = next++
    const token = new OAuthToken({ userSignature: new UserSignature(prefix + '-' + i + '@zylker.example'), clientId: 'c', clientSecret: 's', refreshToken: 'r' + prefix + i })
    await store.saveToken(token)
    ids.push(token.id)
  }
}))
const finished = Date.now()
await store.close()
process.stdout.write(JSON.stringify({ ids, started, finished }))
`

await describeWithService('postgres', 'PostgresStore ids', () => {
  afterAll(async () => {
    for (const table of tables)
      await admin.query(`DROP TABLE IF EXISTS "${table}", "${budgetTable(table)}"`)
    await Promise.all(pools.map((pool) => pool.end()))
  })

  it('keeps select * to the official columns (and tk_health after them); an id of any form is stored, and only digits are numbered', async () => {
    const table = newTable()
    const store = new PostgresStore({ connectionString: PG_URL, table })
    try {
      await store.getTokens()
      const { fields } = await admin.query(`SELECT * FROM "${table}"`)
      // The official columns in their order, then the health column (PostgreSQL has no
      // invisible columns): a reader by position still finds each official value in its place.
      expect(fields.map((f) => f.name)).toEqual([...COLUMNS, 'tk_health'])
      const odd = [
        '0wod457ssD',
        'abcdefghij',
        '12ab',
        '12\n',
        '',
        ' 5',
        '5 ',
        '-5',
        '+5',
        '1e3',
        '１２',
        '٣',
        '0',
        '41',
        '0000000099',
        '9999999998',
      ]
      // One at a time: the next id after each is what the one rule in store.ts says.
      for (const id of odd) {
        await store.deleteTokens()
        await admin.query(`INSERT INTO "${table}" (id, user_name) VALUES ($1, 'odd')`, [id])
        const next = user('next@zylker.example')
        await store.saveToken(next)
        expect([id, next.id]).toEqual([id, String((numericIdValue(id) ?? 0) + 1)])
      }
    } finally {
      await store.close()
    }
  })

  it('reads the largest id through the partial index: EXPLAIN, and a few pages at 50,000 rows', async () => {
    const table = newTable()
    const seen: string[] = []
    const pool = newPool()
    recordQueries(pool, seen)
    const store = new PostgresStore({ pool, table })
    try {
      await store.getTokens()
      const n = 50_000
      // Every other id is one the numbering skips; the numeric ones are zero-padded.
      await admin.query(
        `INSERT INTO "${table}" (id, user_name) SELECT CASE WHEN g % 2 = 0 THEN '0x' || g ` +
          "ELSE lpad(g::text, 10, '0') END, 'u' || g FROM generate_series(1, $1::int) g",
        [n],
      )
      await admin.query(`ANALYZE "${table}"`)
      const ada = user('ada@zylker.example')
      await store.saveToken(ada)
      expect(ada.id).toBe(String(n))
      const largest = seen.find((text) => /max\(/i.test(text))!
      const plan = (await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${largest}`)).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n')
      expect(plan).toMatch(new RegExp(`Index (Only )?Scan Backward using ${table}_id_number_idx`))
      expect(plan).not.toMatch(/Seq Scan/)
      // Run: one index entry read, a handful of pages, out of 50,000 rows.
      const analyzed = (
        await admin.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${largest}`)
      ).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n')
      expect(analyzed).toMatch(/Scan Backward using .*\(actual .* rows=1 loops=1\)/)
      const buffers = /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(analyzed)
      const pages = buffers ? Number(buffers[1] ?? 0) + Number(buffers[2] ?? 0) : Infinity
      console.log(`PostgresStore largest id at ${n} rows: ${pages} buffers`)
      expect(pages).toBeLessThan(20)
    } finally {
      await store.close()
    }
  })

  it('adds the numeric id index to a table of an earlier tokenkeeper', async () => {
    const table = newTable()
    await admin.query(
      `CREATE TABLE "${table}" (id varchar(10) NOT NULL PRIMARY KEY, user_name text, client_id text, client_secret text, refresh_token text, access_token text, grant_token text, expiry_time varchar(20), redirect_url text, api_domain text)`,
    )
    for (const column of ['user_name', 'access_token', 'grant_token', 'refresh_token']) {
      await admin.query(
        `CREATE ${column === 'user_name' ? 'UNIQUE ' : ''}INDEX "${table}_${column}_md5_idx" ON "${table}" (md5(${column}))`,
      )
    }
    await admin.query(
      `INSERT INTO "${table}" (id, user_name) VALUES ('0wod457ssD', 'a'), ('5', 'b'), ('0CghEddkHY', 'c')`,
    )
    const store = new PostgresStore({ connectionString: PG_URL, table })
    try {
      const next = user('next@zylker.example')
      await store.saveToken(next)
      expect(next.id).toBe('6')
      const { rows } = await admin.query<{ def: string }>(
        'SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indexrelid = to_regclass($1)',
        [`"${table}_id_number_idx"`],
      )
      expect(rows[0]?.def).toMatch(
        /\(\(id\)::bigint\)\) WHERE \(\(id\)::text ~ '\^\[0-9\]\{1,10\}\$'/,
      )
    } finally {
      await store.close()
    }
  })

  it('4 processes saving 50 new users each at once get exactly the ids 1 to 200, and none fails', async () => {
    const table = newTable()
    const prepared = new PostgresStore({ connectionString: PG_URL, table })
    await prepared.getTokens()
    await prepared.close()
    // The children wait on this lock, so that they all start saving at once.
    const barrier = String(Math.floor(Math.random() * 2 ** 40))
    const gate = await admin.connect()
    await gate.query('SELECT pg_advisory_lock($1::bigint)', [barrier])
    let children: Promise<{ stdout: string }>[] = []
    try {
      children = ['p1', 'p2', 'p3', 'p4'].map((prefix) =>
        run(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            CHILD,
            PG_URL,
            table,
            prefix,
            '50',
            barrier,
          ],
          { maxBuffer: 1 << 24 },
        ),
      )
      for (let waiting = 0; waiting < 4;) {
        await new Promise((go) => setTimeout(go, 20))
        const { rows } = await admin.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted " +
            'AND ((classid::bigint << 32) | objid::bigint) = $1::bigint',
          [barrier],
        )
        waiting = Number(rows[0]!.n)
      }
    } finally {
      await gate.query('SELECT pg_advisory_unlock($1::bigint)', [barrier])
      gate.release()
    }
    const results = (await Promise.all(children)).map(
      ({ stdout }) => JSON.parse(stdout) as { ids: string[]; started: number; finished: number },
    )
    for (const r of results)
      for (const other of results) expect(r.started).toBeLessThan(other.finished)
    expect(byNumber(results.flatMap((r) => r.ids))).toEqual(range(1, 200))
    expect(byNumber(await ids(table))).toEqual(range(1, 200))
  })

  it('5 pools saving 20 new users each at once get exactly the ids 1 to 100', async () => {
    const table = newTable()
    const stores = Array.from(
      { length: 5 },
      () => new PostgresStore({ connectionString: PG_URL, table, poolSize: 4 }),
    )
    try {
      await stores[0]!.getTokens()
      const saved = await Promise.all(
        stores.flatMap((store, s) =>
          Array.from({ length: 20 }, async (_, i) => {
            const token = user(`pool${s}.${i}@zylker.example`)
            await store.saveToken(token)
            return token.id!
          }),
        ),
      )
      expect(byNumber(saved)).toEqual(range(1, 100))
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })

  it('numbers correctly on connections whose default isolation is REPEATABLE READ', async () => {
    const table = newTable()
    const pool = newPool({ options: '-c default_transaction_isolation=repeatable\\ read' })
    const { rows } = await pool.query<{ transaction_isolation: string }>(
      'SHOW transaction_isolation',
    )
    expect(rows[0]!.transaction_isolation).toBe('repeatable read')
    const store = new PostgresStore({ pool, table })
    try {
      await store.getTokens()
      const saved = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const token = user(`rr${i}@zylker.example`)
          await store.saveToken(token)
          return token.id!
        }),
      )
      expect(byNumber(saved)).toEqual(range(1, 60))
    } finally {
      await store.close()
    }
  })
})
