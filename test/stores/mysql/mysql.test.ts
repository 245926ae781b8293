import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { COLUMNS } from '../../../src/store/rows.ts'
import { DBStore } from '../../../src/stores/mysql.ts'
import { tokenStoreConformance, type RawRow } from '../../../src/testing/index.ts'
import { describeWithService, SERVICES } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('../../children/mysql-save-many.ts', import.meta.url))
const DATABASE = 'tokenkeeper_test'
const URL_BASE = `${SERVICES.mariadb.url}/${DATABASE}`
let counter = 0
const newTable = () => `tk_${process.pid}_${++counter}`

await describeWithService('mariadb', 'DBStore (MariaDB)', () => {
  let admin: mysql.Connection
  const tables: string[] = []
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    for (const table of tables) {
      await admin.query(
        `DROP TABLE IF EXISTS \`${table}\`, \`${table}_ready\`, \`${budgetTable(table)}\``,
      )
    }
    await admin.end()
  })
  const store = (
    table = newTable(),
    extra: Partial<ConstructorParameters<typeof DBStore>[0]> = {},
  ) => {
    tables.push(table)
    return new DBStore({ url: URL_BASE, table, ...extra })
  }
  const readRaw = async (table: string): Promise<RawRow[]> => {
    const [rows] = await admin.query(
      `SELECT id, user_name, client_id, client_secret, refresh_token, access_token, grant_token, expiry_time, redirect_url, api_domain FROM \`${table}\``,
    )
    return rows as RawRow[]
  }

  for (const t of tokenStoreConformance({
    create: () => store(),
    reopen: (s) => new DBStore({ url: URL_BASE, table: (s as DBStore).table }),
    readRaw: (s) => readRaw((s as DBStore).table),
    createBroken: () =>
      new DBStore({
        url: 'mysql://root@127.0.0.1:1/nowhere',
        connectTimeoutMs: 300,
        reconnectTimeoutMs: 0,
      }),
  })) {
    it(t.name, t.run)
  }

  it('creates the database and the table when they are missing', async () => {
    const database = `tokenkeeper_new_${process.pid}`
    await admin.query(`DROP DATABASE IF EXISTS ${database}`)
    const fresh = new DBStore({ host: '127.0.0.1', user: 'root', database })
    try {
      await fresh.saveToken(
        new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          accessToken: 'a',
        }),
      )
      const [rows] = await admin.query(`SELECT user_name FROM ${database}.oauthtoken`)
      expect(rows).toEqual([{ user_name: 'ada@zylker.example' }])
    } finally {
      await fresh.close()
      await admin.query(`DROP DATABASE IF EXISTS ${database}`)
    }
  })

  it('works in place on an official SDK table, with additive changes only, and the official SQL keeps working', async () => {
    const table = newTable()
    tables.push(table)
    // The table the official SDKs' README asks users to create: varchar(255), no indexes.
    await admin.query(
      `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255) NOT NULL, client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), primary key (id))`,
    )
    // Rows the official store wrote: max(id) + 1 ids, expiry as text.
    await admin.query(
      `INSERT INTO \`${table}\` VALUES ('1','ada@zylker.example','1000.C','s','1000.r1','1000.a1',NULL,'1732000000000',NULL), ('2','bob@zylker.example','1000.C','s','1000.r2','1000.a2',NULL,'1732000000001',NULL)`,
    )
    const ours = new DBStore({ url: URL_BASE, table })
    const ada = await ours.findToken(
      new OAuthToken({ userSignature: new UserSignature('ada@zylker.example') }),
    )
    expect(ada).toMatchObject({ id: '1', refreshToken: '1000.r1', expiryTime: 1732000000000 })
    expect(
      (
        await ours.findToken(
          new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: '1000.r2' }),
        )
      )?.id,
    ).toBe('2')
    const carol = new OAuthToken({
      userSignature: new UserSignature('carol@zylker.example'),
      refreshToken: '1000.r3',
      clientId: 'c',
      clientSecret: 's',
      apiDomain: 'https://www.zohoapis.eu',
    })
    await ours.saveToken(carol)
    expect(carol.id).toBe('3') // the official numbering goes on
    // What was there is unchanged; what was added is columns and indexes.
    const [columns] = await admin.query(
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [DATABASE, table],
    )
    expect(columns).toEqual(
      expect.arrayContaining([
        { c: 'user_name', t: 'varchar(255)' },
        { c: 'access_token', t: 'varchar(255)' },
        { c: 'api_domain', t: 'varchar(255)' },
        { c: 'user_name_sha256', t: 'binary(32)' },
      ]),
    )
    // The official store's own statements still run: its select *, its max(id) + 1 and its INSERT.
    const [all, fields] = await admin.query(`select * from \`${table}\``)
    expect(fields.slice(0, 10).map((f) => f.name)).toEqual([...COLUMNS])
    expect(fields.map((f) => f.name)).not.toContain('id_number')
    expect(all).toHaveLength(3)
    const [max] = await admin.query(`select max(id) as id from \`${table}\``)
    expect(max).toEqual([{ id: '3' }]) // carol's row, numbered on from the official rows
    const next = String(Number.parseInt((max as { id: string }[])[0]!.id, 10) + 1)
    expect(next).toBe('4')
    await admin.query(
      `insert into \`${table}\` (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values (?,'dave@zylker.example','c','s','r4','a4',NULL,'5',NULL,NULL)`,
      [next],
    )
    expect(
      (
        await ours.findToken(
          new OAuthToken({ userSignature: new UserSignature('dave@zylker.example') }),
        )
      )?.accessToken,
    ).toBe('a4')
    expect(await ours.getTokens()).toHaveLength(4)
    await ours.close()
  })

  it('refuses a value too long for a legacy column, whatever the sql_mode, and writes nothing', async () => {
    const table = newTable()
    tables.push(table)
    await admin.query(
      `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))`,
    )
    const [[{ mode }]] = (await admin.query('SELECT @@GLOBAL.sql_mode AS mode')) as unknown as [
      [{ mode: string }],
    ]
    await admin.query("SET GLOBAL sql_mode = ''") // the most forgiving mode: the server would truncate
    try {
      const ours = new DBStore({ url: URL_BASE, table })
      const long = new OAuthToken({
        userSignature: new UserSignature('ada@zylker.example'),
        accessToken: 'x'.repeat(300),
      })
      await expect(ours.saveToken(long)).rejects.toThrow(
        /access_token value has 300 characters, more than the 255 that column access_token .* holds; nothing was written/,
      )
      expect(await readRaw(table)).toEqual([])
      await ours.close()
    } finally {
      await admin.query('SET GLOBAL sql_mode = ?', [mode])
    }
  })

  it('4 processes saving 250 new users each: 1,000 rows, distinct ids, no error', async () => {
    const table = newTable()
    tables.push(table)
    const prepared = new DBStore({ url: URL_BASE, table })
    await prepared.getTokens() // the table exists before the race starts
    await prepared.close()
    const outputs = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((prefix) =>
        run(process.execPath, ['--import', 'tsx', CHILD, URL_BASE, table, prefix, '250', '4'], {
          maxBuffer: 1 << 24,
        }),
      ),
    )
    const results = outputs.map(
      ({ stdout }) => JSON.parse(stdout) as { ids: string[]; started: number; finished: number },
    )
    const ids = results.flatMap((r) => r.ids)
    expect(ids).toHaveLength(1000)
    expect(new Set(ids).size).toBe(1000)
    for (const r of results)
      for (const other of results) expect(r.started).toBeLessThan(other.finished)
    const rows = await readRaw(table)
    expect(rows).toHaveLength(1000)
    expect(new Set(rows.map((r) => r.user_name)).size).toBe(1000)
  })

  it('keeps one row per user when 10 stores save the same new user at once', async () => {
    const table = newTable()
    const first = store(table)
    await first.getTokens()
    const stores = [
      first,
      ...Array.from({ length: 9 }, () => new DBStore({ url: URL_BASE, table })),
    ]
    await Promise.all(
      stores.map((s, i) =>
        s.saveToken(
          new OAuthToken({
            userSignature: new UserSignature('same@zylker.example'),
            accessToken: `a${i}`,
          }),
        ),
      ),
    )
    expect(await readRaw(table)).toHaveLength(1)
    await Promise.all(stores.map((s) => s.close()))
  })

  it('survives a pool smaller than the callers, and killed connections', async () => {
    const s = store(newTable(), { poolSize: 2 })
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        s.saveToken(
          new OAuthToken({ userSignature: new UserSignature(`u${i}`), accessToken: `a${i}` }),
        ),
      ),
    )
    expect(await s.getTokens()).toHaveLength(50)
    // The server drops every connection of the store, as in a restart.
    const [threads] = await admin.query(
      `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`,
      [DATABASE],
    )
    for (const { id } of threads as { id: number }[])
      await admin.query(`KILL CONNECTION ${id}`).catch(() => undefined)
    const found = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        s.findToken(new OAuthToken({ userSignature: new UserSignature(`u${i}`) })),
      ),
    )
    expect(found.map((t) => t?.accessToken)).toEqual(Array.from({ length: 50 }, (_, i) => `a${i}`))
    await s.saveToken(
      new OAuthToken({ userSignature: new UserSignature('after'), accessToken: 'x' }),
    )
    expect(await s.getTokens()).toHaveLength(51)
    await s.close()
  })

  it('lockToken is exclusive between stores, times out clearly, and is freed when the holder goes', async () => {
    const table = newTable()
    const a = store(table)
    const b = new DBStore({ url: URL_BASE, table })
    const held = await a.lockToken('abcdefghij')
    await expect(b.lockToken('abcdefghij', { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'lock',
    })
    const other = await b.lockToken('klmnopqrst', { timeoutMs: 200 }) // another token is free
    await other.release()
    await held.release()
    const again = await b.lockToken('abcdefghij', { timeoutMs: 200 })
    // A holder that dies (its connection closes) frees the lock.
    await b.close()
    const third = await a.lockToken('abcdefghij', { timeoutMs: 2000 })
    await third.release()
    await again.release().catch(() => undefined)
    await a.close()
  })
})
