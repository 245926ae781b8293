// Every public function rejects bad arguments with a typed error that names the argument.
import { afterAll, describe, expect, it } from 'vitest'
import {
  DataCenter,
  Environment,
  FileStore,
  Initializer,
  ListStore,
  MemoryStore,
  OAuthToken,
  UserSignature,
  createLogger,
  createStore,
  purgeTokens,
  revokeTokens,
} from '../src/index.ts'
import { DBStore } from '../src/stores/mysql.ts'
import { PostgresStore } from '../src/stores/postgres.ts'
import { RedisStore } from '../src/stores/redis.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { TokenStoreError } from '../src/errors.ts'
import { startAccountsEmulator, tokenStoreConformance } from '../src/testing/index.ts'
import { describeWithService, SERVICES } from './helpers/services.ts'

/** Runs `call` and returns the error it threw or rejected with. */
async function failure(
  call: () => unknown,
): Promise<{ code?: string; argument?: string; message: string }> {
  try {
    await call()
  } catch (err) {
    return err as { code?: string; argument?: string; message: string }
  }
  throw new Error('expected a failure')
}

const cases: [string, () => unknown, string][] = [
  [
    'new OAuthToken(options with a number)',
    () => new OAuthToken({ accessToken: 1 as never }),
    'accessToken',
  ],
  ['new OAuthToken(unknown option)', () => new OAuthToken({ token: 'x' } as never), 'token'],
  ['new UserSignature("")', () => new UserSignature(''), 'name'],
  ['new FileStore("")', () => new FileStore(''), 'path'],
  [
    'new FileStore({ lockTimeoutMs: -1 })',
    () => new FileStore({ lockTimeoutMs: -1 }),
    'lockTimeoutMs',
  ],
  ['new SQLiteStore({ table: "x;" })', () => new SQLiteStore({ table: 'x;' }), 'table'],
  [
    'new SQLiteStore({ busyTimeoutMs: "1" })',
    () => new SQLiteStore({ busyTimeoutMs: '1' as never }),
    'busyTimeoutMs',
  ],
  ['new DBStore({ poolSize: 0 })', () => new DBStore({ poolSize: 0 }), 'poolSize'],
  ['new DBStore({ port: 70000 })', () => new DBStore({ port: 70000 }), 'port'],
  ['new PostgresStore({})', () => new PostgresStore({}), 'connectionString'],
  ['new RedisStore({ prefix: 5 })', () => new RedisStore({ prefix: 5 as never }), 'prefix'],
  [
    'new Environment({ apiDomain: "x" })',
    () => new Environment({ name: 'x', apiDomain: 'x', accountsUrl: 'http://a' }),
    'apiDomain',
  ],
  ['createLogger({ level: "loud" })', () => createLogger({ level: 'loud' as never }), 'level'],
  ['createStore("nonsense")', () => createStore('nonsense'), 'url'],
  ['createStore("ftp://x")', () => createStore('ftp://x'), 'url'],
  [
    'createStore("redis://…?cache=maybe")',
    () => createStore('redis://127.0.0.1:6379?cache=maybe'),
    'cache',
  ],
  // A parameter no store or driver reads is refused, not dropped.
  ['createStore("sqlite:…?tabel=")', () => createStore('sqlite::memory:?tabel=t'), 'url'],
  ['createStore("file:…?x=")', () => createStore('file:./tokens.txt?mode=600'), 'url'],
  ['createStore("memory:?x=")', () => createStore('memory:?size=10'), 'url'],
  [
    'createStore("mysql://…?sll=")',
    () => createStore('mysql://root@127.0.0.1/db?sll={"rejectUnauthorized":true}'),
    'url',
  ],
  [
    'createStore("mysql://…?charset=")',
    () => createStore('mysql://root@127.0.0.1/db?charset=latin1'),
    'url',
  ],
  [
    'createStore("mysql://…?connectTimeout=soon")',
    () => createStore('mysql://root@127.0.0.1/db?connectTimeout=soon'),
    'connectTimeout',
  ],
  [
    'createStore("postgres://…?sslmdoe=")',
    () => createStore('postgres://postgres@127.0.0.1/db?sslmdoe=require'),
    'url',
  ],
  [
    'createStore("postgres://…?sslpassword=")',
    () => createStore('postgres://postgres@127.0.0.1/db?sslpassword=x'),
    'url',
  ],
  ['createStore("redis://…?dbb=")', () => createStore('redis://127.0.0.1:6379?dbb=3'), 'url'],
  [
    'createStore("redis://…?commandTimeout=")',
    () => createStore('redis://127.0.0.1:6379?commandTimeout=1'),
    'url',
  ],
  [
    'createStore("sqlite:…?table=a&table=b")',
    () => createStore('sqlite::memory:?table=a&table=b'),
    'url',
  ],
  ['MemoryStore.saveToken({})', () => new MemoryStore().saveToken({} as never), 'token'],
  ['ListStore.findTokenById(1)', () => new ListStore().findTokenById(1 as never), 'id'],
  [
    'FileStore.deleteToken("")',
    () => new FileStore('/tmp/never-written.txt').deleteToken(''),
    'id',
  ],
  [
    'Initializer.initialize({ environment: "US" })',
    () =>
      Initializer.initialize({
        environment: 'US' as never,
        token: new OAuthToken({ accessToken: 'a' }),
      }),
    'environment',
  ],
  [
    'Initializer.initialize({ token: {} })',
    () => Initializer.initialize({ environment: DataCenter.US.PRODUCTION, token: {} as never }),
    'token',
  ],
  [
    'Initializer.initialize({ store: {} })',
    () =>
      Initializer.initialize({
        environment: DataCenter.US.PRODUCTION,
        token: new OAuthToken({ accessToken: 'a' }),
        store: {} as never,
      }),
    'store',
  ],
  [
    'Initializer.initialize({ config: { retries: -1 } })',
    () =>
      Initializer.initialize({
        environment: DataCenter.US.PRODUCTION,
        token: new OAuthToken({ accessToken: 'a' }),
        store: new MemoryStore(),
        config: { retries: -1 },
      }),
    'config.retries',
  ],
  [
    'Initializer.initialize({ config: { typo: 1 } })',
    () =>
      Initializer.initialize({
        environment: DataCenter.US.PRODUCTION,
        token: new OAuthToken({ accessToken: 'a' }),
        store: new MemoryStore(),
        config: { typo: 1 } as never,
      }),
    'config.typo',
  ],
  [
    'Initializer.initialize({ logger: {} })',
    () =>
      Initializer.initialize({
        environment: DataCenter.US.PRODUCTION,
        token: new OAuthToken({ accessToken: 'a' }),
        store: new MemoryStore(),
        logger: {} as never,
      }),
    'logger',
  ],
  ['purgeTokens(store, {})', () => purgeTokens(new MemoryStore(), {}), 'options'],
  [
    'revokeTokens(store, { environment })',
    () => revokeTokens(new MemoryStore(), { environment: DataCenter.US.PRODUCTION }),
    'userName',
  ],
  ['startAccountsEmulator({ port: -1 })', () => startAccountsEmulator({ port: -1 }), 'port'],
  ['tokenStoreConformance({})', () => tokenStoreConformance({} as never), 'options.create'],
  // A misspelt option must be refused, never ignored (it would leave the default in force).
  [
    'new SQLiteStore({ tabel })',
    () => new SQLiteStore({ path: ':memory:', tabel: 'x' } as never),
    'tabel',
  ],
  ['new DBStore({ tabel })', () => new DBStore({ tabel: 'x' } as never), 'tabel'],
  [
    'new PostgresStore({ tabel })',
    () => new PostgresStore({ connectionString: SERVICES.postgres.url, tabel: 'x' } as never),
    'tabel',
  ],
  [
    'new RedisStore({ prefx })',
    () => new RedisStore({ url: SERVICES.redis.url, prefx: 'x' } as never),
    'prefx',
  ],
]

describe('bad arguments', () => {
  for (const [what, call, argument] of cases) {
    it(`${what} → INVALID_ARGUMENT naming ${argument}`, async () => {
      const err = await failure(call)
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.argument).toBe(argument)
      expect(err.message.length).toBeGreaterThan(10)
    })
  }

  it('session methods check theirs too', async () => {
    const session = await Initializer.initialize({
      environment: DataCenter.US.PRODUCTION,
      token: new OAuthToken({ accessToken: 'a', userSignature: new UserSignature('ada') }),
      store: new MemoryStore(),
    })
    expect(await failure(() => session.fetch(''))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'path',
    })
    expect(await failure(() => session.fetch('https://elsewhere.example/steal'))).toMatchObject({
      argument: 'path',
    })
    expect(await failure(() => session.switchUser('bob' as never))).toMatchObject({
      argument: 'token',
    })
  })
})

describe('createStore: the URL parameters reach the driver, or are refused', () => {
  it('a refusal names the parameter and what is taken, never the value', async () => {
    const err = await failure(() =>
      createStore('mysql://root@127.0.0.1/db?passwd=Hunter2-Secret&table=t'),
    )
    expect(err.message).toContain("'passwd'")
    expect(err.message).toContain('ssl')
    expect(err.message).not.toContain('Hunter2')
    expect((await failure(() => createStore('mysql://h/d?charset=latin1'))).message).toMatch(
      /charset.*utf8mb4/,
    )
    expect((await failure(() => createStore('file:./a?b.txt'))).message).toMatch(/takes none/)
  })
})

await describeWithService('mariadb', 'createStore: MySQL parameters', () => {
  const base = `${SERVICES.mariadb.url}/tokenkeeper_test`
  const poolTable = `tk_args_pool_${process.pid}`
  afterAll(async () => {
    const mysql = await import('mysql2/promise')
    const admin = await mysql.createConnection({ uri: base })
    await admin.query(`DROP TABLE IF EXISTS \`${poolTable}\``)
    await admin.end()
  })

  it('ssl reaches mysql2: a server without TLS is refused instead of used in cleartext', async () => {
    const table = `tk_args_${process.pid}`
    const store = await createStore(
      `${base}?table=${table}&ssl=${encodeURIComponent('{"rejectUnauthorized":true}')}`,
    )
    try {
      const err = await failure(() => store.getTokens())
      expect(err).toBeInstanceOf(TokenStoreError)
      expect(err.message).toMatch(/secure connection|SSL|TLS/i)
    } finally {
      await store.close?.()
    }
  })

  it('connectionLimit becomes the pool size: with 1, a second connection waits', async () => {
    const store = (await createStore(
      `${base}?table=${poolTable}&connectionLimit=1&connectTimeout=3000`,
    )) as DBStore
    try {
      // A token lock holds one connection of the pool until it is released.
      const first = await store.lockToken('1')
      const second = store.lockToken('2')
      const waited = await Promise.race([
        second.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 500)),
      ])
      await first.release()
      await (await second).release()
      expect(waited).toBe(true)
    } finally {
      await store.close()
    }
  })
})

await describeWithService('postgres', 'createStore: PostgreSQL parameters', () => {
  it('sslmode reaches pg, and application_name shows on the server', async () => {
    const required = await createStore(`${SERVICES.postgres.url}?sslmode=require`)
    expect((await failure(() => required.getTokens())).message).toMatch(/SSL/i)
    await required.close?.()

    const name = `tk-args-${process.pid}`
    const table = `tk_args_${process.pid}`
    const store = await createStore(
      `${SERVICES.postgres.url}?application_name=${name}&table=${table}&connect_timeout=3`,
    )
    const pg = await import('pg')
    const admin = new pg.default.Client({ connectionString: SERVICES.postgres.url })
    await admin.connect()
    try {
      await store.getTokens()
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
        [name],
      )
      expect(rows[0]!.n).toBeGreaterThan(0)
    } finally {
      await store.close?.()
      await admin.query(`DROP TABLE IF EXISTS "${table}"`)
      await admin.end()
    }
  })
})

await describeWithService('redis', 'createStore: Redis parameters', () => {
  it('db reaches ioredis: the rows are in that database', async () => {
    const prefix = `tk:args:${process.pid}:`
    const store = await createStore(`${SERVICES.redis.url}?db=7&prefix=${prefix}&family=4`)
    const { Redis } = await import('ioredis')
    const admin = new Redis(`${SERVICES.redis.url}/7`)
    try {
      await store.saveToken(
        new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          accessToken: 'a',
        }),
      )
      expect(await admin.keys(`${prefix}*`)).not.toEqual([])
    } finally {
      await store.deleteTokens()
      await store.close?.()
      const left = await admin.keys(`${prefix}*`)
      if (left.length > 0) await admin.del(...left)
      admin.disconnect()
    }
  })
})
