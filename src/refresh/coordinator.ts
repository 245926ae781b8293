import {
  BudgetExceededError,
  InvalidTokenError,
  MandatoryValueError,
  ReauthRequiredError,
  TokenNotFoundError,
} from '../errors.js'
import { ACTIVE } from '../health.js'
import { emit } from '../events.js'
import { who, type SafeLog } from '../log.js'
import type { AccountsClient } from '../oauth/client.js'
import type { TokenGrant } from '../oauth/messages.js'
import { saveOver, withTokenLock } from './lease.js'
import {
  changeHealth,
  readHealth,
  recordFailure,
  recordRecovery,
  type HealthChange,
} from './health-changes.js'
import { takeFromBudget, type Budget } from '../budget.js'
import { storeOp, traced } from '../telemetry/tracing.js'
import type { TokenLock, TokenStore } from '../store.js'
import { needsRefresh, type OAuthToken } from '../token.js'

/**
 * What a refresh of a stored token needs: where the token is kept, the accounts server, the
 * log, and the rule's parameters. Sessions, the CLI, the portal and the keeper each hand theirs.
 */
export interface RefreshContext {
  readonly store: TokenStore
  readonly client: Pick<AccountsClient, 'refresh'>
  readonly log: SafeLog
  readonly now: () => number
  /** A token with less than this left is due (see `needsRefresh`). */
  readonly refreshSkewMs: number
  /** How long to wait for another holder's lease on the token (ms). */
  readonly lockTimeoutMs: number
  /**
   * The provider's limit on access tokens per refresh token, counted in the store (where it
   * counts budgets) for every process sharing it; absent: no limit is kept here.
   */
  readonly budget?: Budget | undefined
  /** Told of every change of a token's health this refresh made (for webhooks). */
  readonly onHealthChange?: ((change: HealthChange) => void) | undefined
}

/** One refresh asked for. */
export interface RefreshRequest {
  /** The token as the caller holds it: its id names the row, its credentials fill gaps. */
  readonly held: OAuthToken
  /**
   * Replace the access token even while it is valid, unless the stored one is no longer
   * `staleAccessToken` (someone replaced it meanwhile, and that answers).
   */
  readonly force?: boolean
  readonly staleAccessToken?: string | undefined
  /** The held token is newer than the stored one (its save failed): refresh from it. */
  readonly heldIsNewer?: boolean
  /**
   * `'wait'` (default) waits up to `lockTimeoutMs` for another holder's lease; `'try'` takes
   * the lease only if it is free at once, and otherwise answers `busy` (a background keeper
   * leaves a token another keeper holds).
   */
  readonly lease?: 'wait' | 'try'
  /**
   * Called with the new token as soon as the server gave it, before it is saved: with
   * rotation its refresh token is the only one the server still accepts, so a caller keeps it
   * even when the save then fails.
   */
  readonly onObtained?: (token: OAuthToken) => void
}

/**
 * How a refresh ended. `refreshed`: this call spent the refresh token and saved the answer;
 * `reused`: the store already held a token good enough (another caller or process refreshed
 * it); `superseded`: another holder saved a newer token while this one refreshed, and that one
 * stands; `limited`: the provider's budget for this refresh token is spent, and the current
 * access token, still valid, answers; `busy`: with `lease: 'try'`, another holder has the
 * token's lease.
 */
export type RefreshOutcome =
  | {
      readonly status: 'refreshed' | 'reused' | 'superseded' | 'limited'
      readonly token: OAuthToken
    }
  | { readonly status: 'busy' }

/** `base` with what the accounts server answered. */
export function withGrant(base: OAuthToken, grant: TokenGrant): OAuthToken {
  const next = base.clone()
  next.accessToken = grant.accessToken
  next.expiryTime = grant.expiryTime
  if (grant.refreshToken) next.refreshToken = grant.refreshToken
  if (grant.apiDomain) next.apiDomain = grant.apiDomain
  return next
}

/**
 * Refreshes in flight, per store and token: concurrent callers of one token in this process
 * (sessions, the CLI, a keeper) share one refresh.
 */
const inflight = new WeakMap<TokenStore, Map<string, Promise<RefreshOutcome>>>()

/**
 * The one refresh of a stored token, for every caller: one per token within the process
 * (single flight), one across processes and machines (the store's lease, when it has one),
 * the stored token read again under the lease (another holder may have refreshed it), a
 * refused refresh token checked against the store before it is declared dead (race
 * recovery), and the answer saved only over the row as it was read (a stale holder never
 * overwrites a newer token).
 *
 * @example
 * const outcome = await refreshStoredToken(context, { held: token, force: true })
 */
export async function refreshStoredToken(
  context: RefreshContext,
  request: RefreshRequest,
): Promise<RefreshOutcome> {
  const { store } = context
  const { held } = request
  const key = held.id ?? `new:${held.refreshToken ?? ''}`
  let flights = inflight.get(store)
  if (!flights) inflight.set(store, (flights = new Map<string, Promise<RefreshOutcome>>()))
  let flight = flights.get(key)
  if (!flight) {
    const attributes = {
      'tokenkeeper.token.id': held.id,
      'tokenkeeper.refresh.force': request.force ?? false,
      'tokenkeeper.refresh.lease': request.lease ?? 'wait',
    }
    flight = traced('refresh', 'tokenkeeper.refresh', attributes, () =>
      leased(context, request),
    ).finally(() => flights.delete(key))
    flights.set(key, flight)
  }
  return flight
}

/** How often a refresh takes the lease again after finding it lost. */
const LEASE_ATTEMPTS = 3

/**
 * Refreshes under the store's lease on the token, when it has one. A lease found lost just
 * before the request (this process was paused past it, and another may be refreshing) is
 * taken again, and the token read again, instead of spending the refresh token.
 */
async function leased(context: RefreshContext, request: RefreshRequest): Promise<RefreshOutcome> {
  const { store, log, lockTimeoutMs } = context
  const id = request.held.id
  if (!id) return refreshLocked(context, request, undefined)
  const tryOnly = request.lease === 'try'
  const onLocked = (waitedMs: number): void => {
    log.debug('token lock taken', { ...who(request.held), waitedMs })
    emit('token.lock_waited', { id, waitedMs })
  }
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await withTokenLock(store, id, (lock) => refreshLocked(context, request, lock), {
        timeoutMs: tryOnly ? 0 : lockTimeoutMs,
        onLocked,
        ...(tryOnly && { ifBusy: () => ({ status: 'busy' }) as const }),
      })
    } catch (err) {
      if (!(err instanceof LeaseLost)) throw err
      if (attempt >= LEASE_ATTEMPTS) throw err.cause
      log.warn(
        'the lease on the token was lost before refreshing; reading it again',
        who(request.held),
      )
      emit('token.lease_lost', { id })
    }
  }
}

async function refreshLocked(
  context: RefreshContext,
  request: RefreshRequest,
  lock: TokenLock | undefined,
): Promise<RefreshOutcome> {
  const { store, log, client, now, refreshSkewMs } = context
  const { held: current, force = false, staleAccessToken } = request
  const credentials = (token: OAuthToken): OAuthToken => {
    token.clientId ??= current.clientId
    token.clientSecret ??= current.clientSecret
    return token
  }
  // Another caller, or another process, may have refreshed it already.
  const stored = current.id ? await find(store, current.id) : null
  const health = stored ? await readHealth(store, stored) : ACTIVE
  if (stored && health.state === 'reauth_required') {
    // Refused for good before: never sent again until a new consent replaces the refresh token.
    throw new ReauthRequiredError(stored.id, health.since)
  }
  if (stored) {
    const usable = force
      ? stored.accessToken !== staleAccessToken && !needsRefresh(stored, now(), 0)
      : !needsRefresh(stored, now(), refreshSkewMs)
    if (usable) {
      log.debug('token already refreshed in the store', who(stored))
      emit('token.reused', { id: stored.id!, user: stored.userSignature?.name })
      return { status: 'reused', token: credentials(stored) }
    }
  }
  // After a failed save the caller holds a newer token than the store (with rotation, the
  // only refresh token the server still accepts): start from it.
  let base = credentials(request.heldIsNewer || !stored ? current.clone() : stored)
  // What the row must still hold for the new token to be saved over it.
  let expected = stored ?? undefined
  if (!base.refreshToken || !base.clientId || !base.clientSecret) {
    throw new MandatoryValueError(
      `${force ? 'the token cannot be refreshed' : 'the access token has expired and cannot be renewed'}: ` +
        'the token has no refresh token, client id and client secret',
    )
  }
  const spend = async (from: OAuthToken): Promise<TokenGrant> => {
    await confirmLease(lock)
    await takeBudget(context, from)
    return client.refresh({
      clientId: from.clientId!,
      clientSecret: from.clientSecret!,
      refreshToken: from.refreshToken!,
    })
  }
  const started = performance.now()
  let grant: TokenGrant
  try {
    try {
      grant = await spend(base)
    } catch (err) {
      if (err instanceof LeaseLost || err instanceof BudgetSpent) throw err
      emit('token.refresh_failed', {
        ...who(current),
        code: (err as { code?: string }).code ?? 'UNKNOWN',
      })
      if (!(err instanceof InvalidTokenError) || !current.id) throw err
      // Refused: another process may have rotated the refresh token meanwhile. Read again
      // before declaring the token dead; a stored token is never deleted for losing a race.
      const again = await find(store, current.id)
      if (!again?.refreshToken || again.refreshToken === base.refreshToken) throw err
      log.warn('refresh token was replaced meanwhile, using the new one', who(again))
      emit('token.race_recovered', { id: current.id, user: again.userSignature?.name })
      if (!needsRefresh(again, now(), refreshSkewMs)) {
        return { status: 'reused', token: credentials(again) }
      }
      base = credentials(again)
      expected = again
      grant = await spend(base)
    }
  } catch (err) {
    if (err instanceof BudgetSpent) {
      // Over the provider's limit: the current access token answers while it is valid.
      const held = stored ?? base
      if (held.accessToken !== undefined && !needsRefresh(held, now(), 0)) {
        log.info('the refresh budget is spent; the current access token answers', who(held))
        return { status: 'limited', token: credentials(held) }
      }
      throw new BudgetExceededError(
        `token ${current.id ?? '(new)'} has used its budget of ${err.budget.limit} access tokens in ${Math.round(err.budget.windowMs / 1000)} s, and its access token has expired: try again in ${Math.ceil(err.retryAfterMs / 1000)} s`,
        err.retryAfterMs,
      )
    }
    if (err instanceof LeaseLost || !stored?.id) throw err
    throw await recordFailure(context, base, health, err)
  }
  const next = withGrant(base, grant)
  log.forget(next.accessToken, next.refreshToken)
  log.info('token refreshed', who(next))
  emit('token.refreshed', { ...who(next), durationMs: Math.round(performance.now() - started) })
  request.onObtained?.(next.clone())
  if (await save(store, next, expected)) {
    log.debug('token saved', who(next))
    emit('token.saved', who(next))
    if (health.state !== 'active') await recordRecovery(context, next, health)
    else if (health.lastUsedAt !== undefined && next.refreshToken !== base.refreshToken) {
      // A record names the refresh token it is about: a rotated one carries the last use over.
      await changeHealth(context, next, health, health)
    }
    return { status: 'refreshed', token: next }
  }
  // The row changed since it was read: another holder (this one lost its lease meanwhile)
  // saved a newer token. That one stands; it is never overwritten.
  const winner = next.id === undefined ? null : await find(store, next.id)
  if (!winner) {
    throw new TokenNotFoundError(
      `token ${next.id} was deleted from the store while it was being refreshed; it was not saved again`,
    )
  }
  log.warn('another process saved a newer token meanwhile; using the stored one', who(winner))
  emit('token.superseded', { id: winner.id!, user: winner.userSignature?.name })
  return { status: 'superseded', token: credentials(winner) }
}

/** The provider's budget for a refresh token is spent; nothing was sent. */
class BudgetSpent extends Error {
  constructor(
    readonly budget: Budget,
    readonly retryAfterMs: number,
  ) {
    super('the refresh budget is spent')
  }
}

/**
 * Takes one access token from the refresh token's budget, where a budget is set and the store
 * counts budgets; a spent budget is {@link BudgetSpent}, and nothing is sent.
 */
async function takeBudget(context: RefreshContext, from: OAuthToken): Promise<void> {
  const { store, budget, now } = context
  if (!budget || !from.refreshToken) return
  const answer = await takeFromBudget(store, 'refresh', from.refreshToken, budget, now())
  if (answer && !answer.granted) throw new BudgetSpent(budget, answer.retryAfterMs)
}

/** Reads a stored token by id, traced. */
function find(store: TokenStore, id: string): Promise<OAuthToken | null> {
  return storeOp(store, 'findById', () => store.findTokenById(id), { 'tokenkeeper.token.id': id })
}

/** Saves over the row as it was read, where there was one; `false` when it changed since. */
async function save(
  store: TokenStore,
  token: OAuthToken,
  expected: OAuthToken | undefined,
): Promise<boolean> {
  if (expected && token.id !== undefined) {
    return storeOp(store, 'saveIf', () => saveOver(store, token, expected))
  }
  await storeOp(store, 'save', () => store.saveToken(token))
  return true
}

/** The lease was lost before the refresh request went out; `cause` is the store's error. */
class LeaseLost extends Error {
  constructor(override readonly cause: unknown) {
    super('the lease on the token was lost', { cause })
  }
}

/** Confirms (and extends) the lease right before a refresh token is spent. */
async function confirmLease(lock: TokenLock | undefined): Promise<void> {
  if (!lock?.renew) return
  try {
    await lock.renew()
  } catch (err) {
    throw new LeaseLost(err)
  }
}
