import { createHash } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'
import { assertId, type TokenStore } from './store.js'
import type { OAuthToken } from './token.js'

/** The states of a stored token, as its keeper sees them. */
export const TOKEN_STATES = ['active', 'failing', 'reauth_required'] as const

/**
 * `active`: refreshed when due. `failing`: its last refreshes failed for a reason that may pass
 * (network, server, rate limit); tried again after a backoff. `reauth_required`: the accounts
 * server refused its refresh token for good; never sent again until a new consent replaces it.
 */
export type TokenState = (typeof TOKEN_STATES)[number]

/** A token's health: its state and, while it fails, how. */
export interface TokenHealth {
  readonly state: TokenState
  /** Failed refreshes in a row (0 when active). */
  readonly attempts: number
  /** While failing: no refresh is tried before this (epoch ms). */
  readonly nextAttemptAt?: number | undefined
  /** The code of the last error (`NETWORK_ERROR`, `invalid_code`, ...). */
  readonly lastErrorCode?: string | undefined
  /** When the token entered this state (epoch ms). */
  readonly since: number
  /**
   * When a session last recorded a use of it (epoch ms; see `SessionConfig.recordUseEveryMs`),
   * when one did since its refresh token was issued.
   */
  readonly lastUsedAt?: number | undefined
}

/** A healthy token: what a token without a health record is. */
export const ACTIVE: TokenHealth = Object.freeze({ state: 'active', attempts: 0, since: 0 })

/**
 * What a store offers when it keeps each token's health beside it (an additive column or
 * field, which the official SDKs neither read nor write). A health record names the refresh
 * token it is about: when the row's refresh token changes (a new consent, by tokenkeeper or by
 * an official SDK), the record no longer applies and the token reads as active.
 */
export interface HealthTracking {
  /** The health records of these tokens, as stored (encoded); ids without one are left out. */
  findHealth(ids: readonly string[]): Promise<Map<string, string>>
  /** Stores a token's health record (encoded), or removes it with `null`. A missing row is ignored. */
  saveHealth(id: string, record: string | null): Promise<void>
}

/** Whether a store offers {@link HealthTracking}. */
export function supportsHealth(store: TokenStore): store is TokenStore & HealthTracking {
  const s = store as Partial<HealthTracking>
  return typeof s.findHealth === 'function' && typeof s.saveHealth === 'function'
}

/** The longest health record a store must keep (characters). */
export const MAX_HEALTH_LENGTH = 200

/** A short digest of a refresh token: which one a health record is about, never the token. */
function tagOf(refreshToken: string | undefined): string {
  return createHash('sha256')
    .update(refreshToken ?? '')
    .digest('base64url')
    .slice(0, 16)
}

/** The stored form of a token's health, bound to its current refresh token. */
export function encodeHealth(token: OAuthToken, health: TokenHealth): string {
  const record = {
    v: 1,
    s: health.state,
    a: health.attempts,
    ...(health.nextAttemptAt !== undefined && { n: health.nextAttemptAt }),
    ...(health.lastErrorCode !== undefined && { e: health.lastErrorCode.slice(0, 60) }),
    t: health.since,
    ...(health.lastUsedAt !== undefined && { u: health.lastUsedAt }),
    rt: tagOf(token.refreshToken),
  }
  return JSON.stringify(record)
}

/**
 * What a store keeps for a token's health: nothing for an active token whose use nobody
 * recorded (the common case costs no write), else its record.
 */
export function storedHealth(token: OAuthToken, health: TokenHealth): string | null {
  return health.state === 'active' && health.lastUsedAt === undefined
    ? null
    : encodeHealth(token, health)
}

/**
 * A token's health from its stored record: {@link ACTIVE} without one, when the record is
 * about another refresh token, or when it cannot be read (a record written by something else
 * is never trusted to stop refreshes).
 */
export function decodeHealth(token: OAuthToken, record: string | null | undefined): TokenHealth {
  if (typeof record !== 'string' || record.length > MAX_HEALTH_LENGTH) return ACTIVE
  let parsed: unknown
  try {
    parsed = JSON.parse(record)
  } catch {
    return ACTIVE
  }
  if (typeof parsed !== 'object' || parsed === null) return ACTIVE
  const r = parsed as Record<string, unknown>
  const count = (v: unknown): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (
    r.v !== 1 ||
    !TOKEN_STATES.includes(r.s as TokenState) ||
    !count(r.a) ||
    !count(r.t) ||
    (r.n !== undefined && !count(r.n)) ||
    (r.u !== undefined && !count(r.u)) ||
    (r.e !== undefined && (typeof r.e !== 'string' || !/^[\w.-]{1,60}$/.test(r.e))) ||
    r.rt !== tagOf(token.refreshToken)
  ) {
    return ACTIVE
  }
  return {
    state: r.s as TokenState,
    attempts: r.a,
    ...(r.n !== undefined && { nextAttemptAt: r.n }),
    ...(r.e !== undefined && { lastErrorCode: r.e }),
    since: r.t,
    ...(r.u !== undefined && { lastUsedAt: r.u }),
  }
}

/** The health of each token, read in one call where the store keeps health; else all active. */
export async function healthOf(
  store: TokenStore,
  tokens: readonly OAuthToken[],
): Promise<Map<OAuthToken, TokenHealth>> {
  const out = new Map<OAuthToken, TokenHealth>()
  const ids = tokens.flatMap((t) => (t.id === undefined ? [] : [t.id]))
  const records = supportsHealth(store) && ids.length > 0 ? await store.findHealth(ids) : undefined
  for (const token of tokens) {
    out.set(token, decodeHealth(token, token.id === undefined ? null : records?.get(token.id)))
  }
  return out
}

/** How long a failing token waits before the next try: doubling from 30 s, at most 1 hour. */
export function backoffMs(attempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, attempts - 1))
}

/** Server errors that refuse a refresh token for good: the user must consent again. */
const REFUSED_FOR_GOOD: ReadonlySet<string> = new Set(['invalid_grant', 'invalid_code'])

/** Whether a refresh's error means the refresh token is dead (see {@link REFUSED_FOR_GOOD}). */
export function refusedForGood(err: unknown): boolean {
  const e = err as { code?: unknown; serverError?: unknown }
  return (
    e.code === 'INVALID_TOKEN_ERROR' &&
    typeof e.serverError === 'string' &&
    REFUSED_FOR_GOOD.has(e.serverError)
  )
}

/** Checks a health record given to a store, the way every store does. */
export function assertHealthRecord(record: unknown): asserts record is string | null {
  if (record === null) return
  if (typeof record !== 'string' || record.length === 0 || record.length > MAX_HEALTH_LENGTH) {
    throw new InvalidArgumentError(
      'record',
      `a health record is null or a string of 1 to ${MAX_HEALTH_LENGTH} characters (see encodeHealth)`,
    )
  }
}

/** Checks the ids given to `findHealth`: an array of token ids. */
export function assertHealthIds(ids: unknown): asserts ids is readonly string[] {
  if (!Array.isArray(ids)) {
    throw new InvalidArgumentError('ids', 'findHealth takes an array of token ids')
  }
  for (const id of ids) assertId(id, 'ids[]')
}
