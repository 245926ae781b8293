import type { EncryptingStoreClass } from './encrypted.js'
import { SQLiteStore as Store } from './sqlite/store.js'

export type { SQLiteStoreOptions } from './sqlite/store.js'

/**
 * The SQLite store (`./sqlite/store.ts`), typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const SQLiteStore = Store as EncryptingStoreClass<typeof Store>
type SQLiteStore = Store
export { SQLiteStore }
