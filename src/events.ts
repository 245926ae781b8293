import * as diagnostics from 'node:diagnostics_channel'

/**
 * What tokenkeeper tells an operator, on `node:diagnostics_channel` channels named
 * `tokenkeeper:<event>`: ids, user names, durations and error codes, never a secret.
 *
 * @example
 * import diagnostics from 'node:diagnostics_channel'
 * diagnostics.subscribe('tokenkeeper:token.refreshed', (event) => refreshes.inc())
 */
export interface TokenEvents {
  /** A grant code was exchanged for tokens. */
  'token.exchanged': { id: string | undefined; user: string | undefined; durationMs: number }
  /** An access token was refreshed at the accounts server. */
  'token.refreshed': { id: string | undefined; user: string | undefined; durationMs: number }
  /** A refresh failed; `code` is the error's code. */
  'token.refresh_failed': { id: string | undefined; user: string | undefined; code: string }
  /** A session waited for another process's lock on the token. */
  'token.lock_waited': { id: string; waitedMs: number }
  /** A refresh was refused, and the store held a token another process had refreshed meanwhile. */
  'token.race_recovered': { id: string; user: string | undefined }
  /** A refresh found its lease on the token lost before sending, and takes it again. */
  'token.lease_lost': { id: string }
  /**
   * A refresh could not save its token: another holder had saved a newer one meanwhile, which
   * the session uses instead.
   */
  'token.superseded': { id: string; user: string | undefined }
  /** Another session or process had already refreshed the token: no request was needed. */
  'token.reused': { id: string; user: string | undefined }
  /** A session recorded a use of the token in the store (see `SessionConfig.recordUseEveryMs`). */
  'token.use_recorded': { id: string; at: number }
  /** A token was saved by a session. */
  'token.saved': { id: string | undefined; user: string | undefined }
  /** A token was revoked at the accounts server. */
  'token.revoked': { id: string | undefined; user: string | undefined }
  /** A token's refresh failed for a reason that may pass; it is tried again after a backoff. */
  'token.failing': {
    id: string
    user: string | undefined
    attempts: number
    code: string
    nextAttemptAt: number
  }
  /** A failing token was refreshed again. */
  'token.recovered': { id: string; user: string | undefined }
  /** The accounts server refused a token's refresh token for good: the user must sign in again. */
  'token.reauthRequired': { id: string; user: string | undefined; code: string }
  /**
   * A use was taken from a provider budget (`refresh`: access tokens per refresh token;
   * `exchange`: grant codes per client), or refused.
   */
  'budget.taken': {
    kind: 'refresh' | 'exchange'
    granted: boolean
    remaining: number
    retryAfterMs: number
  }
  /** A keeper pass ended: what it found due and what became of each token. */
  'keeper.pass': {
    due: number
    refreshed: number
    fresh: number
    busy: number
    failed: number
    reauthRequired: number
    deferred: number
    limited: number
    skipped: number
    idle: number
    keptAlive: number
    startedAt: number
    durationMs: number
  }
  /** Tokens were deleted by a policy (`purgeTokens`, `revokeTokens`). */
  'tokens.purged': { reason: string; count: number }
}

export type TokenEventName = keyof TokenEvents

const channels = new Map<TokenEventName, diagnostics.Channel>()

/** The channel of one event, for subscribers: `channel('token.refreshed').subscribe(fn)`. */
export function channel(name: TokenEventName): diagnostics.Channel {
  let found = channels.get(name)
  if (!found) channels.set(name, (found = diagnostics.channel(`tokenkeeper:${name}`)))
  return found
}

/** Publishes an event when someone listens; costs nothing otherwise. */
export function emit<N extends TokenEventName>(name: N, event: TokenEvents[N]): void {
  const target = channel(name)
  if (target.hasSubscribers) target.publish(event)
}
