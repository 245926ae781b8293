// PostgresStore keeps each token's health in its row (a tk_health column) and counts budgets in
// a table beside it: the published suites with a second store (its own pool) on the same table,
// the official-shaped save of the same user keeping the column, and a role that does not own the
// table and a read-only session: nothing added, no health kept, budgets in the process.
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { encodeHealth } from '../../../src/health.ts'
import { PostgresStore } from '../../../src/stores/postgres.ts'
import { budgetConformance, healthConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const PG_URL = SERVICES.postgres.url
const tables = new Set<string>()
let serial = 0

function newTable(): string {
  serial += 1
  const table = `tk_health_${process.pid}_${serial}`
  tables.add(table)
  return table
}

let adminPool: pg.Pool | undefined
function admin(): pg.Pool {
  adminPool ??= new pg.Pool({ connectionString: PG_URL, max: 4 })
  return adminPool
}

/** What the store added beside the official columns: the health column, the budget table. */
async function added(table: string): Promise<{ column: boolean; budgets: boolean }> {
  const { rows } = await admin().query<{ column: boolean; budgets: boolean }>(
    'SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 ' +
      "AND column_name = 'tk_health') AS column, to_regclass($2) IS NOT NULL AS budgets",
    [table, `"${table}_budget"`],
  )
  return rows[0]!
}

await describeWithService('postgres', 'PostgresStore health and budgets', () => {
  afterAll(async () => {
    for (const table of tables) {
      await admin().query(`DROP TABLE IF EXISTS "${table}", "${table}_budget"`)
    }
    await adminPool?.end()
  })

  const create = () => new PostgresStore({ connectionString: PG_URL, table: newTable() })
  const share = (store: object) =>
    new PostgresStore({ connectionString: PG_URL, table: (store as PostgresStore).table })
  for (const t of healthConformance({ create, share })) it(t.name, t.run)
  for (const t of budgetConformance({ create, share })) it(t.name, t.run)

  it('saves of the same user, ours and an UPDATE of the official columns, keep the record', async () => {
    const table = newTable()
    const store = new PostgresStore({ connectionString: PG_URL, table })
    try {
      const token = new OAuthToken({
        userSignature: new UserSignature('ada@example.com'),
        refreshToken: '1000.r.ada',
        accessToken: '1000.a.ada',
        expiryTime: 1_900_000_000_000,
      })
      await store.saveToken(token)
      const record = encodeHealth(token, { state: 'failing', attempts: 2, since: 7 })
      await store.saveHealth(token.id!, record)
      const again = new OAuthToken({
        userSignature: new UserSignature('ada@example.com'),
        refreshToken: '1000.r.ada',
        accessToken: '1000.a.new',
      })
      await store.saveToken(again)
      expect(again.id).toBe(token.id)
      await admin().query(
        `UPDATE "${table}" SET access_token = $1, expiry_time = $2 WHERE user_name = $3`,
        ['1000.a.theirs', '1900000000001', 'ada@example.com'],
      )
      expect((await store.findHealth([token.id!])).get(token.id!)).toBe(record)
    } finally {
      await store.close()
    }
  })

  for (const kind of ['a role that does not own the table', 'a read-only session'] as const) {
    it(`${kind}: nothing added, no health kept, budgets in the process`, async () => {
      const table = newTable()
      const writer = new PostgresStore({ connectionString: PG_URL, table })
      await writer.saveToken(
        new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
      )
      await writer.close()
      // A table as the previous version of the store left it.
      await admin().query(`ALTER TABLE "${table}" DROP COLUMN tk_health`)
      await admin().query(`DROP TABLE "${table}_budget"`)
      const role = `tk_health_${process.pid}`
      let pool: pg.Pool
      if (kind === 'a read-only session') {
        pool = new pg.Pool({
          connectionString: PG_URL,
          max: 2,
          options: '-c default_transaction_read_only=on',
        })
      } else {
        await admin().query(`DROP ROLE IF EXISTS ${role}`)
        await admin().query(`CREATE ROLE ${role} LOGIN`)
        await admin().query(`GRANT SELECT, INSERT, UPDATE, DELETE ON "${table}" TO ${role}`)
        const url = new URL(PG_URL)
        url.username = role
        pool = new pg.Pool({ connectionString: url.toString(), max: 2 })
      }
      const user = new PostgresStore({ pool, table })
      try {
        await user.saveHealth('1', '{"v":1}')
        expect(await user.findHealth(['1'])).toEqual(new Map())
        const budget = { limit: 2, windowMs: 1000 }
        const answers = []
        for (let i = 0; i < 3; i += 1) answers.push((await user.takeBudget('k', budget, 5)).granted)
        expect(answers).toEqual([true, true, false])
        expect(await added(table)).toEqual({ column: false, budgets: false })
      } finally {
        await user.close()
        await pool.end()
        if (kind !== 'a read-only session') {
          await admin().query(`REVOKE ALL ON "${table}" FROM ${role}`)
          await admin().query(`DROP ROLE IF EXISTS ${role}`)
        }
      }
    })
  }
})
