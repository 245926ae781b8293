import { withTokenLock } from './refresh/lease.js'
import { InvalidArgumentError, refuseUnknownOptions, TokenStoreError } from './errors.js'
import { emit } from './events.js'
import { eachToken } from './iteration.js'
import { SafeLog, type Logger } from './log.js'
import { Environment } from './oauth/environments.js'
import { environmentOf } from './providers/token-environment.js'
import { revocationClient, revokeStoredToken } from './revocation.js'
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
  /**
   * How long to wait for each token's lease (ms), held while a refresh of it is in progress;
   * default 10000. A token whose lease is not had in time is in use: it is kept, in `busy`.
   */
  lockTimeoutMs?: number
  /**
   * Progress of the pass over the store: called after each page with the number of tokens
   * examined so far, and once at the end.
   */
  onProgress?: (seen: number) => void
}

/** What a policy did: the ids it deleted, and the candidates it kept. */
export interface PurgeResult {
  readonly deleted: string[]
  /** Candidates that, read again under their lease, no longer qualified (refreshed meanwhile). */
  readonly kept: string[]
  /** Candidates whose lease stayed held by someone else (a refresh in progress): kept. */
  readonly busy: string[]
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

function checkProgress(value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidArgumentError('onProgress', 'onProgress must be a function')
  }
}

/** The options of `eachToken` for a policy's pass. */
function passOptions(onProgress: ((seen: number) => void) | undefined) {
  return onProgress ? { onProgress } : {}
}

function checkLockTimeout(value: unknown): void {
  if (value !== undefined && !(typeof value === 'number' && value >= 0 && Number.isFinite(value))) {
    throw new InvalidArgumentError('lockTimeoutMs', 'lockTimeoutMs must be a number of ms >= 0')
  }
}

/** Whether an error is the lease of `withTokenLock` not had in time (the work never started). */
function leaseNotHad(err: unknown, started: boolean): boolean {
  return !started && err instanceof TokenStoreError && err.operation === 'lock'
}

const PURGE_OPTIONS = [
  'idleMs',
  'expired',
  'grantOnly',
  'now',
  'lockTimeoutMs',
  'onProgress',
] as const

/**
 * Cleanup policies in one call: tokens idle for longer than `idleMs`, expired tokens, and rows
 * left with only a grant code. Candidates come from one pass over the store, a page at a time
 * (`eachToken`: the pass holds one page, whatever the store's size); each is read again under
 * its lease and deleted only if it still qualifies, so a token refreshed meanwhile (by this
 * process or another) is kept. A token is deleted after the pass has given it, which every
 * store's iteration allows (it pages by id or by insertion order, not by position). Returns the
 * ids deleted and the candidates kept.
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
  refuseUnknownOptions('purgeTokens', options, PURGE_OPTIONS)
  const { idleMs, expired = false, grantOnly = false, now = () => Date.now() } = options
  if (
    idleMs !== undefined &&
    !(typeof idleMs === 'number' && idleMs >= 0 && Number.isFinite(idleMs))
  ) {
    throw new InvalidArgumentError('idleMs', 'idleMs must be a number of milliseconds >= 0')
  }
  checkLockTimeout(options.lockTimeoutMs)
  checkProgress(options.onProgress)
  if (idleMs === undefined && !expired && !grantOnly) {
    throw new InvalidArgumentError(
      'options',
      'purgeTokens needs at least one of idleMs, expired, grantOnly',
    )
  }
  const doomed = (token: OAuthToken, at: number): string | undefined => {
    if (grantOnly && token.grantToken && !token.refreshToken && !token.accessToken)
      return 'grant code only'
    if (token.expiryTime === undefined) return undefined
    if (idleMs !== undefined && token.expiryTime < at - idleMs) return 'idle'
    if (expired && token.expiryTime <= at) return 'expired'
    return undefined
  }
  const deleted: string[] = []
  const kept: string[] = []
  const busy: string[] = []
  const reasons = new Map<string, number>()
  const lock = options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }
  const first = now()
  for await (const candidate of eachToken(store, passOptions(options.onProgress))) {
    const id = candidate.id
    if (!id || !doomed(candidate, first)) continue
    let started = false
    try {
      const reason = await withTokenLock(
        store,
        id,
        async () => {
          started = true
          // The row as it is now: a refresh that held the lease may just have renewed it.
          const fresh = await store.findTokenById(id)
          const why = fresh ? doomed(fresh, now()) : undefined
          if (why) await store.deleteToken(id)
          return why
        },
        lock,
      )
      if (reason) {
        deleted.push(id)
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
      } else {
        kept.push(id)
      }
    } catch (err) {
      if (!leaseNotHad(err, started)) throw err
      busy.push(id)
    }
  }
  for (const [reason, count] of reasons) emit('tokens.purged', { reason, count })
  return { deleted, kept, busy }
}

/** Options of {@link revokeTokens}. */
export interface RevokeOptions {
  /**
   * The only environment whose tokens are revoked. Default: each token's own, known from its
   * API domain (any Zoho data center). Either way a token is revoked only at the accounts
   * server that issued it: one of another environment, or of none known, is kept and reported
   * in `failed` (`ENVIRONMENT_MISMATCH`, `ENVIRONMENT_UNKNOWN`), and nothing of it is sent.
   */
  environment?: Environment | undefined
  /** Revoke every token of this user… */
  userName?: string
  /** …or of this client. */
  clientId?: string
  logger?: Logger
  fetch?: typeof globalThis.fetch
  requestTimeoutMs?: number
  /** How long to wait for each token's lease (ms); default 10000. Not had: failed, kept. */
  lockTimeoutMs?: number
  /** Progress of the pass over the store, as in {@link PurgeOptions.onProgress}. */
  onProgress?: (seen: number) => void
}

/** What {@link revokeTokens} did. */
export interface RevokeResult {
  /** Revoked at the accounts server, then deleted. */
  readonly revoked: string[]
  /** Not revoked (the server could not be reached or refused); these rows are kept. */
  readonly failed: { id: string; code: string }[]
}

const REVOKE_OPTIONS = [
  'environment',
  'userName',
  'clientId',
  'logger',
  'fetch',
  'requestTimeoutMs',
  'lockTimeoutMs',
  'onProgress',
] as const

/**
 * Central revocation: every token of a user, or of a client, revoked at the accounts server
 * and then deleted from the store. The tokens are found by one pass over the store, a page at a
 * time (`eachToken`). Each is read again under its lease first, so the refresh token revoked is
 * the current one even if a refresh rotated it meanwhile. A token the server could not revoke
 * is kept, and reported.
 *
 * @example
 * await revokeTokens(store, { environment: DataCenter.US.PRODUCTION, userName: 'ada@zylker.example' })
 */
export async function revokeTokens(
  store: TokenStore,
  options: RevokeOptions,
): Promise<RevokeResult> {
  checkStore(store)
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'revokeTokens needs { userName } or { clientId }')
  }
  if (options.environment !== undefined && !(options.environment instanceof Environment)) {
    throw new InvalidArgumentError(
      'environment',
      'environment must be an Environment, such as DataCenter.US.PRODUCTION, or left out',
    )
  }
  refuseUnknownOptions('revokeTokens', options, REVOKE_OPTIONS)
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
  checkLockTimeout(options.lockTimeoutMs)
  checkProgress(options.onProgress)
  // One client per accounts server met: each token goes only to the one that issued it.
  const clients = new Map<Environment, ReturnType<typeof revocationClient>>()
  const clientFor = (token: OAuthToken) => {
    const environment = environmentOf(token, options.environment)
    let made = clients.get(environment)
    if (!made) clients.set(environment, (made = revocationClient(environment, options)))
    return made
  }
  const log = new SafeLog(options.logger)
  const matches = (token: OAuthToken): boolean =>
    userName !== undefined ? token.userSignature?.name === userName : token.clientId === clientId
  const revoked: string[] = []
  const failed: { id: string; code: string }[] = []
  for await (const token of eachToken(store, passOptions(options.onProgress))) {
    const id = token.id
    if (!matches(token) || !id) continue
    try {
      const { client, log: clientLog } = clientFor(token)
      const done = await revokeStoredToken(store, id, client, {
        when: matches,
        lockTimeoutMs: options.lockTimeoutMs,
        log: clientLog,
      })
      if (done.outcome === 'revoked') revoked.push(id)
    } catch (err) {
      failed.push({ id, code: (err as { code?: string }).code ?? 'UNKNOWN' })
      log.warn('token not revoked, kept', { id, user: token.userSignature?.name })
    }
  }
  if (revoked.length > 0) emit('tokens.purged', { reason: 'revoked', count: revoked.length })
  return { revoked, failed }
}
