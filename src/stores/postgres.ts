import type { EncryptingStoreClass } from './encrypted.js'
import { PostgresStore as Store } from './postgres/store.js'

export type { PostgresPool, PostgresStoreOptions } from './postgres/store.js'

/**
 * The PostgreSQL store (`./postgres/store.ts`), typed so that a store built with `encryption` has `rekey()`
 * (the constructor returns the encrypting store then; see `withEncryption`).
 */
const PostgresStore = Store as EncryptingStoreClass<typeof Store>
type PostgresStore = Store
export { PostgresStore }
