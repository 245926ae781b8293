/**
 * A local stand-in for Zoho Accounts (consent page, token, refresh, revoke) and a tiny Zoho CRM
 * API (current user, leads), on a real HTTP server built on `node:http` alone. Tests, the demo
 * and the benchmarks point an {@link Environment} at it instead of `accounts.zoho.com`.
 *
 * It answers in Zoho's shapes, keeps Zoho's rules (single-use grant codes that live 3 minutes, no
 * refresh token rotation, 10 access tokens per refresh token per 10 minutes, and on demand 10
 * exchanges per client per 10 minutes), can revoke grants, compress its clock, and be told to
 * misbehave ({@link AccountsEmulator.fail}). It never writes to stdout.
 *
 * The code is in ./emulator/, one file per concern: settings, the ledger of Zoho's rules, HTTP
 * plumbing, pages, endpoints, admin endpoints, counts, faults and the server. This file keeps
 * the import path.
 */
export { startAccountsEmulator } from './emulator/server.js'
export { EMULATOR_FAULTS } from './emulator/faults.js'
export { EMULATOR_ICON, EMULATOR_PAGE_STYLE } from './emulator/pages.js'
export type {
  AccountsEmulator,
  AccountsEmulatorOptions,
  EmulatorClient,
  EmulatorCounter,
  EmulatorCounts,
  EmulatorDataCenter,
  EmulatorDataCenterOption,
  EmulatorEndpoint,
  EmulatorFault,
  EmulatorRefusal,
  EmulatorUser,
  RevokeGrantsOptions,
} from './emulator/types.js'
