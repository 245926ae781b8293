import type { EncryptingStoreClass } from './encrypted.js'
import { PostgresStore as Store } from './postgres/store.js'

export type { PostgresPool, PostgresStoreOptions } from './postgres/store.js'

/**
 * Tokens in a PostgreSQL table (node-postgres): the official SDKs' columns, one row per user.
 * It creates the table when it is missing and otherwise works on the existing one in place,
 * changing it only by adding (a missing `api_domain`, indexes on md5 of every lookup column,
 * unique on the user name, and a partial index on the numeric ids). Every statement is
 * parameterized; look-ups are one indexed query; a save is one transaction that locks the rows
 * it reads. A new id is the next after the largest numeric id (`nextTokenId`), read from that
 * index under a transaction-level advisory lock per table, so that concurrent savers never take
 * one id. It also offers `TokenLocking`:
 * a session advisory lock per token that the server frees when its holder's connection ends.
 *
 * Built with `encryption`, the store also has `rekey()`: the constructor returns the
 * encrypting store then (see `withEncryption`), and its type says so.
 *
 * @class
 * @typeParam _NotForExtends - Never given: it keeps the encrypting constructor out of
 * `class X extends PostgresStore`, which must see one base constructor.
 *
 * @example
 * import { PostgresStore } from 'tokenkeeper/stores/postgres'
 * const store = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/zohooauth' })
 * await store.saveToken(token)
 * const lock = await store.lockToken(token.id!)
 * try { ... } finally { await lock.release() }
 */
const PostgresStore = Store as EncryptingStoreClass<typeof Store>
type PostgresStore = Store
export { PostgresStore }
