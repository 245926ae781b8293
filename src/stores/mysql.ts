import type { EncryptingStoreClass } from './encrypted.js'
import { DBStore as Store } from './mysql/store.js'

export type { DBStoreOptions } from './mysql/store.js'

/**
 * Tokens in MySQL or MariaDB (mysql2): the official SDKs' database store, done right. It keeps
 * the official table and column names, so that the official SDK can go on using the same table,
 * and it creates the database and the table when they are missing. Each lookup column gets a
 * stored SHA-256 column with an index (unique for user names), so values of any length are
 * found exactly and fast; every change to an existing table is additive. Statements are
 * prepared and parameterized; a pool of connections serves concurrent callers; a value too long
 * for a legacy column is an error, never truncated. A new id is the next after the largest numeric
 * id (`nextTokenId`), read from an index under a lock that every tokenkeeper process on the
 * server respects, so that concurrent savers never take one id.
 *
 * Built with `encryption`, the store also has `rekey()`: the constructor returns the
 * encrypting store then (see `withEncryption`), and its type says so.
 *
 * @class
 * @typeParam _NotForExtends - Never given: it keeps the encrypting constructor out of
 * `class X extends DBStore`, which must see one base constructor.
 *
 * @example
 * import { DBStore } from 'tokenkeeper/stores/mysql'
 * const store = new DBStore({ host: '127.0.0.1', user: 'root', database: 'zohooauth' })
 */
const DBStore = Store as EncryptingStoreClass<typeof Store>
type DBStore = Store
export { DBStore }
