export { tokenStoreConformance, runTokenStoreConformance, HOSTILE_VALUES } from './conformance.js'
export type { ConformanceOptions, ConformanceTest, RawRow } from './conformance.js'
export {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
  type EmulatorClient,
  type EmulatorCounts,
  type EmulatorEndpoint,
  type EmulatorFault,
  type EmulatorUser,
} from './emulator.js'
