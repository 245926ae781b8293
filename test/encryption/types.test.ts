import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature, FileStore } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { TYPE_CHECK_TIMEOUT_MS, typeCheck } from '../helpers/type-check.ts'

/**
 * What a user's strict TypeScript must accept and refuse about encrypted stores, against the
 * built package. Each `@ts-expect-error` line must be an error (tsc reports an unused one), and
 * every other line must compile: the encrypted store has `rekey()` and keeps the capabilities
 * its store has, typed as the store types them.
 */
const USER_CODE = `
import { FileStore, MemoryStore, withEncryption } from 'tokenkeeper'
import type { OAuthToken, RekeyResult, TokenLock } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { DBStore } from 'tokenkeeper/stores/mysql'
import { PostgresStore } from 'tokenkeeper/stores/postgres'
import { RedisStore } from 'tokenkeeper/stores/redis'

declare const token: OAuthToken
const encryption = { keys: { k1: process.env.TOKEN_KEY_1! }, activeKeyId: 'k1' }

// Built with the encryption option: every persistent store.
const sqlite = new SQLiteStore({ path: 'zohooauth.db', encryption })
const rekeyed: Promise<RekeyResult> = sqlite.rekey({ lockTimeoutMs: 5000 })
const compacted: Promise<boolean> = sqlite.compact()
const lock: Promise<TokenLock> = sqlite.lockToken('1')
const saved: Promise<boolean> = sqlite.saveTokenIf(token, token)
const rows: AsyncIterable<OAuthToken> = sqlite.iterateTokens({ pageSize: 100 })
const table: string = sqlite.table
const asStore: SQLiteStore = sqlite
const file1: Promise<RekeyResult> = new FileStore({ path: 'sdk_tokens.txt', encryption }).rekey()
const file2: Promise<RekeyResult> = new FileStore('sdk_tokens.txt', { encryption }).rekey()
const mysql: Promise<RekeyResult> = new DBStore({ encryption }).rekey()
const pg: Promise<RekeyResult> = new PostgresStore({ connectionString: 'postgres://', encryption }).rekey()
const redis: Promise<RekeyResult> = new RedisStore({ encryption }).rekey()

// Wrapped: any store, keeping its own capabilities.
const wrapped = withEncryption(new SQLiteStore({ path: ':memory:' }), encryption)
const wrappedRekey: Promise<RekeyResult> = wrapped.rekey()
const wrappedCompact: Promise<boolean> = wrapped.compact()
const wrappedLock: Promise<TokenLock> = wrapped.lockToken('1')
const memory = withEncryption(new MemoryStore(), encryption)
const memoryRekey: Promise<RekeyResult> = memory.rekey()
const memoryLock: Promise<TokenLock> = memory.lockToken('1')

// Without keys there is no rekey(), and the options are still checked.
// @ts-expect-error a store built without keys is not encrypted
void new SQLiteStore({ path: 'zohooauth.db' }).rekey()
// @ts-expect-error a store built without keys is not encrypted
void new FileStore('sdk_tokens.txt').rekey()
// @ts-expect-error a misspelt option is refused, keys or not
void new SQLiteStore({ paht: 'zohooauth.db', encryption })
// @ts-expect-error a misspelt encryption option is refused
void new RedisStore({ encryption: { ...encryption, acceptLegacyRow: false } })
// @ts-expect-error MemoryStore takes no keys: withEncryption wraps it
void new MemoryStore({ encryption })

// Still a class: subclassed, and its options named as before.
class AuditedStore extends SQLiteStore {}
const audited: SQLiteStore = new AuditedStore({ path: 'zohooauth.db' })
const options: ConstructorParameters<typeof RedisStore>[0] = { prefix: 'tk:' }

console.log(rekeyed, compacted, lock, saved, rows, table, asStore, file1, file2, mysql, pg, redis)
console.log(wrappedRekey, wrappedCompact, wrappedLock, memoryRekey, memoryLock, audited, options)
`

const keys = { k1: randomBytes(32).toString('base64') }

describe('encrypted stores, as typed for users', () => {
  it(
    'have rekey() and their own capabilities, built with the option or wrapped',
    () => {
      expect(typeCheck('encryption-types', new Map([['user.ts', USER_CODE]]))).toBe('')
    },
    TYPE_CHECK_TIMEOUT_MS,
  )

  it('built with the option, are still their class and have rekey() at run time', async () => {
    const dir = scratchDir()
    const store = new SQLiteStore({
      path: scratchPath(dir, 'z.db'),
      encryption: { keys, activeKeyId: 'k1' },
    })
    const file = new FileStore(scratchPath(dir, 'tokens.txt'), {
      encryption: { keys, activeKeyId: 'k1' },
    })
    try {
      // The exported class keeps its name: error messages name the store by it.
      expect(SQLiteStore.name).toBe('SQLiteStore')
      expect(FileStore.name).toBe('FileStore')
      for (const encrypted of [store, file]) {
        const token = new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          clientId: 'c',
          clientSecret: 's',
          refreshToken: 'r',
        })
        await encrypted.saveToken(token)
        expect(await encrypted.rekey()).toMatchObject({ rekeyed: 0, current: 1 })
      }
      expect(store).toBeInstanceOf(SQLiteStore)
      expect(file).toBeInstanceOf(FileStore)
    } finally {
      await store.close()
    }
  })
})
