// The emulator's settings: every option of startAccountsEmulator checked, with Zoho-like
// defaults filled in, once, before the server starts.
import { InvalidArgumentError, refuseUnknownOptions } from '../../errors.js'
import { ZOHO_LOCATIONS } from '../../providers/zoho.js'
import type {
  AccountsEmulatorOptions,
  EmulatorClient,
  EmulatorDataCenterOption,
  EmulatorUser,
} from './types.js'

/** The interface listened on when none is given. */
export const DEFAULT_HOST = '127.0.0.1'
/** The client registered when none is given (its secret is a fixed test value). */
export const DEFAULT_CLIENT: Readonly<EmulatorClient> = {
  clientId: '1000.EMULATORCLIENT0000000000000000',
  clientSecret: 'emulator-client-secret',
}
const DEFAULT_USER: EmulatorUser = { email: 'ada@zylker.example', fullName: 'Ada Lovelace' }
/** Zoho's limit: 10 access tokens per refresh token per 10 minutes. */
export const DEFAULT_ACCESS_TOKEN_LIMIT = { count: 10, windowMs: 600_000 } as const
/** Zoho's limit: 10 grant code exchanges per client per 10 minutes. */
export const DEFAULT_EXCHANGE_LIMIT = { count: 10, windowMs: 600_000 } as const
/** A real second: the clock is not compressed. */
const REAL_SECOND_MS = 1000

/** The main listener's data center, as Zoho's `location` names it. */
export const MAIN_DATA_CENTER = 'us'
/** Zoho's data centers' location codes, which the callback's `location` may carry. */
export const LOCATIONS: readonly string[] = ZOHO_LOCATIONS

/** A user with every field filled in. */
export type User = Required<EmulatorUser>
export type RateLimit = { count: number; windowMs: number }
/** A data center served beside the main one, on its own listener. */
export interface DataCenterSettings {
  location: string
  port: number
}

/**
 * The resolved options, as the ledger and the server use them. Every duration is in milliseconds
 * of the clock `now`, the compressed clock's scale already applied: the rules compare times
 * with durations, so shortening the durations is compressing the clock.
 */
export interface Settings {
  host: string
  port: number
  clients: EmulatorClient[]
  users: User[]
  /** The data centers besides the main one. */
  dataCenters: DataCenterSettings[]
  accessTokenLifetimeMs: number
  grantCodeLifetimeMs: number
  latencyMs: number
  rotateRefreshTokens: boolean
  accessTokenLimit: RateLimit | false
  exchangeLimit: RateLimit | false
  autoApprove: boolean
  errorStyle: 'zoho' | 'oauth2'
  expiresInStyle: 'seconds' | 'milliseconds'
  now: () => number
}

/** A number option of at least `min`, or `fallback` when absent; else InvalidArgumentError. */
export function checkNumber(
  value: number | undefined,
  name: string,
  fallback: number,
  min = 0,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidArgumentError(name, `${name} must be a number of at least ${min}`)
  }
  return value
}

function checkClients(clients: EmulatorClient[] | undefined): EmulatorClient[] {
  if (clients === undefined) return [{ ...DEFAULT_CLIENT }]
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new InvalidArgumentError('clients', 'clients must be a non-empty array')
  }
  for (const client of clients) {
    if (typeof client?.clientId !== 'string' || typeof client.clientSecret !== 'string') {
      throw new InvalidArgumentError('clients', 'every client needs a clientId and a clientSecret')
    }
  }
  return clients.map((client) => ({ ...client }))
}

function checkDataCenters(given: EmulatorDataCenterOption[] | undefined): DataCenterSettings[] {
  if (given === undefined) return []
  if (!Array.isArray(given)) {
    throw new InvalidArgumentError('dataCenters', "dataCenters must be an array such as ['eu']")
  }
  const seen = new Set<string>([MAIN_DATA_CENTER])
  return given.map((entry) => {
    const option = typeof entry === 'string' ? { location: entry } : entry
    const location = (option as { location?: unknown } | null)?.location
    if (typeof location !== 'string' || !LOCATIONS.includes(location)) {
      throw new InvalidArgumentError(
        'dataCenters',
        `every data center is a Zoho location code (${LOCATIONS.join(', ')})`,
      )
    }
    if (seen.has(location)) {
      throw new InvalidArgumentError(
        'dataCenters',
        `data center '${location}' is given twice ('${MAIN_DATA_CENTER}' is the main listener's)`,
      )
    }
    seen.add(location)
    return { location, port: checkNumber(option.port, `dataCenters '${location}' port`, 0) }
  })
}

function checkUsers(users: EmulatorUser[] | undefined, dataCenters: readonly string[]): User[] {
  const given = users ?? [DEFAULT_USER]
  if (!Array.isArray(given) || given.length === 0) {
    throw new InvalidArgumentError('users', 'users must be a non-empty array')
  }
  return given.map((user, index) => {
    if (typeof user?.email !== 'string' || user.email.length === 0) {
      throw new InvalidArgumentError('users', 'every user needs an email')
    }
    const dataCenter = user.dataCenter ?? MAIN_DATA_CENTER
    if (!dataCenters.includes(dataCenter)) {
      throw new InvalidArgumentError(
        'users',
        `user ${user.email}'s dataCenter must be one the emulator serves: ${dataCenters.join(', ')}`,
      )
    }
    return {
      email: user.email,
      fullName: user.fullName ?? user.email.split('@')[0] ?? user.email,
      // Zoho CRM user ids are 19 digits.
      id: user.id ?? String(4876876000000300001n + BigInt(index)),
      dataCenter,
    }
  })
}

/**
 * A limit option: `false` lifts it, `true` is Zoho's, `undefined` is `absent`; the window is
 * scaled to the clock by `scale` (real milliseconds per emulator millisecond).
 */
function checkLimit(
  limit: { count: number; windowMs: number } | boolean | undefined,
  name: string,
  zoho: RateLimit,
  absent: boolean,
  scale: number,
): RateLimit | false {
  const given = limit ?? absent
  if (given === false) return false
  if (given === true) return { count: zoho.count, windowMs: zoho.windowMs * scale }
  if (typeof given !== 'object' || given === null) {
    throw new InvalidArgumentError(name, `${name} must be true, false or { count, windowMs }`)
  }
  return {
    count: checkNumber(given.count, `${name}.count`, zoho.count, 1),
    windowMs: checkNumber(given.windowMs, `${name}.windowMs`, zoho.windowMs, 1) * scale,
  }
}

/** Every option of startAccountsEmulator: a misspelt one must not leave a default in force. */
const OPTION_KEYS: ReadonlyArray<keyof AccountsEmulatorOptions> = [
  'host',
  'port',
  'clients',
  'users',
  'dataCenters',
  'accessTokenLifetimeSec',
  'grantCodeLifetimeSec',
  'latencyMs',
  'rotateRefreshTokens',
  'accessTokenLimit',
  'exchangeLimit',
  'secondMs',
  'autoApprove',
  'errorStyle',
  'expiresInStyle',
  'now',
]

/** Checks every option and fills in the defaults; throws InvalidArgumentError on a bad one. */
export function resolveSettings(options: AccountsEmulatorOptions): Settings {
  refuseUnknownOptions('startAccountsEmulator', options, OPTION_KEYS)
  // Real milliseconds per emulator millisecond: 0.01 when an emulator second lasts 10 ms.
  const scale = checkNumber(options.secondMs, 'secondMs', REAL_SECOND_MS, 1) / REAL_SECOND_MS
  const dataCenters = checkDataCenters(options.dataCenters)
  const served = [MAIN_DATA_CENTER, ...dataCenters.map((dc) => dc.location)]
  return {
    host: options.host ?? DEFAULT_HOST,
    port: checkNumber(options.port, 'port', 0),
    clients: checkClients(options.clients),
    users: checkUsers(options.users, served),
    dataCenters,
    accessTokenLifetimeMs:
      checkNumber(options.accessTokenLifetimeSec, 'accessTokenLifetimeSec', 3600, 1) * 1000 * scale,
    grantCodeLifetimeMs:
      checkNumber(options.grantCodeLifetimeSec, 'grantCodeLifetimeSec', 180, 1) * 1000 * scale,
    latencyMs: checkNumber(options.latencyMs, 'latencyMs', 0),
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    accessTokenLimit: checkLimit(
      options.accessTokenLimit,
      'accessTokenLimit',
      DEFAULT_ACCESS_TOKEN_LIMIT,
      true,
      scale,
    ),
    // Off unless asked for: tests, the demo and the benchmarks exchange many codes per client.
    exchangeLimit: checkLimit(
      options.exchangeLimit,
      'exchangeLimit',
      DEFAULT_EXCHANGE_LIMIT,
      false,
      scale,
    ),
    autoApprove: options.autoApprove ?? false,
    errorStyle: options.errorStyle ?? 'zoho',
    expiresInStyle: options.expiresInStyle ?? 'seconds',
    now: options.now ?? Date.now,
  }
}
