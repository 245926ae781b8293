/**
 * `tokenkeeper/store-kit`: what a store is made of, so that a custom store is only its
 * backend's I/O. The rules every store of tokenkeeper follows (matching, upsert, which row wins,
 * numbering, row mapping, the conditional save's check) are re-exported from where they are
 * written once; option checking, error wrapping and the retry policy live here; leases and
 * look-up batching are the stores' own helpers. See docs/store-kit.md.
 */

// The rules: which row a token names, which row wins, how a save is planned and numbered.
export {
  MAX_TOKEN_ID,
  TOKEN_ID_PATTERN,
  isCanonicalId,
  largestNumericId,
  nextTokenId,
  numericIdValue,
} from '../store/ids.js'
export { compareRowIds, lookupOf, rowMatches, winningRow } from '../store/matching.js'
export { COLUMNS, rowHolds } from '../store/rows.js'
export { planSave, resolveSave, resolveSaveAsync } from '../store/save.js'
export { LOOKUP_COLUMNS } from './columns.js'
export type { Lookup, LookupColumn } from '../store/matching.js'
export type { Column, StoredRow, TokenRow } from '../store/rows.js'
export type { AsyncRowLookups, RowLookups, SaveFacts, SavePlan } from '../store/save.js'

// Rows and tokens, and the checks of every method's arguments.
export { assertConditionalSave, assertId, assertLookupToken } from '../store.js'
export {
  parseExpiry,
  rowFromToken,
  rowToWrite,
  tokenFromRow,
  tokenFromValues,
} from '../store/rows.js'
export { assertToken } from '../token.js'

// What a store offers beyond the six methods, and how callers detect it.
export { supportsCompaction, supportsConditionalSave, supportsLocking } from '../store.js'
export type {
  Compaction,
  ConditionalSave,
  LockOptions,
  TokenLock,
  TokenLocking,
  TokenStore,
} from '../store.js'

// Options, errors, retries: written here once.
export { checkOptions, flag, number, oneOf, shaped, text } from './options.js'
export type {
  CheckedOptions,
  DefaultedRule,
  OptionGroups,
  OptionRule,
  OptionSpec,
} from './options.js'
export { storeCall, wrapStoreError } from './errors.js'
export type { WrapOptions } from './errors.js'
export { StoreConflict, isConflict, retry } from './retry.js'
export type { RetryPolicy } from './retry.js'
export { InvalidArgumentError, TokenStoreError, refuseUnknownOptions } from '../errors.js'
export type { StoreOperation } from '../errors.js'

// Token leases: checked options, the lease every store hands out, and ways to hold one.
export {
  DEFAULT_LEASE_MS,
  DEFAULT_LOCK_WAIT_MS,
  Lease,
  MIN_LEASE_MS,
  leaseOption,
  lockOptions,
} from '../stores/lease.js'
export type { LeaseHold } from '../stores/lease.js'
export { InProcessLocks, lockTokenFile, renewal } from '../stores/token-locks.js'
export { takeLease } from './leases.js'
export type { LeaseTry, TakeLeaseOptions } from './leases.js'

// Reading many: look-ups batched per turn of the event loop, and paged iteration.
export { LookupBatcher } from '../stores/batch.js'
export {
  DEFAULT_PAGE_SIZE,
  keysetPages,
  pageSizeOf,
  supportsIteration,
  tokensOfRows,
} from '../iteration.js'
export type { IterateOptions, TokenIteration } from '../iteration.js'

// Finding due tokens: the one order and selection, for stores that scan what they hold.
export {
  checkDueScanOptions,
  compareDue,
  dueCursor,
  selectDue,
  selectDueRows,
  supportsDueScan,
} from '../due.js'
export type { DueCursor, DueScan, DueScanOptions } from '../due.js'

// Token health: the record a store keeps beside each token, and the check of what it is given.
export {
  assertHealthIds,
  assertHealthRecord,
  MAX_HEALTH_LENGTH,
  supportsHealth,
} from '../health.js'
export type { HealthTracking } from '../health.js'

// Budgets: the checks of takeBudget's arguments and the sliding-window rule, written once.
export { assertBudgetArguments, decideBudget, supportsBudgets, BudgetLog } from '../budget.js'
export type { Budget, BudgetAnswer, BudgetCounting } from '../budget.js'

// A store kept in the process: every rule over rows a subclass keeps as it likes (MemoryStore's
// map with indexes, ListStore's scanned list).
export { InProcessStore } from '../stores/in-process.js'
export type { InProcessRows } from '../stores/in-process.js'
