// Encryption at rest: secrets unreadable in every backend, lookups still working, older keys
// still readable, re-key without downtime, and clear errors for a missing or wrong key.
import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import {
  EncryptionError,
  FileStore,
  ListStore,
  MemoryStore,
  OAuthToken,
  UserSignature,
  type EncryptionOptions,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { withEncryption, type EncryptedStore } from '../../src/stores/encrypted.ts'
import { COLUMNS, rowFromToken, type Column } from '../../src/store/rows.ts'
import { withSealedRows } from '../../src/sealed.ts'
import type { TokenRecord } from '../../src/stores/list.ts'
import { tokenStoreConformance } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import {
  fileBackend,
  mysqlBackend,
  postgresBackend,
  redisBackend,
  sealTk1,
  sqliteBackend,
  type Backend,
  type RawRow,
} from '../helpers/backends.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const dir = scratchDir()
const K1 = randomBytes(32)
const K2 = randomBytes(32).toString('base64')
const only1: EncryptionOptions = { keys: { k1: K1 }, activeKeyId: 'k1' }
const both2: EncryptionOptions = { keys: { k1: K1, k2: K2 }, activeKeyId: 'k2' }
const only2: EncryptionOptions = { keys: { k2: K2 }, activeKeyId: 'k2' }

function token(user: string, tag: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: `client-secret-${tag}-${randomBytes(6).toString('hex')}`,
    grantToken: `1000.grant.${tag}.${randomBytes(8).toString('hex')}`,
    refreshToken: `1000.refresh.${tag}.${randomBytes(8).toString('hex')}`,
    accessToken: `1000.access.${tag}.${randomBytes(8).toString('hex')}`,
    expiryTime: 1_900_000_000_000,
    redirectUrl: 'https://app.example/callback',
    apiDomain: 'https://www.zohoapis.com',
  })
}

/** Lookups by each value a token can be found by, through `store`. */
async function lookups(store: TokenStore, t: OAuthToken): Promise<(string | undefined)[]> {
  const other = { clientId: 'c', clientSecret: 's' }
  return [
    (await store.findToken(new OAuthToken({ userSignature: t.userSignature })))?.id,
    (await store.findToken(new OAuthToken({ accessToken: t.accessToken })))?.id,
    (await store.findToken(new OAuthToken({ ...other, grantToken: t.grantToken })))?.id,
    (await store.findToken(new OAuthToken({ ...other, refreshToken: t.refreshToken })))?.id,
  ]
}

const secretsOf = (t: OAuthToken): string[] => [
  t.clientSecret!,
  t.grantToken!,
  t.refreshToken!,
  t.accessToken!,
]

/**
 * The backend's raw content, which must hold the user names (they stay readable: they are the
 * key). A raw read that broke, and gave '' or something else, fails here rather than passing
 * "no secret in the raw bytes".
 */
async function rawOf(backend: Backend, ...users: string[]): Promise<string> {
  const raw = await backend.raw()
  for (const user of users)
    expect(raw, `${backend.name}: raw content holds ${user}`).toContain(user)
  return raw
}

/** The tests every encrypted backend passes. */
function encryptedBackendTests(make: () => Promise<Backend> | Backend): void {
  it('keeps secrets unreadable in the backend while every lookup works', async () => {
    const backend = await make()
    const store = backend.open(only1)
    const tokens = [token('ada@zylker.example', 'a'), token('bob@zylker.example', 'b')]
    for (const t of tokens) await store.saveToken(t)
    const raw = await rawOf(backend, 'ada@zylker.example', 'bob@zylker.example')
    for (const t of tokens) for (const secret of secretsOf(t)) expect(raw).not.toContain(secret)
    for (const t of tokens) {
      expect(
        (await store.findToken(new OAuthToken({ userSignature: t.userSignature })))?.accessToken,
      ).toBe(t.accessToken)
      expect((await store.findToken(new OAuthToken({ accessToken: t.accessToken })))?.id).toBe(t.id)
      expect(
        (
          await store.findToken(
            new OAuthToken({ clientId: 'c', clientSecret: 's', grantToken: t.grantToken }),
          )
        )?.id,
      ).toBe(t.id)
      expect(
        (
          await store.findToken(
            new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: t.refreshToken }),
          )
        )?.refreshToken,
      ).toBe(t.refreshToken)
      expect((await store.findTokenById(t.id!))?.clientSecret).toBe(t.clientSecret)
    }
    await store.close?.()
  })

  it('reads rows under an older key, re-keys them while in use, then needs only the new key', async () => {
    const backend = await make()
    const old = backend.open(only1)
    const ada = token('ada@zylker.example', 'old')
    const anonymous = new OAuthToken({
      clientId: 'c',
      clientSecret: 's',
      refreshToken: `1000.refresh.anon.${randomBytes(4).toString('hex')}`,
    })
    await old.saveToken(ada)
    await old.saveToken(anonymous)
    await old.close?.()

    const rotated = backend.open(both2) as TokenStore & EncryptedStore
    expect((await rotated.findToken(new OAuthToken({ accessToken: ada.accessToken })))?.id).toBe(
      ada.id,
    )
    // A save matched by an old-key value updates its row, not a new one.
    const anonymousAgain = new OAuthToken({
      clientId: 'c',
      clientSecret: 's',
      refreshToken: anonymous.refreshToken,
      accessToken: 'new-access',
    })
    await rotated.saveToken(anonymousAgain)
    expect(anonymousAgain.id).toBe(anonymous.id)
    const bob = token('bob@zylker.example', 'new')
    await rotated.saveToken(bob)
    expect(await rotated.rekey()).toMatchObject({ rekeyed: 1, current: 2 })
    expect(await rotated.rekey()).toMatchObject({ rekeyed: 0, current: 3 })
    await rotated.close?.()

    const fresh = backend.open(only2)
    expect(
      (await fresh.findToken(new OAuthToken({ userSignature: ada.userSignature })))?.refreshToken,
    ).toBe(ada.refreshToken)
    expect((await fresh.findToken(new OAuthToken({ accessToken: bob.accessToken })))?.id).toBe(
      bob.id,
    )
    expect(await fresh.getTokens()).toHaveLength(3)
    const raw = await rawOf(backend, 'ada@zylker.example', 'bob@zylker.example')
    for (const secret of [...secretsOf(ada), ...secretsOf(bob)]) expect(raw).not.toContain(secret)
    await fresh.close?.()
  })

  it('a missing or wrong key is a clear error, and nothing is overwritten', async () => {
    const backend = await make()
    const store = backend.open(only1)
    const ada = token('ada@zylker.example', 'x')
    await store.saveToken(ada)
    await store.close?.()
    const before = await rawOf(backend, 'ada@zylker.example')

    const missing = backend.open(only2) as TokenStore & EncryptedStore
    await expect(
      missing.findToken(new OAuthToken({ userSignature: ada.userSignature })),
    ).rejects.toThrow(/encrypted with key 'k1', which is not among the configured keys/)
    await expect(missing.rekey()).rejects.toBeInstanceOf(EncryptionError)
    await missing.close?.()

    const wrong = backend.open({ keys: { k1: randomBytes(32) }, activeKeyId: 'k1' })
    await expect(wrong.findTokenById(ada.id!)).rejects.toMatchObject({
      code: 'ENCRYPTION_ERROR',
      message: expect.stringMatching(/key is wrong or the value was altered/) as unknown,
    })
    await wrong.close?.()
    expect(await backend.raw()).toBe(before)
  })

  it('reads rows stored in the clear before encryption was turned on, and re-keys them', async () => {
    const backend = await make()
    const plain = backend.open()
    const ada = token('ada@zylker.example', 'plain')
    await plain.saveToken(ada)
    await plain.close?.()
    const store = backend.open(only1) as TokenStore & EncryptedStore
    expect((await store.findToken(new OAuthToken({ accessToken: ada.accessToken })))?.id).toBe(
      ada.id,
    )
    expect(await store.rekey()).toMatchObject({ rekeyed: 1, current: 0 })
    const raw = await rawOf(backend, 'ada@zylker.example')
    for (const secret of secretsOf(ada)) expect(raw).not.toContain(secret)
    await store.close?.()
  })

  it('reads rows sealed by the first format (tk1), finds them by every value, and moves them forward', async () => {
    const backend = await make()
    const ada = token('ada@zylker.example', 'tk1')
    const old = ada.clone()
    for (const field of ['clientSecret', 'grantToken', 'refreshToken', 'accessToken'] as const) {
      old[field] = sealTk1(K1, 'k1', ada[field]!)
    }
    // Written as a tokenkeeper of the first format did: a new row, its secrets sealed alone.
    const writer = backend.open()
    await writer.saveToken(old)
    await writer.close?.()
    ada.id = old.id

    const strict = backend.open({ ...only1, acceptLegacyRows: false }) as TokenStore &
      EncryptedStore
    await expect(strict.findTokenById(ada.id!)).rejects.toThrow(/acceptLegacyRows is false/)
    await expect(strict.rekey()).rejects.toBeInstanceOf(EncryptionError)
    await strict.close?.()

    const store = backend.open(only1) as TokenStore & EncryptedStore
    expect(await lookups(store, ada)).toEqual([ada.id, ada.id, ada.id, ada.id])
    const found = (await store.findTokenById(ada.id!))!
    expect(found.fields()).toEqual({ ...ada.fields(), userSignature: found.userSignature })
    expect(await store.rekey()).toMatchObject({ rekeyed: 1, current: 0 })
    await store.close?.()
    const row = (await backend.row(ada.id!))!
    expect(row.access_token).toMatch(/^tk2\.k1\./)
    expect(row.api_domain).toMatch(/^tk2\.k1\./)

    const after = backend.open({ ...only1, acceptLegacyRows: false })
    expect(await lookups(after, ada)).toEqual([ada.id, ada.id, ada.id, ada.id])
    expect((await after.findTokenById(ada.id!))?.apiDomain).toBe(ada.apiDomain)
    await after.close?.()
  })

  it('a value moved to another column or row, or any changed column, does not open', async () => {
    const backend = await make()
    const store = backend.open(only1)
    const ada = token('ada@zylker.example', 'a')
    const eve = token('eve@zylker.example', 'e')
    await store.saveToken(ada)
    await store.saveToken(eve)
    await store.close?.()
    const a = (await backend.row(ada.id!))!
    const e = (await backend.row(eve.id!))!
    // What someone with write access and no key can do with the stored values.
    const attacks: [string, string, Partial<typeof a>][] = [
      ['refresh token copied into access_token', ada.id!, { access_token: a.refresh_token }],
      ['client secret copied into access_token', ada.id!, { access_token: a.client_secret }],
      ['api_domain pointed at another host', ada.id!, { api_domain: 'http://evil.example' }],
      ['row seal removed', ada.id!, { api_domain: null }],
      ["another row's seal", ada.id!, { api_domain: e.api_domain }],
      ["ada's refresh token in eve's row", eve.id!, { refresh_token: a.refresh_token }],
      [
        "ada's secrets and seal in eve's row",
        eve.id!,
        {
          client_secret: a.client_secret,
          refresh_token: a.refresh_token,
          access_token: a.access_token,
          grant_token: a.grant_token,
          api_domain: a.api_domain,
        },
      ],
      ['user name changed', ada.id!, { user_name: 'mallory@zylker.example' }],
      ['client id changed', ada.id!, { client_id: '1000.OTHERCLIENT' }],
      ['expiry extended', ada.id!, { expiry_time: '4102444800000' }],
      ['redirect URL changed', ada.id!, { redirect_url: 'https://evil.example/cb' }],
      ['row given another id', ada.id!, { id: '0zzzzzzzzz' }],
    ]
    const outcomes: string[] = []
    for (const [name, id, changes] of attacks) {
      await backend.patch(id, changes)
      const victim = backend.open(only1)
      const read = await victim.getTokens().then(
        () => 'opened',
        (err: unknown) => (err instanceof EncryptionError ? 'EncryptionError' : String(err)),
      )
      outcomes.push(`${name}: ${read}`)
      await victim.close?.()
      const target = 'id' in changes ? changes.id! : id
      await backend.patch(target, id === ada.id ? a : e)
    }
    expect(outcomes).toEqual(attacks.map(([name]) => `${name}: EncryptionError`))
    // Restored, every row opens again: the refusals came from the changes alone.
    const restored = backend.open(only1)
    expect((await restored.getTokens()).map((t) => t.id).sort()).toEqual([ada.id, eve.id].sort())
    await restored.close?.()
  })

  it('a store opened without keys refuses sealed rows: never reads them as tokens, never overwrites them', async () => {
    await refusesSealedRows(await make())
  })
}

/** A store opened without keys on `backend`'s data: sealed rows are neither read nor replaced. */
async function refusesSealedRows(backend: Backend): Promise<void> {
  const keyed = backend.open(only1)
  const ada = token('ada@zylker.example', 'k')
  await keyed.saveToken(ada)
  await keyed.close?.()
  const before = await rawOf(backend, 'ada@zylker.example')
  const keyless = backend.open()
  for (const read of [
    () => keyless.findTokenById(ada.id!),
    () => keyless.findToken(new OAuthToken({ userSignature: ada.userSignature })),
    () => keyless.getTokens(),
  ]) {
    await expect(read()).rejects.toMatchObject({
      code: 'ENCRYPTION_ERROR',
      message: expect.stringMatching(/opened without encryption keys/) as unknown,
    })
  }
  // The write side: the store reads the row it would replace, and refuses; nothing changes.
  for (const plain of [
    new OAuthToken({ userSignature: ada.userSignature, accessToken: 'in-the-clear' }),
    new OAuthToken({ id: ada.id, accessToken: 'in-the-clear' }),
  ]) {
    const refused = await keyless.saveToken(plain).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(refused).toBeInstanceOf(EncryptionError)
    expect(refused).toMatchObject({
      code: 'ENCRYPTION_ERROR',
      message: expect.stringMatching(
        new RegExp(`^token ${ada.id} is encrypted .*it is not overwritten; open the store with`),
      ) as unknown,
    })
    for (const secret of [...secretsOf(ada), 'in-the-clear']) {
      expect((refused as Error).message).not.toContain(secret)
    }
    expect(await backend.raw()).toBe(before)
  }
  // A new row is not a sealed one: a store without keys still inserts.
  await keyless.saveToken(
    new OAuthToken({
      userSignature: new UserSignature('bob@zylker.example'),
      accessToken: 'bob-clear',
    }),
  )
  await keyless.close?.()
  // The wrapper's own saves still replace the sealed row.
  const keyedAgain = backend.open(only1)
  const renewed = ada.clone()
  renewed.accessToken = '1000.access.renewed'
  await keyedAgain.saveToken(renewed)
  expect((await keyedAgain.findTokenById(ada.id!))?.accessToken).toBe('1000.access.renewed')
  await keyedAgain.close?.()
}

describe('encryption options', () => {
  it('rejects keys that are not 32 bytes and an unknown active key, naming the argument', () => {
    const path = scratchPath(dir, 'bad.txt')
    expect(
      () =>
        new FileStore({ path, encryption: { keys: { k1: randomBytes(16) }, activeKeyId: 'k1' } }),
    ).toThrow(/must be 32 bytes/)
    expect(
      () => new FileStore({ path, encryption: { keys: { k1: K1 }, activeKeyId: 'k9' } }),
    ).toThrow(expect.objectContaining({ argument: 'encryption.activeKeyId' }) as Error)
  })
})

describe('FileStore with encryption', () => {
  encryptedBackendTests(() => fileBackend(scratchPath(dir, 'tokens.txt')))
  for (const t of tokenStoreConformance({
    create: () => new FileStore({ path: scratchPath(dir, 'conformance.txt'), encryption: both2 }),
    reopen: (s) => new FileStore({ path: (s as FileStore).path, encryption: both2 }),
  })) {
    it(`conformance: ${t.name}`, t.run)
  }
})

/** A ListStore under the encryption wrapper: its records are the raw rows. */
function listBackend(): Backend {
  const inner = new ListStore()
  const record = (id: string): TokenRecord | undefined => inner.records.find((r) => r[0] === id)
  return {
    name: 'ListStore',
    open: (encryption) => (encryption ? withEncryption(inner, encryption) : inner),
    raw: async () => JSON.stringify(inner.records),
    row: async (id) => {
      const found = record(id)
      return found && (Object.fromEntries(COLUMNS.map((c, i) => [c, found[i]])) as RawRow)
    },
    patch: async (id, changes) => {
      const found = record(id)!
      for (const [column, value] of Object.entries(changes)) {
        found[COLUMNS.indexOf(column as Column)] = value
      }
    },
  }
}

/**
 * A MemoryStore under the encryption wrapper. Its rows are private: the raw content is read
 * through the store itself, under the wrapper's mark, as held (sealed). Rows are not patched.
 */
function memoryBackend(): Backend {
  const inner = new MemoryStore()
  const unsupported = (): never => {
    throw new Error('MemoryStore rows are private: not patched by tests')
  }
  return {
    name: 'MemoryStore',
    open: (encryption) => (encryption ? withEncryption(inner, encryption) : inner),
    raw: async () =>
      JSON.stringify(
        (await withSealedRows(() => inner.getTokens())).map((t) => rowFromToken(t, t.id!)),
      ),
    row: unsupported,
    patch: unsupported,
  }
}

describe('ListStore with encryption', () => {
  encryptedBackendTests(listBackend)
})

describe('MemoryStore with encryption', () => {
  it('a store opened without keys refuses sealed rows: never reads them as tokens, never overwrites them', async () => {
    await refusesSealedRows(memoryBackend())
  })
})

describe('SQLiteStore with encryption', () => {
  encryptedBackendTests(() => sqliteBackend(scratchPath(dir, 'tokens.db')))
  for (const t of tokenStoreConformance({
    create: () => new SQLiteStore({ path: ':memory:', encryption: both2 }),
  })) {
    it(`conformance: ${t.name}`, t.run)
  }
})

let tableCounter = 0
await describeWithService('mariadb', 'DBStore with encryption', () => {
  const url = `${SERVICES.mariadb.url}/tokenkeeper_test`
  const tables: string[] = []
  afterAll(async () => {
    const admin = await mysql.createConnection({ uri: url })
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin.end()
  })
  encryptedBackendTests(() => {
    const table = `tk_enc_${process.pid}_${++tableCounter}`
    tables.push(table)
    return mysqlBackend(url, table)
  })
})

await describeWithService('postgres', 'PostgresStore with encryption', () => {
  const connectionString = SERVICES.postgres.url
  const tables: string[] = []
  afterAll(async () => {
    const admin = new pg.Client({ connectionString })
    await admin.connect()
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${table}`)
    await admin.end()
  })
  encryptedBackendTests(() => {
    const table = `tk_enc_${process.pid}_${++tableCounter}`
    tables.push(table)
    return postgresBackend(connectionString, table)
  })
})

await describeWithService('redis', 'RedisStore with encryption', () => {
  encryptedBackendTests(() => redisBackend(`tk-enc-${process.pid}-${++tableCounter}:`))
})
