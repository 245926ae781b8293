export { tokenStoreConformance, runTokenStoreConformance, HOSTILE_VALUES } from './conformance.js'
export type { ConformanceOptions, ConformanceTest, RawRow } from './conformance.js'
export { tokenLockingConformance } from './locking-conformance.js'
export type { LockingConformanceOptions, LockingStore } from './locking-conformance.js'
export {
  startAccountsEmulator,
  EMULATOR_FAULTS,
  EMULATOR_ICON,
  EMULATOR_PAGE_STYLE,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
  type EmulatorClient,
  type EmulatorCounter,
  type EmulatorCounts,
  type EmulatorDataCenter,
  type EmulatorDataCenterOption,
  type EmulatorEndpoint,
  type EmulatorFault,
  type EmulatorRefusal,
  type EmulatorUser,
  type RevokeGrantsOptions,
} from './emulator.js'
export { dueScanConformance } from './due-conformance.js'
export type { DueScanConformanceOptions, DueScanStore } from './due-conformance.js'
export { healthConformance } from './health-conformance.js'
export type { HealthConformanceOptions, HealthStore } from './health-conformance.js'
export { budgetConformance } from './budget-conformance.js'
export type { BudgetConformanceOptions, BudgetStore } from './budget-conformance.js'
export { signIn } from './sign-in.js'
export type { SignInOptions } from './sign-in.js'
export type { SuiteStores } from './suite.js'
