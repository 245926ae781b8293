// Encryption at rest: secrets unreadable in every backend, lookups still working, older keys
// still readable, re-key without downtime, and clear errors for a missing or wrong key.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import {
  EncryptionError,
  FileStore,
  OAuthToken,
  UserSignature,
  type EncryptionOptions,
  type TokenStore,
} from '../src/index.ts'
import { DBStore } from '../src/stores/mysql.ts'
import { PostgresStore } from '../src/stores/postgres.ts'
import { RedisStore } from '../src/stores/redis.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import type { EncryptedStore } from '../src/stores/encrypted.ts'
import { tokenStoreConformance } from '../src/testing/index.ts'
import { scratchDir, scratchPath } from './helpers.ts'
import { SERVICES, describeWithService } from './services.ts'

const dir = scratchDir()
const K1 = randomBytes(32)
const K2 = randomBytes(32).toString('base64')
const only1: EncryptionOptions = { keys: { k1: K1 }, activeKeyId: 'k1' }
const both2: EncryptionOptions = { keys: { k1: K1, k2: K2 }, activeKeyId: 'k2' }
const only2: EncryptionOptions = { keys: { k2: K2 }, activeKeyId: 'k2' }

/** A backend under test: a store on the same data with any encryption, and its raw content. */
interface Backend {
  name: string
  open(encryption?: EncryptionOptions): TokenStore
  /** Everything the backend holds, as text. */
  raw(): Promise<string>
}

function token(user: string, tag: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: `client-secret-${tag}-${randomBytes(6).toString('hex')}`,
    grantToken: `1000.grant.${tag}.${randomBytes(8).toString('hex')}`,
    refreshToken: `1000.refresh.${tag}.${randomBytes(8).toString('hex')}`,
    accessToken: `1000.access.${tag}.${randomBytes(8).toString('hex')}`,
    expiryTime: 1_900_000_000_000,
  })
}

const secretsOf = (t: OAuthToken): string[] => [
  t.clientSecret!,
  t.grantToken!,
  t.refreshToken!,
  t.accessToken!,
]

/** The tests every encrypted backend passes. */
function encryptedBackendTests(make: () => Promise<Backend> | Backend): void {
  it('keeps secrets unreadable in the backend while every lookup works', async () => {
    const backend = await make()
    const store = backend.open(only1)
    const tokens = [token('ada@zylker.example', 'a'), token('bob@zylker.example', 'b')]
    for (const t of tokens) await store.saveToken(t)
    const raw = await backend.raw()
    expect(raw).toContain('ada@zylker.example') // user names stay readable: they are the key
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
    expect(await rotated.rekey()).toEqual({ rekeyed: 1, current: 2 })
    expect(await rotated.rekey()).toEqual({ rekeyed: 0, current: 3 })
    await rotated.close?.()

    const fresh = backend.open(only2)
    expect(
      (await fresh.findToken(new OAuthToken({ userSignature: ada.userSignature })))?.refreshToken,
    ).toBe(ada.refreshToken)
    expect((await fresh.findToken(new OAuthToken({ accessToken: bob.accessToken })))?.id).toBe(
      bob.id,
    )
    expect(await fresh.getTokens()).toHaveLength(3)
    const raw = await backend.raw()
    for (const secret of [...secretsOf(ada), ...secretsOf(bob)]) expect(raw).not.toContain(secret)
    await fresh.close?.()
  })

  it('a missing or wrong key is a clear error, and nothing is overwritten', async () => {
    const backend = await make()
    const store = backend.open(only1)
    const ada = token('ada@zylker.example', 'x')
    await store.saveToken(ada)
    await store.close?.()
    const before = await backend.raw()

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
    expect(await store.rekey()).toEqual({ rekeyed: 1, current: 0 })
    for (const secret of secretsOf(ada)) expect(await backend.raw()).not.toContain(secret)
    await store.close?.()
  })
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
  encryptedBackendTests(() => {
    const path = scratchPath(dir, 'tokens.txt')
    return {
      name: 'FileStore',
      open: (encryption) => new FileStore({ path, encryption }),
      raw: async () => {
        try {
          return readFileSync(path, 'utf8')
        } catch {
          return ''
        }
      },
    }
  })
  for (const t of tokenStoreConformance({
    create: () => new FileStore({ path: scratchPath(dir, 'conformance.txt'), encryption: both2 }),
    reopen: (s) => new FileStore({ path: (s as FileStore).path, encryption: both2 }),
  })) {
    it(`conformance: ${t.name}`, t.run)
  }
})

describe('SQLiteStore with encryption', () => {
  encryptedBackendTests(() => {
    const path = scratchPath(dir, 'tokens.db')
    return {
      name: 'SQLiteStore',
      open: (encryption) => new SQLiteStore({ path, encryption }),
      raw: async () => {
        const db = new Database(path, { readonly: true })
        try {
          return JSON.stringify(db.prepare('SELECT * FROM oauthtoken').all())
        } finally {
          db.close()
        }
      },
    }
  })
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
    return {
      name: 'DBStore',
      open: (encryption) => new DBStore({ url, table, encryption }),
      raw: async () => {
        const admin = await mysql.createConnection({ uri: url })
        try {
          const [rows] = await admin.query(`SELECT * FROM \`${table}\``)
          return JSON.stringify(rows)
        } catch {
          return ''
        } finally {
          await admin.end()
        }
      },
    }
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
    return {
      name: 'PostgresStore',
      open: (encryption) => new PostgresStore({ connectionString, table, encryption }),
      raw: async () => {
        const admin = new pg.Client({ connectionString })
        await admin.connect()
        try {
          return JSON.stringify((await admin.query(`SELECT * FROM ${table}`)).rows)
        } catch {
          return ''
        } finally {
          await admin.end()
        }
      },
    }
  })
})

await describeWithService('redis', 'RedisStore with encryption', () => {
  encryptedBackendTests(() => {
    const prefix = `tk-enc-${process.pid}-${++tableCounter}:`
    return {
      name: 'RedisStore',
      open: (encryption) => new RedisStore({ url: SERVICES.redis.url, prefix, encryption }),
      raw: async () => {
        // Everything under the prefix, keys and values, through a plain client.
        const client = new Redis(SERVICES.redis.url)
        try {
          const out: string[] = []
          let cursor = '0'
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
            cursor = next
            for (const key of keys.sort()) {
              const type = await client.type(key)
              const value =
                type === 'hash'
                  ? await client.hgetall(key)
                  : type === 'string'
                    ? await client.get(key)
                    : await client.zrange(key, 0, -1)
              out.push(`${key}=${JSON.stringify(value)}`)
            }
          } while (cursor !== '0')
          return out.sort().join('\n')
        } finally {
          client.disconnect()
        }
      },
    }
  })
})
