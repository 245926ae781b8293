// PostgresStore's pass over every token (issue 14): keyset pages on the primary key, in the id
// column's own collation (a locale one or C), each page its own read. (A nondeterministic,
// case-insensitive collation is not here: the store cannot open such a table at all, since the
// partial index of issue 13 uses a regular expression on id.)
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import {
  EncryptionError,
  InvalidArgumentError,
  OAuthToken,
  TokenStoreError,
  UserSignature,
  type OAuthToken as Token,
} from '../../../src/index.ts'
import { supportsIteration } from '../../../src/iteration.ts'
import { PostgresStore } from '../../../src/stores/postgres.ts'
import { describeWithService, SERVICES } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const PG_URL = SERVICES.postgres.url
const KEYS = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
const PAGE_SELECT =
  /^SELECT id::text AS id, .* FROM "(\w+)" (WHERE id > \$1::text )?ORDER BY "\1".id LIMIT \$[12]$/
let serial = 0
const tables: string[] = []
const pools: pg.Pool[] = []

function newTable(): string {
  const table = `tk_pages_${process.pid}_${++serial}`
  tables.push(table)
  return table
}

/** The official SDK's table, with the id column in the collation given. */
const officialTableSql = (table: string, collation: string) =>
  `CREATE TABLE "${table}" (id varchar(10) COLLATE "${collation}" NOT NULL, ` +
  'user_name varchar(255), client_id varchar(255), client_secret varchar(255), ' +
  'refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), ' +
  'expiry_time varchar(20), redirect_url varchar(255), primary key (id))'

async function all(pass: AsyncIterable<Token>): Promise<Token[]> {
  const tokens: Token[] = []
  for await (const token of pass) tokens.push(token)
  return tokens
}

let adminPool: pg.Pool | undefined
function admin(): pg.Pool {
  adminPool ??= new pg.Pool({ connectionString: PG_URL, max: 2 })
  return adminPool
}

/** A pool that records the statements sent through it, with their values. */
function watchedPool(seen: [string, unknown[]][]): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 })
  pools.push(pool)
  const query = pool.query.bind(pool) as (config: unknown, values?: unknown) => unknown
  ;(pool as unknown as { query: typeof query }).query = (config, values) => {
    if (typeof config === 'object' && config !== null && 'text' in config) {
      const { text, values: bound } = config as { text: string; values?: unknown[] }
      seen.push([text, bound ?? []])
    }
    return query(config, values)
  }
  return pool
}

async function insertIds(table: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await admin().query(
      `INSERT INTO "${table}" (id, user_name, access_token) VALUES ($1, $2, $3)`,
      [id, `u.${id}@example.com`, `a.${id}`],
    )
  }
}

await describeWithService('postgres', 'PostgresStore.iterateTokens', () => {
  afterAll(async () => {
    for (const table of tables)
      await admin().query(`DROP TABLE IF EXISTS "${table}", "${budgetTable(table)}"`)
    await Promise.all(pools.map((pool) => pool.end()))
    await adminPool?.end()
  })

  for (const collation of ['en-US-x-icu', 'C']) {
    it(`reads each page as a range of the primary key index, no scan and no sort (${collation})`, async () => {
      const table = newTable()
      await admin().query(officialTableSql(table, collation))
      await admin().query(
        `INSERT INTO "${table}" (id, user_name) SELECT g::text, 'u' || g FROM generate_series(1, 20000) g`,
      )
      await admin().query(`ANALYZE "${table}"`)
      const seen: [string, unknown[]][] = []
      const store = new PostgresStore({ pool: watchedPool(seen), table })
      await store.getTokens()
      seen.length = 0
      expect((await all(store.iterateTokens({ pageSize: 500 }))).length).toBe(20_000)
      const pages = seen.filter(([sql]) => PAGE_SELECT.test(sql))
      expect(pages).toHaveLength(41)
      expect(pages).toHaveLength(seen.length)
      for (const [sql, values] of [...pages.slice(0, 2), pages.at(-1)!]) {
        const { rows } = await admin().query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n')
        expect(plan, sql).toMatch(new RegExp(`Index Scan using "?${table}_pkey"? on "?${table}"?`))
        expect(plan, sql).not.toMatch(/Seq Scan|Sort|Bitmap/)
        if (values.length === 2) expect(plan, sql).toMatch(/Index Cond: \(\(id\)::text > /)
      }
      await store.close()
    })
  }

  it('gives ids of every kind once, in the column collation, a locale one or C', async () => {
    const ids = ['a', 'B', 'c', '10', '9', '0wod457ssD', 'abcdefghij', '0000000099', 'x ', 'Zz']
    for (const collation of ['en-US-x-icu', 'C']) {
      const table = newTable()
      await admin().query(officialTableSql(table, collation))
      // Deterministic collations break ties by bytes: 'a' and 'A', 'x' and 'x ' are all apart.
      await insertIds(table, [...ids, 'A', 'b', 'x'])
      const { rows } = await admin().query<{ id: string }>(`SELECT id FROM "${table}" ORDER BY id`)
      const expected = rows.map((row) => row.id)
      const store = new PostgresStore({ connectionString: PG_URL, table })
      for (const pageSize of [1, 2, 3, 100]) {
        const given = (await all(store.iterateTokens({ pageSize }))).map((t) => t.id)
        expect(given, `${collation}, pages of ${pageSize}`).toEqual(expected)
      }
      await store.close()
    }
  })

  it('holds nothing between pages: saves, deletes and a schema change go through mid-pass', async () => {
    const table = newTable()
    const store = new PostgresStore({ connectionString: PG_URL, table })
    const saved: Token[] = []
    for (let i = 1; i <= 12; i += 1) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`p${i}@example.com`),
        accessToken: `a${i}`,
      })
      await store.saveToken(token)
      saved.push(token)
    }
    const ids: string[] = []
    for await (const token of store.iterateTokens({ pageSize: 3 })) {
      ids.push(token.id!)
      if (ids.length !== 4) continue
      // After the first page, while the pass is paused: a change that needs the table's
      // exclusive lock fails at once if a read of the pass were still open.
      const client = await admin().connect()
      try {
        await client.query("SET lock_timeout = '1s'")
        await client.query(`COMMENT ON TABLE "${table}" IS 'mid-pass'`)
        await client.query(`ALTER TABLE "${table}" ALTER COLUMN expiry_time SET DEFAULT NULL`)
      } finally {
        client.release()
      }
      await store.deleteToken('9')
      await store.saveToken(
        new OAuthToken({ userSignature: new UserSignature('new@example.com'), accessToken: 'n' }),
      )
      saved[0]!.accessToken = 'changed'
      await store.saveToken(saved[0]!)
    }
    expect(new Set(ids).size).toBe(ids.length)
    // Ids in text order, pages of 3: 1 10 11 | 12 2 3 | 4 5 6 | 7 8 (9 was deleted before its
    // page was read); 13, added when page 12 2 3 was already read, sorts before the cursor.
    expect(ids).toEqual(['1', '10', '11', '12', '2', '3', '4', '5', '6', '7', '8'])
    await store.close()
  })

  it('keeps the sealed-row guard, checks options at the call, and wraps server errors', async () => {
    const table = newTable()
    const encrypted = new PostgresStore({ connectionString: PG_URL, table, encryption: KEYS })
    const bare = new PostgresStore({ connectionString: PG_URL, table })
    expect(supportsIteration(bare)).toBe(true)
    expect(supportsIteration(encrypted)).toBe(true)
    await encrypted.saveToken(
      new OAuthToken({
        userSignature: new UserSignature('ada@example.com'),
        refreshToken: '1000.refresh',
      }),
    )
    expect(await all(encrypted.iterateTokens())).toMatchObject([
      { id: '1', refreshToken: '1000.refresh' },
    ])
    await expect(all(bare.iterateTokens())).rejects.toThrow(EncryptionError)
    await encrypted.close()
    await bare.close()

    const broken = new PostgresStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/nowhere',
      connectTimeoutMs: 300,
    })
    for (const options of [{ pageSize: 0 }, { pageSize: 2.5 }, { size: 10 }, null]) {
      expect(() => broken.iterateTokens(options as never)).toThrow(InvalidArgumentError)
    }
    const failure = await all(broken.iterateTokens()).catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(TokenStoreError)
    expect(failure).toMatchObject({ operation: 'getTokens' })
    await broken.close()
  })
})
