// DBStore keeps each token's health in its row (an invisible tk_health column) and counts
// budgets in a table beside it: the published suites with a second store on the same table, the
// official SDK's save of the same user keeping the column, and a user that may not change the
// table: nothing added, no health kept, budgets in the process.
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { encodeHealth } from '../../../src/health.ts'
import { DBStore } from '../../../src/stores/mysql.ts'
import { budgetConformance, healthConformance } from '../../../src/testing/index.ts'
import { officialSdk } from '../../../bench/official-sdk.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const DATABASE = 'tokenkeeper_test'
const URL_BASE = `${SERVICES.mariadb.url}/${DATABASE}`

let counter = 0
const tables: string[] = []
const newTable = (): string => {
  const table = `tk_health_${process.pid}_${++counter}`
  tables.push(table)
  return table
}

await describeWithService('mariadb', 'DBStore health and budgets (MariaDB)', () => {
  let admin: mysql.Connection
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    for (const table of tables) {
      await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_budget\``)
    }
    await admin.end()
  })

  const create = () => new DBStore({ url: URL_BASE, table: newTable() })
  const share = (store: object) => new DBStore({ url: URL_BASE, table: (store as DBStore).table })
  for (const t of healthConformance({ create, share })) it(t.name, t.run)
  for (const t of budgetConformance({ create, share })) it(t.name, t.run)

  it("the official SDK's save of the same user keeps the record; select * does not show it", async () => {
    const table = newTable()
    const ours = new DBStore({ url: URL_BASE, table })
    try {
      const token = new OAuthToken({
        userSignature: new UserSignature('ada@example.com'),
        clientId: '1000.C',
        clientSecret: 's',
        refreshToken: '1000.r.ada',
        accessToken: '1000.a.ada',
        expiryTime: 1_900_000_000_000,
      })
      await ours.saveToken(token)
      const record = encodeHealth(token, { state: 'failing', attempts: 2, since: 7 })
      await ours.saveHealth(token.id!, record)
      const builder = new officialSdk.DBBuilder()
      builder.host(SERVICES.mariadb.host)
      builder.portNumber(SERVICES.mariadb.port)
      builder.databaseName(DATABASE)
      builder.tableName(table)
      builder.userName('root')
      builder.password('')
      const official = builder.build()
      const found = (await official.findToken(
        (() => {
          const b = new officialSdk.OAuthBuilder()
          b.clientId('1000.C')
          b.clientSecret('s')
          b.refreshToken('1000.r.ada')
          b.userSignature(new officialSdk.UserSignature('ada@example.com'))
          return b.build()
        })(),
      ))!
      found.setAccessToken('1000.a.theirs')
      await official.saveToken(found)
      // Ours too: a token of the same user with no id is found by its user name, then updated.
      const again = new OAuthToken({
        userSignature: new UserSignature('ada@example.com'),
        refreshToken: '1000.r.ada',
        accessToken: '1000.a.ours-again',
      })
      await ours.saveToken(again)
      expect(again.id).toBe(token.id)
      expect((await ours.findHealth([token.id!])).get(token.id!)).toBe(record)
      const [rows] = await admin.query({ sql: `select * from \`${table}\``, rowsAsArray: true })
      // Invisible: the official columns (and the visible hash columns) as before, not the record.
      expect((rows as unknown[][])[0]).not.toContain(record)
    } finally {
      await ours.close()
    }
  })

  it('a user that may not change the table: nothing added, no health kept, budgets in the process', async () => {
    const table = newTable()
    const writer = new DBStore({ url: URL_BASE, table })
    await writer.saveToken(new OAuthToken({ userSignature: new UserSignature('ada@example.com') }))
    await writer.close()
    // A table as the previous version of the store left it.
    await admin.query(`ALTER TABLE \`${table}\` DROP COLUMN tk_health`)
    await admin.query(`DROP TABLE \`${table}_budget\``)
    const user = `tk_health_${process.pid}`
    await admin.query(`CREATE USER IF NOT EXISTS '${user}'@'127.0.0.1' IDENTIFIED BY 'health-pw'`)
    await admin.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON ${DATABASE}.\`${table}\` TO '${user}'@'127.0.0.1'`,
    )
    const url = new URL(URL_BASE)
    url.username = user
    url.password = 'health-pw'
    const reader = new DBStore({ url: url.toString(), table })
    try {
      await reader.saveHealth('1', '{"v":1}')
      expect(await reader.findHealth(['1'])).toEqual(new Map())
      const budget = { limit: 2, windowMs: 1000 }
      const answers = []
      for (let i = 0; i < 3; i += 1) answers.push((await reader.takeBudget('k', budget, 5)).granted)
      expect(answers).toEqual([true, true, false])
      const [found] = (await admin.query(
        'SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ' +
          "AND (TABLE_NAME = ? AND COLUMN_NAME = 'tk_health' OR TABLE_NAME = ?)",
        [table, `${table}_budget`],
      )) as unknown as [unknown[]]
      expect(found).toEqual([])
    } finally {
      await reader.close()
      await admin.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'`)
    }
  })
})
