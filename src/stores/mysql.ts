import type { EncryptingStoreClass } from './encrypted.js'
import { DBStore as Store } from './mysql/store.js'

export type { DBStoreOptions } from './mysql/store.js'

/**
 * The MySQL and MariaDB store (`./mysql/store.ts`), typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const DBStore = Store as EncryptingStoreClass<typeof Store>
type DBStore = Store
export { DBStore }
