// The emulator's settings: every option of startAccountsEmulator checked, with Zoho-like
// defaults filled in, once, before the server starts.
import { InvalidArgumentError } from '../../errors.js'
import type { AccountsEmulatorOptions, EmulatorClient, EmulatorUser } from './types.js'

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

/** A user with every field filled in. */
export type User = Required<EmulatorUser>
export type RateLimit = { count: number; windowMs: number }

/** The resolved options, as the ledger and the server use them. */
export interface Settings {
  host: string
  port: number
  clients: EmulatorClient[]
  users: User[]
  accessTokenLifetimeMs: number
  grantCodeLifetimeMs: number
  latencyMs: number
  rotateRefreshTokens: boolean
  accessTokenLimit: RateLimit | false
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

function checkUsers(users: EmulatorUser[] | undefined): User[] {
  const given = users ?? [DEFAULT_USER]
  if (!Array.isArray(given) || given.length === 0) {
    throw new InvalidArgumentError('users', 'users must be a non-empty array')
  }
  return given.map((user, index) => {
    if (typeof user?.email !== 'string' || user.email.length === 0) {
      throw new InvalidArgumentError('users', 'every user needs an email')
    }
    return {
      email: user.email,
      fullName: user.fullName ?? user.email.split('@')[0] ?? user.email,
      // Zoho CRM user ids are 19 digits.
      id: user.id ?? String(4876876000000300001n + BigInt(index)),
    }
  })
}

function checkLimit(limit: AccountsEmulatorOptions['accessTokenLimit']): RateLimit | false {
  if (limit === undefined) return { ...DEFAULT_ACCESS_TOKEN_LIMIT }
  if (limit === false) return false
  return {
    count: checkNumber(limit.count, 'accessTokenLimit.count', DEFAULT_ACCESS_TOKEN_LIMIT.count, 1),
    windowMs: checkNumber(
      limit.windowMs,
      'accessTokenLimit.windowMs',
      DEFAULT_ACCESS_TOKEN_LIMIT.windowMs,
      1,
    ),
  }
}

/** Checks every option and fills in the defaults; throws InvalidArgumentError on a bad one. */
export function resolveSettings(options: AccountsEmulatorOptions): Settings {
  return {
    host: options.host ?? DEFAULT_HOST,
    port: checkNumber(options.port, 'port', 0),
    clients: checkClients(options.clients),
    users: checkUsers(options.users),
    accessTokenLifetimeMs:
      checkNumber(options.accessTokenLifetimeSec, 'accessTokenLifetimeSec', 3600, 1) * 1000,
    grantCodeLifetimeMs:
      checkNumber(options.grantCodeLifetimeSec, 'grantCodeLifetimeSec', 180, 1) * 1000,
    latencyMs: checkNumber(options.latencyMs, 'latencyMs', 0),
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    accessTokenLimit: checkLimit(options.accessTokenLimit),
    autoApprove: options.autoApprove ?? false,
    errorStyle: options.errorStyle ?? 'zoho',
    expiresInStyle: options.expiresInStyle ?? 'seconds',
    now: options.now ?? Date.now,
  }
}
