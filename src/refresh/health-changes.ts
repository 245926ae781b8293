// What a refresh records of a token's health: a failure that may pass (`failing`, with a
// backoff), a refresh token refused for good (`reauth_required`), a recovery; each change of
// state an event, and told to the refresh's owner (the keeper's webhooks).
import {
  ReauthRequiredError,
  InvalidTokenError,
  NetworkError,
  TimeoutError,
  ServerError,
  RateLimitError,
  InvalidResponseError,
} from '../errors.js'
import {
  ACTIVE,
  backoffMs,
  decodeHealth,
  storedHealth,
  refusedForGood,
  supportsHealth,
  type TokenHealth,
} from '../health.js'
import { emit } from '../events.js'
import { who } from '../log.js'
import type { TokenStore } from '../store.js'
import { storeOp } from '../telemetry/tracing.js'
import type { OAuthToken } from '../token.js'
import type { RefreshContext } from './coordinator.js'

/** A token's health changed: from `previous` to `health`. */
export interface HealthChange {
  readonly id: string
  readonly user: string | undefined
  readonly previous: TokenHealth
  readonly health: TokenHealth
}

/** The stored health of a token, where the store keeps health; active otherwise. */
export async function readHealth(store: TokenStore, token: OAuthToken): Promise<TokenHealth> {
  if (!supportsHealth(store) || token.id === undefined) return ACTIVE
  const id = token.id
  const records = await storeOp(store, 'findHealth', () => store.findHealth([id]))
  return decodeHealth(token, records.get(id))
}

/**
 * Records a failed refresh in the token's health, and gives the error to throw: a refresh
 * token refused for good makes the token `reauth_required` (a {@link ReauthRequiredError}
 * whose cause is the server's answer); any other failure of the request makes it `failing`,
 * with a backoff (at least what a rate limit asked for). Errors that are not the server's
 * (a missing refresh token, a store error) leave its health as it is.
 */
export async function recordFailure(
  context: RefreshContext,
  token: OAuthToken,
  previous: TokenHealth,
  err: unknown,
): Promise<unknown> {
  const id = token.id!
  const at = context.now()
  const code = (err as { code?: unknown }).code
  if (refusedForGood(err)) {
    const health: TokenHealth = {
      state: 'reauth_required',
      attempts: previous.attempts + 1,
      lastErrorCode: (err as InvalidTokenError).serverError,
      since: at,
    }
    await changeHealth(context, token, previous, health)
    context.log.warn(
      'the refresh token was refused for good: the user must sign in again',
      who(token),
    )
    return new ReauthRequiredError(id, at, { cause: err })
  }
  if (!SERVER_FAILURES.has(String(code))) return err
  const attempts = previous.state === 'failing' ? previous.attempts + 1 : 1
  const asked = err instanceof RateLimitError ? (err.retryAfterMs ?? 0) : 0
  const health: TokenHealth = {
    state: 'failing',
    attempts,
    nextAttemptAt: at + Math.max(backoffMs(attempts), asked),
    lastErrorCode: String(code),
    since: previous.state === 'failing' ? previous.since : at,
  }
  await changeHealth(context, token, previous, health)
  return err
}

/** Failures of the request to the accounts server, which may pass: the token is `failing`. */
const SERVER_FAILURES: ReadonlySet<string> = new Set([
  NetworkError.code,
  TimeoutError.code,
  ServerError.code,
  RateLimitError.code,
  InvalidResponseError.code,
  InvalidTokenError.code,
])

/** A failing token was refreshed: its health record goes, and the change is told. */
export async function recordRecovery(
  context: RefreshContext,
  token: OAuthToken,
  previous: TokenHealth,
): Promise<void> {
  context.log.info('the token refreshes again', who(token))
  await changeHealth(context, token, previous, { ...ACTIVE, since: context.now() })
}

/**
 * Stores a token's new health (best effort: the refresh's own outcome stands if the store
 * cannot) and tells of a change of state.
 */
export async function changeHealth(
  context: RefreshContext,
  token: OAuthToken,
  previous: TokenHealth,
  health: TokenHealth,
): Promise<void> {
  const { store, log } = context
  const id = token.id!
  // A change of state keeps the token's last recorded use: the keeper still needs it.
  health = { ...health, lastUsedAt: health.lastUsedAt ?? previous.lastUsedAt }
  if (supportsHealth(store)) {
    try {
      const record = storedHealth(token, health)
      await storeOp(store, 'saveHealth', () => store.saveHealth(id, record))
    } catch (err) {
      log.warn('the token health could not be saved', {
        id,
        errorCode: (err as { code?: string }).code ?? 'UNKNOWN',
      })
    }
  }
  if (previous.state === health.state) return
  const user = token.userSignature?.name
  if (health.state === 'failing') {
    emit('token.failing', {
      id,
      user,
      attempts: health.attempts,
      code: health.lastErrorCode ?? 'UNKNOWN',
      nextAttemptAt: health.nextAttemptAt ?? 0,
    })
  } else if (health.state === 'reauth_required') {
    emit('token.reauthRequired', { id, user, code: health.lastErrorCode ?? 'UNKNOWN' })
  } else {
    emit('token.recovered', { id, user })
  }
  context.onHealthChange?.({ id, user, previous, health })
}
