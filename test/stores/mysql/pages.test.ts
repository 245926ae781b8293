// DBStore's pass over every token (issue 14): keyset pages on the primary key, in the id
// column's own collation (an official table may be case-insensitive), each page its own read.
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  EncryptionError,
  InvalidArgumentError,
  OAuthToken,
  TokenStoreError,
  UserSignature,
  type OAuthToken as Token,
} from '../../../src/index.ts'
import { supportsIteration } from '../../../src/iteration.ts'
import { DBStore } from '../../../src/stores/mysql.ts'
import { describeWithService, SERVICES } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const DATABASE = 'tokenkeeper_test'
const URL_BASE = `${SERVICES.mariadb.url}/${DATABASE}`
const KEYS = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
const PAGE_SELECT = /^SELECT id, .* FROM `\w+` (WHERE id > \? )?ORDER BY id LIMIT \d+$/
let counter = 0

/** The official SDK's table, in the database's default collation (case-insensitive here). */
const officialTableSql = (table: string, collation: string) =>
  `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), ` +
  'client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), ' +
  'grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), ' +
  `api_domain varchar(255), primary key (id)) CHARACTER SET utf8mb4 COLLATE ${collation}`

async function all(pass: AsyncIterable<Token>): Promise<Token[]> {
  const tokens: Token[] = []
  for await (const token of pass) tokens.push(token)
  return tokens
}

await describeWithService('mariadb', 'DBStore.iterateTokens', () => {
  let admin: mysql.Connection
  const tables: string[] = []
  const pools: mysql.Pool[] = []
  const newTable = () => {
    const table = `tk_pages_${process.pid}_${++counter}`
    tables.push(table)
    return table
  }
  /** A pool that records the statements sent through it, with their values. */
  const watchedPool = (seen: [string, unknown[]][]) => {
    const pool = mysql.createPool({ uri: URL_BASE, connectionLimit: 4 })
    pools.push(pool)
    const execute = pool.execute.bind(pool) as (sql: string, values?: unknown[]) => unknown
    ;(pool as unknown as { execute: typeof execute }).execute = (sql, values) => {
      seen.push([sql, values ?? []])
      return execute(sql, values)
    }
    return pool
  }
  const insertIds = async (table: string, ids: readonly string[]) => {
    for (const id of ids) {
      await admin.execute(
        `INSERT INTO \`${table}\` (id, user_name, access_token) VALUES (?, ?, ?)`,
        [id, `u.${id}@example.com`, `a.${id}`],
      )
    }
  }
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    for (const table of tables)
      await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${budgetTable(table)}\``)
    await Promise.all(pools.map((pool) => pool.end()))
    await admin.end()
  })

  for (const collation of ['utf8mb4_general_ci', 'utf8mb4_bin']) {
    it(`reads each page as a range of the primary key, no scan and no sort (${collation})`, async () => {
      const table = newTable()
      await admin.query(officialTableSql(table, collation))
      await admin.query(
        `INSERT INTO \`${table}\` (id, user_name) SELECT seq, CONCAT('u', seq) FROM seq_1_to_20000`,
      )
      await admin.query(`ANALYZE TABLE \`${table}\``)
      const seen: [string, unknown[]][] = []
      const store = new DBStore({ pool: watchedPool(seen), table })
      await store.getTokens()
      seen.length = 0
      expect((await all(store.iterateTokens({ pageSize: 500 }))).length).toBe(20_000)
      const pages = seen.filter(([sql]) => PAGE_SELECT.test(sql))
      expect(pages).toHaveLength(41)
      expect(pages).toHaveLength(seen.length)
      for (const [sql, values] of pages.slice(0, 3)) {
        const [plan] = (await admin.execute(`EXPLAIN ${sql}`, values as string[])) as unknown as [
          { table: string; type: string; key: string | null; rows: number; Extra: string }[],
        ]
        expect(plan, sql).toHaveLength(1)
        expect(plan[0]!.key, sql).toBe('PRIMARY')
        expect(plan[0]!.type, sql).toBe(values.length ? 'range' : 'index')
        expect(plan[0]!.Extra ?? '', sql).not.toMatch(/filesort|temporary/i)
      }
      await store.close()
    })
  }

  it('gives ids of every kind once, in the column collation, also where case is ignored', async () => {
    const ids = ['a', 'B', 'c', '10', '9', '0wod457ssD', 'abcdefghij', '0000000099', 'x ', 'Zz']
    for (const collation of ['utf8mb4_general_ci', 'utf8mb4_bin']) {
      const table = newTable()
      await admin.query(officialTableSql(table, collation))
      await insertIds(table, ids)
      if (collation === 'utf8mb4_general_ci') {
        // What the schema guarantees: ids equal in the collation are one key, so `id > last`
        // cannot pass over a row that differs from `last` only by case or trailing spaces.
        await expect(insertIds(table, ['A'])).rejects.toThrow(/Duplicate entry/)
        await expect(insertIds(table, ['x'])).rejects.toThrow(/Duplicate entry/)
      } else {
        await insertIds(table, ['A', 'b'])
      }
      const [ordered] = await admin.query(`SELECT id FROM \`${table}\` ORDER BY id`)
      const expected = (ordered as { id: string }[]).map((row) => row.id)
      const store = new DBStore({ url: URL_BASE, table })
      for (const pageSize of [1, 2, 3, 100]) {
        const given = (await all(store.iterateTokens({ pageSize }))).map((t) => t.id)
        expect(given, `${collation}, pages of ${pageSize}`).toEqual(expected)
      }
      await store.close()
    }
  })

  it('holds nothing between pages: saves, deletes and a schema change go through mid-pass', async () => {
    const table = newTable()
    const store = new DBStore({ url: URL_BASE, table })
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
      // metadata lock fails at once if a read of the pass were still open.
      await admin.query('SET SESSION lock_wait_timeout = 1')
      await admin.query(`ALTER TABLE \`${table}\` COMMENT = 'mid-pass'`)
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
    const encrypted = new DBStore({ url: URL_BASE, table, encryption: KEYS })
    const bare = new DBStore({ url: URL_BASE, table })
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

    const broken = new DBStore({
      url: 'mysql://root@127.0.0.1:1/nowhere',
      connectTimeoutMs: 300,
      reconnectTimeoutMs: 0,
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
