import type { EncryptingStoreClass } from './encrypted.js'
import { SQLiteStore as Store } from './sqlite/store.js'

export type { SQLiteStoreOptions } from './sqlite/store.js'

/**
 * Tokens in a SQLite database (better-sqlite3), on a file or in memory: the reference's
 * `CustomStoreSQLite` with its exact table, done right. It opens a database that the reference
 * created and keeps working on it, changing its schema only by adding (indexes, a missing
 * `api_domain` column). Statements are prepared once and parameterized; the database runs in
 * WAL mode; a save is one immediate transaction, so processes sharing the file never interleave.
 * A new row takes the next id after the largest numeric id (`nextTokenId`), read in that
 * transaction through a partial index, so its cost does not grow with the table.
 *
 * Built with `encryption`, the store also has `rekey()`: the constructor returns the
 * encrypting store then (see `withEncryption`), and its type says so.
 *
 * @class
 * @typeParam _NotForExtends - Never given: it keeps the encrypting constructor out of
 * `class X extends SQLiteStore`, which must see one base constructor.
 *
 * @example
 * import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
 * const store = new SQLiteStore({ path: 'zohooauth.db' })
 * await store.saveToken(token)
 */
const SQLiteStore = Store as EncryptingStoreClass<typeof Store>
type SQLiteStore = Store
export { SQLiteStore }
