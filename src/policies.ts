import { withTokenLock } from './refresh/lease.js'
import { InvalidArgumentError, refuseUnknownOptions, TokenStoreError } from './errors.js'
import { emit } from './events.js'
import { eachToken } from './iteration.js'
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

export function checkStore(store: unknown): asserts store is TokenStore {
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof (store as TokenStore).getTokens !== 'function'
  ) {
    throw new InvalidArgumentError('store', 'store must be a TokenStore')
  }
}

export function checkProgress(value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidArgumentError('onProgress', 'onProgress must be a function')
  }
}

/** The options of `eachToken` for a policy's pass. */
export function passOptions(onProgress: ((seen: number) => void) | undefined) {
  return onProgress ? { onProgress } : {}
}

export function checkLockTimeout(value: unknown): void {
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
