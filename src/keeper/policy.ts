// Which stored tokens a keeper pass refreshes: the one rule, from the pass's policy, the
// tokens' expiries and their health.
import type { TokenHealth } from '../health.js'
import type { TokenStore } from '../store.js'
import { needsRefresh, type OAuthToken } from '../token.js'
import { dueTokenPages } from './due-tokens.js'

/** What decides a pass (see `TokenKeeperOptions`). */
export interface KeepPolicy {
  readonly refreshAheadMs: number
  readonly pageSize: number
  readonly usedWithinMs?: number | undefined
  readonly refreshIdleAfterMs?: number | undefined
}

/**
 * What a pass does with a token it read: nothing (`notDue`), count it (`reauthRequired`,
 * `deferred` while a failing token's backoff runs, `idle` when not in use), or refresh it
 * (`refresh`; `keepAlive` for an idle one whose refresh token must be used).
 */
export type Verdict = 'notDue' | 'reauthRequired' | 'deferred' | 'idle' | 'refresh' | 'keepAlive'

export function verdict(
  policy: KeepPolicy,
  token: OAuthToken,
  health: TokenHealth,
  now: number,
): Verdict {
  const { refreshAheadMs, usedWithinMs, refreshIdleAfterMs } = policy
  if (!needsRefresh(token, now, refreshAheadMs)) return 'notDue'
  const { state, nextAttemptAt = 0, lastUsedAt = -Infinity } = health
  if (state === 'reauth_required') return 'reauthRequired'
  if (state === 'failing' && nextAttemptAt > now) return 'deferred'
  if (usedWithinMs === undefined || lastUsedAt >= now - usedWithinMs) return 'refresh'
  // Without refreshIdleAfterMs no expiry is old enough.
  return token.expiryTime! <= now - (refreshIdleAfterMs ?? Infinity) ? 'keepAlive' : 'idle'
}

/**
 * The pages of tokens a pass reads. Every token kept: those that expire within
 * `refreshAheadMs`. Only those in use: a token used within `usedWithinMs` was valid when used,
 * so it expires later than that; older expiries are read only as far as they are due for a
 * keep-alive (expired `refreshIdleAfterMs` ago), so an idle token that is neither costs nothing.
 */
export async function* passPages(
  store: TokenStore,
  policy: KeepPolicy,
  now: number,
): AsyncGenerator<OAuthToken[]> {
  const { refreshAheadMs, pageSize, usedWithinMs, refreshIdleAfterMs } = policy
  const before = now + refreshAheadMs
  if (usedWithinMs === undefined) {
    yield* dueTokenPages(store, { before }, pageSize)
    return
  }
  const from = now - usedWithinMs
  if (refreshIdleAfterMs !== undefined) {
    // Up to the in-use range, which starts at `from`: no token is read twice.
    const idleBefore = Math.min(from - 1, now - refreshIdleAfterMs)
    yield* dueTokenPages(store, { before: idleBefore }, pageSize)
  }
  yield* dueTokenPages(store, { before, from }, pageSize)
}
