export { OAuthToken, UserSignature, needsRefresh, REDACTED } from './token.js'
export type { OAuthTokenInit } from './token.js'
export { COLUMNS, ID_LENGTH, lookupOf, planSave, newTokenId } from './store.js'
export type { TokenStore, Lookup, LookupColumn, TokenRow, SaveFacts, SavePlan } from './store.js'
export { MemoryStore } from './stores/memory.js'
export { ListStore } from './stores/list.js'
export type { TokenRecord } from './stores/list.js'
export { FileStore } from './stores/file.js'
export type { FileStoreOptions, FileStoreProblem } from './stores/file.js'
export {
  SDKException,
  MandatoryValueError,
  InvalidArgumentError,
  TokenStoreError,
} from './errors.js'
export type { StoreOperation } from './errors.js'
