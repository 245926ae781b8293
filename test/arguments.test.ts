// Every public function rejects bad arguments with a typed error that names the argument.
import { describe, expect, it } from 'vitest'
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
import { startAccountsEmulator, tokenStoreConformance } from '../src/testing/index.ts'

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
