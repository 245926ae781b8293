// DBStore's due scan on MariaDB: the published suite; the invisible virtual column of the
// expiry and its index on (expiry, id) that make a pass cost what is due (EXPLAIN shows a range
// of that index, with no sort); the official SDK's insert (named columns) beside it; stores
// opening a new table together; and a legacy table with case-insensitive ids.
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { dueCursor } from '../../../src/due.ts'
import { DBStore } from '../../../src/stores/mysql.ts'
import { dueScanConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const DATABASE = 'tokenkeeper_test'
const URL_BASE = `${SERVICES.mariadb.url}/${DATABASE}`
const NOW = 1_900_000_000_000
/** The Python DBStore's insert: named columns. */
const OFFICIAL_INSERT = (table: string): string =>
  `insert into \`${table}\` (id,user_name,client_id,client_secret,refresh_token,access_token,` +
  'grant_token,expiry_time,redirect_url,api_domain) values (?,?,?,?,?,?,?,?,?,?)'

/** A mysql2 pool that records each statement the store executes through it. */
function watched(pool: mysql.Pool, seen: { sql: string; values: unknown[] }[]): mysql.Pool {
  return new Proxy(pool, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target)
      if (key !== 'execute' || typeof value !== 'function') return value
      return (sql: string, values: unknown[] = [], ...rest: unknown[]) => {
        seen.push({ sql, values })
        return (value as (...args: unknown[]) => unknown).call(target, sql, values, ...rest)
      }
    },
  })
}

let counter = 0
const tables: string[] = []
const newTable = (): string => {
  const table = `tk_due_${process.pid}_${++counter}`
  tables.push(table)
  return table
}

await describeWithService('mariadb', 'DBStore due scan (MariaDB)', () => {
  let admin: mysql.Connection
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    for (const table of tables)
      await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${budgetTable(table)}\``)
    await admin.end()
  })

  for (const t of dueScanConformance({
    create: () => new DBStore({ url: URL_BASE, table: newTable() }),
  })) {
    it(t.name, t.run)
  }

  it('reads one range of the expiry index, in its order: EXPLAIN shows it', async () => {
    const table = newTable()
    const pool = mysql.createPool({ uri: URL_BASE, connectionLimit: 2 })
    const seen: { sql: string; values: unknown[] }[] = []
    const store = new DBStore({ pool: watched(pool, seen), table })
    try {
      await store.getTokens()
      // 20,000 rows as the official SDK writes them (named columns), a few hundred of them due.
      const rows = Array.from({ length: 20_000 }, (_, n) => [
        String(n + 1),
        `u${n + 1}@example.com`,
        'c',
        's',
        `r${n + 1}`,
        `a${n + 1}`,
        null,
        String(NOW + (n + 1 - 300) * 1000),
        null,
        null,
      ])
      for (let from = 0; from < rows.length; from += 2000) {
        await admin.query(OFFICIAL_INSERT(table).replace('(?,?,?,?,?,?,?,?,?,?)', '?'), [
          rows.slice(from, from + 2000),
        ])
      }
      await admin.query(`ANALYZE TABLE \`${table}\``)
      seen.length = 0
      const first = await store.findDueTokens({ before: NOW, limit: 50 })
      const next = await store.findDueTokens({
        before: NOW,
        limit: 50,
        after: dueCursor(first.at(-1)!),
      })
      expect(first.map((t) => t.id)).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)))
      expect(next[0]?.id).toBe('51')
      const scans = seen.filter((q) => q.sql.includes('expiry_number'))
      expect(scans).toHaveLength(2)
      for (const { sql, values } of scans) {
        const [plan] = (await admin.query(`EXPLAIN ${sql}`, values)) as unknown as [
          { type: string; key: string | null; Extra: string | null }[],
        ]
        expect(plan, sql).toHaveLength(1)
        expect(plan[0]!.key, sql).toBe(`${table}_expiry_idx`)
        expect(plan[0]!.type, sql).toBe('range')
        // The index gives the order: no sort of the due rows.
        expect(plan[0]!.Extra ?? '', sql).not.toMatch(/filesort/)
      }
    } finally {
      await store.close()
      await pool.end()
    }
  })

  it('stores opening a new table together add the column and index once; the official insert still works, odd expiries are never due', async () => {
    const table = newTable()
    const stores = Array.from(
      { length: 4 },
      () => new DBStore({ url: URL_BASE, table, poolSize: 2 }),
    )
    try {
      const found = await Promise.all(stores.map((s) => s.findDueTokens({ before: NOW })))
      expect(found).toEqual([[], [], [], []])
      const [indexes] = (await admin.query(
        'SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS ' +
          "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME LIKE '%expiry%'",
        [table],
      )) as unknown as [{ name: string }[]]
      expect(indexes.map((i) => i.name)).toEqual([`${table}_expiry_idx`])
      await stores[0]!.saveToken(
        new OAuthToken({ userSignature: new UserSignature('ada@example.com'), expiryTime: NOW }),
      )
      for (const [id, expiry] of [
        ['10', 'soon'],
        ['11', ''],
        ['12', null],
        ['13', `${NOW}x`],
        ['14', '-5'],
        ['15', String(NOW - 1)],
      ] as const) {
        await admin.query(OFFICIAL_INSERT(table), [
          id,
          `${id}@example.com`,
          'c',
          's',
          `r${id}`,
          `a${id}`,
          null,
          expiry,
          null,
          null,
        ])
      }
      // The invisible column stays out of the official SDK's `select *`.
      const [all] = (await admin.query(
        `SELECT * FROM \`${table}\` WHERE id = '15'`,
      )) as unknown as [Record<string, unknown>[]]
      expect(Object.keys(all[0]!)).not.toContain('expiry_number')
      const due = await stores[1]!.findDueTokens({ before: NOW })
      expect(due.map((t) => t.id)).toEqual(['15', '1'])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('a user that may not change the table: nothing added, the scan still answers', async () => {
    const table = newTable()
    const writer = new DBStore({ url: URL_BASE, table })
    await writer.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), expiryTime: 5 }),
    )
    await writer.close()
    // A table as the previous version of the store left it: no expiry column.
    await admin.query(
      `ALTER TABLE \`${table}\` DROP INDEX \`${table}_expiry_idx\`, DROP COLUMN expiry_number`,
    )
    const user = `tk_due_${process.pid}`
    await admin.query(`CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY 'due-pw'`)
    // Rows, and CREATE for the store's CREATE TABLE IF NOT EXISTS; no ALTER, no INDEX.
    await admin.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON ${DATABASE}.\`${table}\` TO '${user}'@'127.0.0.1'`,
    )
    const url = new URL(URL_BASE)
    url.username = user
    url.password = 'due-pw'
    const reader = new DBStore({ url: url.toString(), table })
    try {
      expect((await reader.findDueTokens({ before: 10 })).map((t) => t.id)).toEqual(['1'])
      const [columns] = (await admin.query(
        'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS ' +
          "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'expiry_number'",
        [table],
      )) as unknown as [unknown[]]
      expect(columns).toEqual([])
    } finally {
      await reader.close()
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`)
    }
  })

  it('a legacy table with case-insensitive ids: the scan orders ids by their bytes', async () => {
    const table = newTable()
    await admin.query(
      `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), ` +
        'client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), ' +
        'grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), ' +
        'api_domain varchar(255), PRIMARY KEY (id)) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci',
    )
    for (const id of ['b', 'A', 'a2', 'B1']) {
      await admin.query(OFFICIAL_INSERT(table), [
        id,
        `${id}@example.com`,
        'c',
        's',
        `r${id}`,
        `a${id}`,
        null,
        '5',
        null,
        null,
      ])
    }
    const store = new DBStore({ url: URL_BASE, table })
    try {
      const pages: string[] = []
      let after
      for (;;) {
        const page: OAuthToken[] = await store.findDueTokens({ before: 10, limit: 1, after })
        if (page.length === 0) break
        pages.push(page[0]!.id!)
        after = dueCursor(page[0]!)
      }
      expect(pages).toEqual(['A', 'B1', 'a2', 'b'])
    } finally {
      await store.close()
    }
  })
})
