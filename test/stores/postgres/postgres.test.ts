import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { OAuthToken, TokenStoreError, UserSignature } from '../../../src/index.ts'
import { PostgresStore, type PostgresStoreOptions } from '../../../src/stores/postgres.ts'
import { tokenStoreConformance, type RawRow } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const PG_URL = SERVICES.postgres.url
const CHILD = fileURLToPath(new URL('../../children/postgres-no-driver.ts', import.meta.url))

/** The official SDKs' table as a PostgreSQL user would have made it: no indexes, no api_domain. */
function legacyTableSql(table: string): string {
  return (
    `CREATE TABLE "${table}" (id varchar(10) NOT NULL, user_name varchar(255), ` +
    'client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), ' +
    'access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), ' +
    'redirect_url varchar(255), primary key (id))'
  )
}

let serial = 0
const tables = new Set<string>()

/** A table name of this test run, dropped after it. */
function newTable(): string {
  serial += 1
  const table = `tk_${process.pid}_${serial}`
  tables.add(table)
  return table
}

/** An application_name of this test run, to find a store's connections in pg_stat_activity. */
function newApp(): string {
  serial += 1
  return `tk_test_${process.pid}_${serial}`
}

let adminPool: pg.Pool | undefined
/** A pool of the test's own, beside the stores', for raw reads and for killing connections. */
function admin(): pg.Pool {
  adminPool ??= new pg.Pool({ connectionString: PG_URL, max: 4 })
  return adminPool
}

function open(options: Partial<PostgresStoreOptions> = {}): PostgresStore {
  return new PostgresStore({
    connectionString: PG_URL,
    table: newTable(),
    applicationName: newApp(),
    ...options,
  })
}

async function readRaw(table: string): Promise<RawRow[]> {
  return (await admin().query<RawRow>(`SELECT * FROM "${table}" ORDER BY id`)).rows
}

async function count(table: string): Promise<number> {
  const { rows } = await admin().query<{ n: string }>(`SELECT count(*) AS n FROM "${table}"`)
  return Number(rows[0]!.n)
}

/** Ends every server connection of an application name, as an administrator or a restart would. */
async function terminate(applicationName: string): Promise<number> {
  const { rows } = await admin().query<{ ok: boolean }>(
    'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  )
  return rows.filter((row) => row.ok).length
}

async function connections(applicationName: string): Promise<number> {
  const { rows } = await admin().query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  )
  return Number(rows[0]!.n)
}

async function indexesOf(table: string): Promise<{ name: string; unique: boolean; def: string }[]> {
  const { rows } = await admin().query<{ name: string; unique: boolean; def: string }>(
    'SELECT c.relname AS name, i.indisunique AS unique, pg_get_indexdef(i.indexrelid) AS def ' +
      'FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid ' +
      'WHERE i.indrelid = to_regclass($1) ORDER BY c.relname',
    [`"${table}"`],
  )
  return rows
}

async function columnTypes(table: string): Promise<Record<string, string>> {
  const { rows } = await admin().query<{ name: string; type: string }>(
    'SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute ' +
      'WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped',
    [`"${table}"`],
  )
  return Object.fromEntries(rows.map((row) => [row.name, row.type]))
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function user(name: string, extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {}) {
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.client',
    clientSecret: 'client-secret',
    refreshToken: `1000.refresh.${name}`,
    accessToken: `1000.access.${name}.${Math.random()}`,
    expiryTime: 1_900_000_000_000,
    ...extra,
  })
}

function byName(name: string): OAuthToken {
  return new OAuthToken({ userSignature: new UserSignature(name) })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

await describeWithService('postgres', 'PostgresStore', () => {
  afterAll(async () => {
    for (const table of tables)
      await admin().query(`DROP TABLE IF EXISTS "${table}", "${budgetTable(table)}"`)
    await adminPool?.end()
  })

  for (const t of tokenStoreConformance({
    create: () => open(),
    reopen: (store) => open({ table: (store as PostgresStore).table }),
    readRaw: (store) => readRaw((store as PostgresStore).table),
    createBroken: async () =>
      new PostgresStore({
        connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/postgres`,
        connectTimeoutMs: 1000,
      }),
  })) {
    it(`conformance: ${t.name}`, t.run)
  }

  it('creates a table with the official columns, wide text columns and md5 lookup indexes', async () => {
    const store = open()
    try {
      await store.getTokens()
      expect(await columnTypes(store.table)).toEqual({
        id: 'character varying(10)',
        user_name: 'text',
        client_id: 'text',
        client_secret: 'text',
        refresh_token: 'text',
        access_token: 'text',
        grant_token: 'text',
        expiry_time: 'character varying(20)',
        redirect_url: 'text',
        api_domain: 'text',
        // Tokenkeeper's own: each token's health record, which the official SDKs never name.
        tk_health: 'character varying(200)',
      })
      const indexes = await indexesOf(store.table)
      expect(indexes.map((i) => [i.name, i.unique])).toEqual([
        [`${store.table}_access_token_md5_idx`, false],
        [`${store.table}_expiry_idx`, false],
        [`${store.table}_grant_token_md5_idx`, false],
        [`${store.table}_id_number_idx`, false],
        [`${store.table}_pkey`, true],
        [`${store.table}_refresh_token_md5_idx`, false],
        [`${store.table}_user_name_md5_idx`, true],
      ])
      expect(indexes.find((i) => i.name.endsWith('_user_name_md5_idx'))!.def).toMatch(
        /md5\(user_name\)/,
      )
    } finally {
      await store.close()
    }
  })

  it('works in place on a legacy official table, and changes it only by adding', async () => {
    const table = newTable()
    await admin().query(legacyTableSql(table))
    await admin().query(
      `INSERT INTO "${table}" (id, user_name, client_id, client_secret, refresh_token, ` +
        'access_token, grant_token, expiry_time, redirect_url) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [
        '1',
        'ada@example.com',
        '1000.C',
        'sec',
        '1000.r',
        '1000.a',
        '1000.g',
        '1732000000000',
        'https://x/cb',
      ],
    )
    const before = await columnTypes(table)
    const store = open({ table })
    try {
      const ada = await store.findToken(byName('ada@example.com'))
      expect(ada).toMatchObject({ id: '1', refreshToken: '1000.r', expiryTime: 1732000000000 })
      expect(ada!.apiDomain).toBeUndefined()
      const bob = user('bob@example.com', { apiDomain: 'https://www.zohoapis.eu' })
      await store.saveToken(bob)
      ada!.apiDomain = 'https://www.zohoapis.com.au'
      await store.saveToken(ada!)
      expect((await store.findTokenById('1'))?.apiDomain).toBe('https://www.zohoapis.com.au')
    } finally {
      await store.close()
    }
    // Every existing column keeps its type; api_domain and the health column are the ones added.
    expect(await columnTypes(table)).toEqual({
      ...before,
      api_domain: 'text',
      tk_health: 'character varying(200)',
    })
    expect((await indexesOf(table)).map((i) => [i.name, i.unique])).toEqual([
      [`${table}_access_token_md5_idx`, false],
      [`${table}_expiry_idx`, false],
      [`${table}_grant_token_md5_idx`, false],
      [`${table}_id_number_idx`, false],
      [`${table}_pkey`, true],
      [`${table}_refresh_token_md5_idx`, false],
      [`${table}_user_name_md5_idx`, true],
    ])
    // The official SDKs' own reads keep working: plain text columns.
    const { rows } = await admin().query(`SELECT * FROM "${table}" WHERE user_name = $1`, [
      'bob@example.com',
    ])
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ client_secret: 'client-secret', expiry_time: '1900000000000' })
    expect(await count(table)).toBe(2)
  })

  it('refuses a value too long for a legacy varchar(255) column, naming it, and writes nothing', async () => {
    const table = newTable()
    await admin().query(legacyTableSql(table))
    const store = open({ table })
    try {
      const ada = user('ada@example.com')
      await store.saveToken(ada)
      const rowBefore = await readRaw(table)
      const secret = `1000.${'s'.repeat(300)}`
      const tooLong = user('ada@example.com', { accessToken: secret })
      const error = await store.saveToken(tooLong).catch((err: unknown) => err)
      expect(error).toBeInstanceOf(TokenStoreError)
      expect(error).toMatchObject({
        code: 'TOKEN_STORE',
        store: 'PostgresStore',
        operation: 'saveToken',
      })
      const message = (error as Error).message
      expect(message).toMatch(/access_token/)
      expect(message).toMatch(/255/)
      expect(message).toMatch(/nothing was written/)
      expect(message).not.toContain('sss')
      // PostgreSQL itself would cut trailing spaces silently: refused too.
      const spaces = user('carol@example.com', {
        refreshToken: `${'r'.repeat(250)}${' '.repeat(20)}`,
      })
      await expect(store.saveToken(spaces)).rejects.toThrow(/refresh_token/)
      // A new user's 300-character name is refused as well; an id longer than 10 too.
      await expect(store.saveToken(user('n'.repeat(300)))).rejects.toThrow(/user_name/)
      await expect(
        store.saveToken(user('dan@example.com', { id: 'x'.repeat(11) })),
      ).rejects.toThrow(/\bid\b/)
      expect(await readRaw(table)).toEqual(rowBefore)
      // Code points, as PostgreSQL counts: 255 emoji fit.
      const wide = user('emoji@example.com', { accessToken: '🔑'.repeat(255) })
      await store.saveToken(wide)
      expect((await store.findTokenById(wide.id!))?.accessToken).toBe('🔑'.repeat(255))
    } finally {
      await store.close()
    }
  })

  it('stores 4 KB user names and tokens on a table it created, and finds them by each key', async () => {
    const store = open()
    try {
      const names = ['a', 'b', 'c'].map((tail) => `${'u'.repeat(4096)}${tail}@example.com`)
      const saved = names.map((name) =>
        user(name, {
          accessToken: `${'a'.repeat(4096)}${name.slice(-13)}`,
          refreshToken: `${'r'.repeat(4096)}${name.slice(-13)}`,
          grantToken: `${'g'.repeat(4096)}${name.slice(-13)}`,
        }),
      )
      for (const token of saved) await store.saveToken(token)
      for (const token of saved) {
        expect((await store.findToken(byName(token.userSignature!.name)))?.id).toBe(token.id)
        expect(
          (await store.findToken(new OAuthToken({ accessToken: token.accessToken })))?.id,
        ).toBe(token.id)
        const client = { clientId: 'c', clientSecret: 's' }
        expect(
          (await store.findToken(new OAuthToken({ ...client, grantToken: token.grantToken })))?.id,
        ).toBe(token.id)
        expect(
          (await store.findToken(new OAuthToken({ ...client, refreshToken: token.refreshToken })))
            ?.id,
        ).toBe(token.id)
      }
      const again = user(names[1]!)
      await store.saveToken(again)
      expect(again.id).toBe(saved[1]!.id)
      expect(await count(store.table)).toBe(3)
    } finally {
      await store.close()
    }
  })

  // The look-up rate lives in the benchmark (npm run bench: "PostgresStore findToken, 100,000
  // tokens", 1 and 32 callers, in bench/results.md); here, what makes it: every look-up the
  // store sends, alone or batched, is planned on its md5 index, never a scan of the table.
  it('answers look-ups through the indexes on a large table: the plan of every statement sent', async () => {
    const table = newTable()
    const seen: [string, unknown[]][] = []
    const pool = new pg.Pool({ connectionString: PG_URL, max: 10 })
    const query = pool.query.bind(pool) as (config: unknown, values?: unknown) => unknown
    ;(pool as unknown as { query: typeof query }).query = (config, values) => {
      if (typeof config === 'object' && config !== null && 'text' in config) {
        const { text, values: bound } = config as { text: string; values?: unknown[] }
        seen.push([text, bound ?? []])
      }
      return query(config, values)
    }
    const store = new PostgresStore({ pool, table })
    try {
      await store.getTokens()
      const n = 50_000
      await admin().query(
        `INSERT INTO "${table}" (id, user_name, client_id, client_secret, refresh_token, ` +
          'access_token, grant_token, expiry_time) SELECT lpad(g::text, 10, $1), ' +
          "'user' || g || '@example.com', 'c', 's', 'refresh.' || g, 'access.' || g, " +
          "'grant.' || g, '1900000000000' FROM generate_series(1, $2::int) g",
        ['0', n],
      )
      await admin().query(`ANALYZE "${table}"`)
      const probes = [
        (i: number) => byName(`user${i}@example.com`),
        (i: number) => new OAuthToken({ accessToken: `access.${i}` }),
        (i: number) =>
          new OAuthToken({ clientId: 'c', clientSecret: 's', grantToken: `grant.${i}` }),
        (i: number) =>
          new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: `refresh.${i}` }),
      ]
      seen.length = 0
      // One at a time (one value per statement), then together (batched: many values in one).
      for (const [k, probe] of probes.entries()) {
        expect((await store.findToken(probe(1000 + k)))?.id).toBe(
          String(1000 + k).padStart(10, '0'),
        )
      }
      const together = await Promise.all(
        probes.flatMap((probe, k) => [1, 2, 3].map((j) => store.findToken(probe(k * 10_000 + j)))),
      )
      expect(together.every((token) => token !== null)).toBe(true)
      const statements = new Map(seen.map(([sql, values]) => [sql, values]))
      // Each look-up column, alone and batched: 8 statements at least.
      expect(statements.size).toBeGreaterThanOrEqual(8)
      const columns = ['user_name', 'access_token', 'grant_token', 'refresh_token']
      for (const column of columns) {
        const mine = [...statements.keys()].filter((sql) => sql.includes(`md5(${column})`))
        expect(mine.length, column).toBeGreaterThanOrEqual(2)
      }
      for (const [sql, values] of statements) {
        const { rows } = await admin().query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)
        const plan = rows.map((row) => row['QUERY PLAN']).join('\n')
        // Alone an Index Scan, batched a Bitmap Index Scan: on the md5 index of its column.
        const column = columns.find((c) => sql.includes(`md5(${c})`))
        expect(plan, sql).toMatch(
          new RegExp(`Index Scan (using|on) "?${table}_${column}_md5_idx"?`),
        )
        expect(plan, sql).not.toMatch(/Seq Scan/)
      }
    } finally {
      await store.close()
      await pool.end()
    }
  })

  it('saves of one new user from 10 store instances at once leave one row, and none fails', async () => {
    const table = newTable()
    const stores = Array.from({ length: 10 }, () => open({ table, poolSize: 3 }))
    try {
      await stores[0]!.getTokens()
      for (let round = 0; round < 3; round += 1) {
        const name = `race${round}@example.com`
        const tokens = stores.flatMap((store) =>
          Array.from({ length: 3 }, () => ({ store, token: user(name) })),
        )
        await Promise.all(tokens.map(({ store, token }) => store.saveToken(token)))
        const { rows } = await admin().query<{ id: string }>(
          `SELECT id FROM "${table}" WHERE user_name = $1`,
          [name],
        )
        expect(rows).toHaveLength(1)
        expect(new Set(tokens.map(({ token }) => token.id))).toEqual(new Set([rows[0]!.id]))
      }
      // Different users at once never fail either.
      await Promise.all(
        stores.flatMap((store, s) =>
          Array.from({ length: 10 }, (_, i) => store.saveToken(user(`many${s}.${i}@example.com`))),
        ),
      )
      expect(await count(table)).toBe(103)
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })

  it('several stores opening a new table at once create it once', async () => {
    const table = newTable()
    const stores = Array.from({ length: 8 }, () => open({ table, poolSize: 1 }))
    try {
      await Promise.all(stores.map((store, i) => store.saveToken(user(`opener${i}@example.com`))))
      expect(await count(table)).toBe(8)
      expect(await indexesOf(table)).toHaveLength(7)
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })

  it('keeps working on a legacy table that already holds a user twice, and never adds a third', async () => {
    const table = newTable()
    await admin().query(legacyTableSql(table))
    await admin().query(
      `INSERT INTO "${table}" (id, user_name, access_token) VALUES ('1', 'twice@example.com', 'a1'), ('2', 'twice@example.com', 'a2')`,
    )
    const stores = Array.from({ length: 4 }, () => open({ table }))
    try {
      const found = await stores[0]!.findToken(byName('twice@example.com'))
      expect(['1', '2']).toContain(found?.id)
      expect(
        (await indexesOf(table)).find((i) => i.name.endsWith('_user_name_md5_idx'))?.unique,
      ).toBe(false)
      await Promise.all(
        stores.flatMap((store) =>
          Array.from({ length: 5 }, () => store.saveToken(user('twice@example.com'))),
        ),
      )
      expect(await count(table)).toBe(2)
      // Without a unique index, a new user is still never stored twice.
      await Promise.all(
        stores.flatMap((store) =>
          Array.from({ length: 5 }, () => store.saveToken(user('once@example.com'))),
        ),
      )
      expect(await count(table)).toBe(3)
    } finally {
      await Promise.all(stores.map((store) => store.close()))
    }
  })

  it('serves 50 concurrent operations with a pool of 2', async () => {
    const applicationName = newApp()
    const store = open({ poolSize: 2, applicationName })
    try {
      let peak = 0
      const watch = setInterval(() => {
        void connections(applicationName).then((n) => (peak = Math.max(peak, n)))
      }, 5)
      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const token = user(`pool${i % 25}@example.com`)
          await store.saveToken(token)
          return store.findToken(byName(token.userSignature!.name))
        }),
      )
      clearInterval(watch)
      expect(results.every((token) => token !== null)).toBe(true)
      expect(await count(store.table)).toBe(25)
      expect(peak).toBeLessThanOrEqual(2)
      expect(await connections(applicationName)).toBeLessThanOrEqual(2)
    } finally {
      await store.close()
    }
  })

  it('says the pool was busy, not that the server is unreachable, when no connection frees up', async () => {
    // The only connection is held by a token lease (a session lock holds its connection).
    const store = open({ poolSize: 1, connectTimeoutMs: 300 })
    try {
      await store.saveToken(user('busy@example.com'))
      const lock = await store.lockToken('0123456789')
      try {
        const error = await store.findToken(byName('busy@example.com')).catch((err: unknown) => err)
        expect(error).toMatchObject({ code: 'TOKEN_STORE', operation: 'findToken' })
        const message = (error as Error).message
        expect(message).toMatch(/the pool's only connection was in use/)
        expect(message).toMatch(/poolSize/)
        expect(message).not.toMatch(/cannot connect to the PostgreSQL server/)
      } finally {
        await lock.release()
      }
      expect(await store.findToken(byName('busy@example.com'))).not.toBeNull()
    } finally {
      await store.close()
    }
  })

  it('recovers when the server ends its connections, and loses nothing', async () => {
    const applicationName = newApp()
    const store = open({ poolSize: 4, applicationName })
    try {
      const tokens = Array.from({ length: 20 }, (_, i) => user(`kill${i}@example.com`))
      await Promise.all(tokens.map((token) => store.saveToken(token)))
      expect(await terminate(applicationName)).toBeGreaterThan(0)
      expect((await store.getTokens()).length).toBe(20)
      const late = user('late@example.com')
      await store.saveToken(late)
      expect((await store.findToken(byName('late@example.com')))?.id).toBe(late.id)

      // Ended again while look-ups are in flight: they are served on new connections.
      const reads = Promise.all(
        Array.from({ length: 200 }, (_, i) => store.findToken(byName(`kill${i % 20}@example.com`))),
      )
      await sleep(2)
      await terminate(applicationName)
      expect((await reads).every((token) => token !== null)).toBe(true)
      await terminate(applicationName)
      for (const token of tokens) {
        expect((await store.findTokenById(token.id!))?.accessToken).toBe(token.accessToken)
      }
      expect(await count(store.table)).toBe(21)
    } finally {
      await store.close()
    }
  })

  it('uses a given pg.Pool and leaves it open on close', async () => {
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 })
    try {
      const store = new PostgresStore({ pool, table: newTable() })
      expect(store.pool).toBe(pool)
      await store.saveToken(user('ada@example.com'))
      expect(await store.getTokens()).toHaveLength(1)
      await store.close()
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1)
    } finally {
      await pool.end()
    }
  })

  it('locks a token exclusively across stores until release', async () => {
    const table = newTable()
    const a = open({ table })
    const b = open({ table })
    const other = open()
    try {
      const lock = await a.lockToken('abcdefghij')
      const started = Date.now()
      const error = await b.lockToken('abcdefghij', { timeoutMs: 300 }).catch((err: unknown) => err)
      expect(Date.now() - started).toBeGreaterThanOrEqual(250)
      expect(error).toBeInstanceOf(TokenStoreError)
      expect(error).toMatchObject({
        code: 'TOKEN_STORE',
        store: 'PostgresStore',
        operation: 'lock',
      })
      await expect(b.lockToken('abcdefghij', { timeoutMs: 0 })).rejects.toMatchObject({
        operation: 'lock',
      })
      // Two locks of one store exclude each other too.
      await expect(a.lockToken('abcdefghij', { timeoutMs: 100 })).rejects.toMatchObject({
        operation: 'lock',
      })
      // Another id, or the same id in another table, is another lock.
      await (await b.lockToken('0123456789', { timeoutMs: 1000 })).release()
      await (await other.lockToken('abcdefghij', { timeoutMs: 1000 })).release()

      // A waiter gets the lock once the holder releases it, and not before: within its own
      // timeout (it would be refused after it), without a clock of the test's.
      let released = false
      const waiting = b.lockToken('abcdefghij', { timeoutMs: 30_000 }).then((taken) => {
        expect(released).toBe(true)
        return taken
      })
      await sleep(200)
      released = true
      await lock.release()
      await lock.release()
      const second = await waiting
      await second.release()
      await (await a.lockToken('abcdefghij', { timeoutMs: 1000 })).release()
    } finally {
      await Promise.all([a.close(), b.close(), other.close()])
    }
  })

  it('frees a lock when the holder’s connection ends, and when the holder closes', async () => {
    const table = newTable()
    const applicationName = newApp()
    const holder = open({ table, applicationName })
    const waiter = open({ table })
    try {
      const lock = await holder.lockToken('abcdefghij')
      await expect(waiter.lockToken('abcdefghij', { timeoutMs: 100 })).rejects.toMatchObject({
        operation: 'lock',
      })
      const waiting = waiter.lockToken('abcdefghij', { timeoutMs: 5000 })
      await sleep(50)
      expect(await terminate(applicationName)).toBeGreaterThan(0)
      const taken = await waiting
      await lock.release() // the connection is gone: nothing to do, and no error
      await holder.saveToken(user('ada@example.com')) // the holder's store still works
      await taken.release()

      await holder.lockToken('0123456789')
      await holder.close() // a lock still held is released
      await (await waiter.lockToken('0123456789', { timeoutMs: 1000 })).release()
    } finally {
      await Promise.all([holder.close(), waiter.close()])
    }
  })

  it('gives a connection error without the password and with the operation', async () => {
    const store = new PostgresStore({
      connectionString: `postgres://postgres:hunter2-secret@127.0.0.1:${await closedPort()}/postgres`,
      connectTimeoutMs: 1000,
    })
    try {
      const error = await store.findTokenById('0123456789').catch((err: unknown) => err)
      expect(error).toMatchObject({ code: 'TOKEN_STORE', operation: 'findTokenById' })
      expect((error as Error).message).toMatch(/connection refused/)
      expect(`${(error as Error).message} ${String((error as Error).cause)}`).not.toContain(
        'hunter2',
      )
      await expect(store.lockToken('abcdefghij', { timeoutMs: 500 })).rejects.toMatchObject({
        operation: 'lock',
      })
    } finally {
      await store.close()
    }
  })

  it('rejects bad options', () => {
    expect(() => open({ table: 'oauthtoken; DROP TABLE x' })).toThrow(/plain SQL identifier/)
    expect(() => new PostgresStore({})).toThrow(/exactly one of connectionString and pool/)
    expect(() => open({ poolSize: 0 })).toThrow(/poolSize/)
    expect(
      () => new PostgresStore({ connectionString: PG_URL, encryption: {} } as PostgresStoreOptions),
    ).toThrow(/encryption/)
  })

  it('says clearly when the pg package is not installed', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD], { encoding: 'utf8' })
    expect(child.stderr).toBe('')
    expect(JSON.parse(child.stdout)).toEqual({
      code: 'TOKEN_STORE',
      operation: 'open',
      message: 'PostgresStore.open: the pg package is not installed; run `npm install pg`',
    })
  })
})
