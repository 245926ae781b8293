import { InvalidArgumentError } from './errors.js'
import { emit } from './events.js'
import { SafeLog, type Logger } from './log.js'
import { AccountsClient } from './oauth/client.js'
import { Environment } from './oauth/environments.js'
import type { TokenStore } from './store.js'
import type { OAuthToken } from './token.js'

/** Options of {@link purgeTokens}. */
export interface PurgeOptions {
  /**
   * Delete tokens unused for longer than this (ms). A token in use is refreshed whenever it is
   * used after its access token expired, so a token whose access token expired more than
   * `idleMs` ago has not been used for at least that long.
   */
  idleMs?: number
  /** Delete tokens whose access token has expired (a refresh token may still renew them). */
  expired?: boolean
  /**
   * Delete rows that hold only a grant code (no refresh or access token): a code is single-use
   * and lives 3 minutes, so such a row can never give a token again.
   */
  grantOnly?: boolean
  /** The clock, epoch ms; default `Date.now`. */
  now?: () => number
}

/** What a policy did: the ids it deleted. */
export interface PurgeResult {
  readonly deleted: string[]
}

function checkStore(store: unknown): asserts store is TokenStore {
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof (store as TokenStore).getTokens !== 'function'
  ) {
    throw new InvalidArgumentError('store', 'store must be a TokenStore')
  }
}

/**
 * Cleanup policies in one call: tokens idle for longer than `idleMs`, expired tokens, and rows
 * left with only a grant code. Returns the ids deleted.
 *
 * @example
 * await purgeTokens(store, { idleMs: 30 * 24 * 3600_000, grantOnly: true })
 */
export async function purgeTokens(store: TokenStore, options: PurgeOptions): Promise<PurgeResult> {
  checkStore(store)
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options',
      'purgeTokens expects { idleMs?, expired?, grantOnly? }',
    )
  }
  const { idleMs, expired = false, grantOnly = false, now = () => Date.now() } = options
  if (
    idleMs !== undefined &&
    !(typeof idleMs === 'number' && idleMs >= 0 && Number.isFinite(idleMs))
  ) {
    throw new InvalidArgumentError('idleMs', 'idleMs must be a number of milliseconds >= 0')
  }
  if (idleMs === undefined && !expired && !grantOnly) {
    throw new InvalidArgumentError(
      'options',
      'purgeTokens needs at least one of idleMs, expired, grantOnly',
    )
  }
  const at = now()
  const doomed = (token: OAuthToken): string | undefined => {
    if (grantOnly && token.grantToken && !token.refreshToken && !token.accessToken)
      return 'grant code only'
    if (token.expiryTime === undefined) return undefined
    if (idleMs !== undefined && token.expiryTime < at - idleMs) return 'idle'
    if (expired && token.expiryTime <= at) return 'expired'
    return undefined
  }
  const deleted: string[] = []
  const reasons = new Map<string, number>()
  for (const token of await store.getTokens()) {
    const reason = doomed(token)
    if (!reason || !token.id) continue
    await store.deleteToken(token.id)
    deleted.push(token.id)
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
  }
  for (const [reason, count] of reasons) emit('tokens.purged', { reason, count })
  return { deleted }
}

/** Options of {@link revokeTokens}. */
export interface RevokeOptions {
  /** The accounts server to revoke at. */
  environment: Environment
  /** Revoke every token of this user… */
  userName?: string
  /** …or of this client. */
  clientId?: string
  logger?: Logger
  fetch?: typeof globalThis.fetch
  requestTimeoutMs?: number
}

/** What {@link revokeTokens} did. */
export interface RevokeResult {
  /** Revoked at the accounts server, then deleted. */
  readonly revoked: string[]
  /** Not revoked (the server could not be reached or refused); these rows are kept. */
  readonly failed: { id: string; code: string }[]
}

/**
 * Central revocation: every token of a user, or of a client, revoked at the accounts server
 * and then deleted from the store. A token the server could not revoke is kept, and reported.
 *
 * @example
 * await revokeTokens(store, { environment: DataCenter.US.PRODUCTION, userName: 'ada@zylker.example' })
 */
export async function revokeTokens(
  store: TokenStore,
  options: RevokeOptions,
): Promise<RevokeResult> {
  checkStore(store)
  if (
    typeof options !== 'object' ||
    options === null ||
    !(options.environment instanceof Environment)
  ) {
    throw new InvalidArgumentError(
      'environment',
      'revokeTokens needs an environment, such as DataCenter.US.PRODUCTION',
    )
  }
  const { userName, clientId } = options
  if ((userName === undefined) === (clientId === undefined)) {
    throw new InvalidArgumentError(
      'userName',
      'revokeTokens needs exactly one of userName and clientId',
    )
  }
  for (const [name, value] of [
    ['userName', userName],
    ['clientId', clientId],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new InvalidArgumentError(name, `${name} must be a non-empty string`)
    }
  }
  const log = new SafeLog(options.logger)
  const client = new AccountsClient(options.environment, {
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    retries: 2,
    retryDelayMs: 250,
    now: () => Date.now(),
    log,
  })
  const matches = (token: OAuthToken): boolean =>
    userName !== undefined ? token.userSignature?.name === userName : token.clientId === clientId
  const revoked: string[] = []
  const failed: { id: string; code: string }[] = []
  for (const token of await store.getTokens()) {
    if (!matches(token) || !token.id) continue
    log.forget(token.clientSecret, token.refreshToken, token.accessToken, token.grantToken)
    const target = token.refreshToken ?? token.accessToken
    try {
      if (target)
        await client.revoke(target, { clientId: token.clientId, clientSecret: token.clientSecret })
    } catch (err) {
      failed.push({ id: token.id, code: (err as { code?: string }).code ?? 'UNKNOWN' })
      log.warn('token not revoked, kept', { id: token.id, user: token.userSignature?.name })
      continue
    }
    await store.deleteToken(token.id)
    revoked.push(token.id)
    emit('token.revoked', { id: token.id, user: token.userSignature?.name })
  }
  if (revoked.length > 0) emit('tokens.purged', { reason: 'revoked', count: revoked.length })
  return { revoked, failed }
}
