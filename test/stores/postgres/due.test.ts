// PostgresStore's due scan: the published suite; the partial expression index on (expiry, id)
// that makes a pass cost what is due (EXPLAIN shows an index scan of it, with no sort); rows the
// official SDKs insert (named columns) beside it; stores opening a new table together; and a
// read-only session that adds nothing.
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { dueCursor } from '../../../src/due.ts'
import { PostgresStore, type PostgresPool } from '../../../src/stores/postgres.ts'
import { dueScanConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const PG_URL = SERVICES.postgres.url
const NOW = 1_900_000_000_000
const tables = new Set<string>()
let serial = 0

function newTable(): string {
  serial += 1
  const table = `tk_due_${process.pid}_${serial}`
  tables.add(table)
  return table
}

let adminPool: pg.Pool | undefined
function admin(): pg.Pool {
  adminPool ??= new pg.Pool({ connectionString: PG_URL, max: 4 })
  return adminPool
}

const indexesOf = async (table: string): Promise<string[]> =>
  (
    await admin().query<{ name: string }>(
      'SELECT indexname AS name FROM pg_indexes WHERE tablename = $1 ORDER BY 1',
      [table],
    )
  ).rows.map((r) => r.name)

/** A pg.Pool that records the text of each query the store sends through it. */
function watched(pool: pg.Pool, seen: { text: string; values: unknown[] }[]): PostgresPool {
  return new Proxy(pool, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target)
      if (key !== 'query' || typeof value !== 'function') return value
      return (config: unknown, ...rest: unknown[]) => {
        if (typeof config === 'object' && config !== null && 'text' in config) {
          const { text, values } = config as { text: string; values?: unknown[] }
          seen.push({ text, values: values ?? [] })
        }
        return (value as (...args: unknown[]) => unknown).call(target, config, ...rest)
      }
    },
  })
}

await describeWithService('postgres', 'PostgresStore due scan', () => {
  afterAll(async () => {
    for (const table of tables)
      await admin().query(`DROP TABLE IF EXISTS "${table}", "${budgetTable(table)}"`)
    await adminPool?.end()
  })

  for (const t of dueScanConformance({
    create: () => new PostgresStore({ connectionString: PG_URL, table: newTable() }),
  })) {
    it(t.name, t.run)
  }

  it('reads one range of the expiry index, in its order: EXPLAIN shows it', async () => {
    const table = newTable()
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
    const seen: { text: string; values: unknown[] }[] = []
    const store = new PostgresStore({ pool: watched(pool, seen), table })
    try {
      await store.getTokens()
      // 20,000 rows as the official SDKs write them (named columns), a few hundred of them due.
      await admin().query(
        `INSERT INTO "${table}" (id, user_name, client_id, client_secret, refresh_token, ` +
          'access_token, grant_token, expiry_time, redirect_url, api_domain) ' +
          "SELECT i::text, 'u' || i || '@example.com', 'c', 's', 'r' || i, 'a' || i, NULL, " +
          '($1::bigint + (i - 300) * 1000)::text, NULL, NULL FROM generate_series(1, 20000) i',
        [NOW],
      )
      await admin().query(`ANALYZE "${table}"`)
      seen.length = 0
      const first = await store.findDueTokens({ before: NOW, limit: 50 })
      const next = await store.findDueTokens({
        before: NOW,
        limit: 50,
        after: dueCursor(first.at(-1)!),
      })
      expect(first.map((t) => t.id)).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 1)))
      expect(next[0]?.id).toBe('51')
      const scans = seen.filter((q) => q.text.includes('expiry_time ~'))
      expect(scans).toHaveLength(2)
      for (const { text, values } of scans) {
        const { rows } = await admin().query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values)
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n')
        expect(plan, text).toContain(`Index Scan using ${table}_expiry_idx on ${table}`)
        // The index gives the order: no sort of the due rows.
        expect(plan).not.toMatch(/Sort|Seq Scan/)
      }
    } finally {
      await store.close()
      await pool.end()
    }
  })

  it('stores opening a new table together add the index once; expiries that are not digits are never due', async () => {
    const table = newTable()
    const stores = Array.from(
      { length: 4 },
      () => new PostgresStore({ connectionString: PG_URL, table, poolSize: 2 }),
    )
    try {
      const found = await Promise.all(stores.map((s) => s.findDueTokens({ before: NOW })))
      expect(found).toEqual([[], [], [], []])
      expect((await indexesOf(table)).filter((n) => n.includes('expiry'))).toEqual([
        `${table}_expiry_idx`,
      ])
      await stores[0]!.saveToken(
        new OAuthToken({ userSignature: new UserSignature('ada@example.com'), expiryTime: NOW }),
      )
      const insert =
        `INSERT INTO "${table}" (id, user_name, client_id, client_secret, refresh_token, ` +
        'access_token, grant_token, expiry_time, redirect_url, api_domain) ' +
        "VALUES ($1, $2, 'c', 's', 'r', 'a', NULL, $3, NULL, NULL)"
      for (const [id, expiry] of [
        ['10', 'soon'],
        ['11', ''],
        ['12', null],
        ['13', `${NOW}x`],
        ['14', '-5'],
      ] as const) {
        await admin().query(insert, [id, `${id}@example.com`, expiry])
      }
      const due = await stores[1]!.findDueTokens({ before: NOW })
      expect(due.map((t) => t.userSignature?.name)).toEqual(['ada@example.com'])
    } finally {
      await Promise.all(stores.map((s) => s.close()))
    }
  })

  it('a role that does not own the table adds no index, and the scan still answers', async () => {
    const table = newTable()
    const writer = new PostgresStore({ connectionString: PG_URL, table })
    await writer.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), expiryTime: 5 }),
    )
    await writer.close()
    // A table as the previous version of the store left it: no expiry index.
    await admin().query(`DROP INDEX "${table}_expiry_idx"`)
    const role = `tk_due_${process.pid}`
    await admin().query(`DROP ROLE IF EXISTS ${role}`)
    await admin().query(`CREATE ROLE ${role} LOGIN`)
    await admin().query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${table}" TO ${role}`)
    const url = new URL(PG_URL)
    url.username = role
    const user = new PostgresStore({ connectionString: url.toString(), table })
    try {
      expect((await user.findDueTokens({ before: 10 })).map((t) => t.id)).toEqual(['1'])
      expect((await indexesOf(table)).filter((n) => n.includes('expiry'))).toEqual([])
    } finally {
      await user.close()
      await admin().query(`REVOKE ALL ON "${table}" FROM ${role}`)
      await admin().query(`DROP ROLE IF EXISTS ${role}`)
    }
  })

  it('a read-only session adds no index, and the scan still answers', async () => {
    const table = newTable()
    const writer = new PostgresStore({ connectionString: PG_URL, table })
    await writer.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), expiryTime: 5 }),
    )
    await writer.close()
    await admin().query(`DROP INDEX "${table}_expiry_idx"`)
    const pool = new pg.Pool({
      connectionString: PG_URL,
      max: 2,
      options: '-c default_transaction_read_only=on',
    })
    const reader = new PostgresStore({ pool, table })
    try {
      expect((await reader.findDueTokens({ before: 10 })).map((t) => t.id)).toEqual(['1'])
      expect((await indexesOf(table)).filter((n) => n.includes('expiry'))).toEqual([])
    } finally {
      await reader.close()
      await pool.end()
    }
  })
})
