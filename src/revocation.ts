import { withTokenLock } from './refresh/lease.js'
import { TokenConflictError } from './errors.js'
import { emit } from './events.js'
import { SafeLog, type Logger } from './log.js'
import { AccountsClient, CLIENT_DEFAULTS } from './oauth/client.js'
import type { Environment } from './oauth/environments.js'
import { type TokenStore } from './store.js'
import { rowFromToken, rowHolds } from './store/rows.js'
import type { OAuthToken } from './token.js'
import { traced } from './telemetry/tracing.js'

/** How a revocation reaches the accounts server. */
export interface RevocationClientOptions {
  logger?: Logger | undefined
  fetch?: typeof globalThis.fetch | undefined
  /** Give up on one request after this long (ms); default 30000. */
  requestTimeoutMs?: number | undefined
}

/** The accounts client that maintenance revokes with, with a session's defaults. */
export function revocationClient(
  environment: Environment,
  options: RevocationClientOptions = {},
): { client: AccountsClient; log: SafeLog } {
  const log = new SafeLog(options.logger)
  const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const client = new AccountsClient(environment, {
    fetch,
    ...CLIENT_DEFAULTS,
    requestTimeoutMs: options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs,
    now: () => Date.now(),
    log,
  })
  return { client, log }
}

/** What {@link revokeStoredToken} did with one token. */
export type Revocation =
  /** Revoked at the accounts server, then its row deleted. */
  | { readonly outcome: 'revoked'; readonly token: OAuthToken }
  /** No row under the id any more (and no `known` token): nothing was sent. */
  | { readonly outcome: 'gone' }
  /** The row as read under the lease no longer satisfies `when`: nothing was sent, it is kept. */
  | { readonly outcome: 'kept'; readonly token: OAuthToken }

/** Options of {@link revokeStoredToken}. */
export interface RevokeStoredOptions {
  /**
   * The caller's own copy of the token (a session's): revoked as well when the row is gone or
   * holds another refresh token, since the caller's copy may be the newer one.
   */
  known?: OAuthToken | undefined
  /** Revoke only while the row, as read under the lease, satisfies this. */
  when?: ((token: OAuthToken) => boolean) | undefined
  /** How long to wait for the token's lease (ms); default that of `withTokenLock`. */
  lockTimeoutMs?: number | undefined
  log?: SafeLog | undefined
}

/** Revokes a token's refresh token, or without one its access token, at the accounts server. */
async function revokeAtServer(
  client: AccountsClient,
  token: OAuthToken,
  log: SafeLog,
): Promise<void> {
  log.forget(token.clientSecret, token.refreshToken, token.accessToken, token.grantToken)
  const target = token.refreshToken ?? token.accessToken
  if (target) {
    await traced('revoke', 'tokenkeeper.revoke', { 'tokenkeeper.token.id': token.id }, () =>
      client.revoke(target, { clientId: token.clientId, clientSecret: token.clientSecret }),
    )
  }
}

/** A store that keeps writing a token while it is being revoked is not waited for forever. */
const MAX_ROUNDS = 3

/**
 * Revoke-then-delete, the one place it is written (the session, the policies and the CLI use
 * it). Under the token's lease (when the store offers locking), the row is read again and its
 * CURRENT refresh token (or, without one, its access token) is revoked: the one a refresh that
 * just finished may have rotated. The row is deleted only while it still holds what was revoked;
 * if a writer that ignores leases replaced it meanwhile, the new token is revoked too. A
 * revocation the server refuses or cannot take rejects with its error, and the row is kept.
 * Without an `id` (a token never stored), only `known` is revoked.
 */
export async function revokeStoredToken(
  store: TokenStore,
  id: string | undefined,
  client: AccountsClient,
  options: RevokeStoredOptions = {},
): Promise<Revocation> {
  const log = options.log ?? new SafeLog(undefined)
  const { known } = options
  if (id === undefined) {
    // A token that was never stored (a custom store that gives no ids): only the caller's copy.
    if (!known) return { outcome: 'gone' }
    await revokeAtServer(client, known, log)
    emit('token.revoked', { id, user: known.userSignature?.name })
    return { outcome: 'revoked', token: known }
  }
  return withTokenLock(
    store,
    id,
    async (): Promise<Revocation> => {
      let token = await store.findTokenById(id)
      if (token && options.when && !options.when(token)) return { outcome: 'kept', token }
      if (known && known.refreshToken !== token?.refreshToken) {
        // The caller's copy may be newer than the row (its save failed) or the row gone.
        await revokeAtServer(client, known, log)
      }
      if (!token) {
        if (!known) return { outcome: 'gone' }
        emit('token.revoked', { id, user: known.userSignature?.name })
        return { outcome: 'revoked', token: known }
      }
      for (let round = 1; ; round += 1) {
        await revokeAtServer(client, token, log)
        const again = await store.findTokenById(id)
        if (!again) break
        if (rowHolds(rowFromToken(again, id), token)) {
          await store.deleteToken(id)
          break
        }
        // Only a writer that ignores the lease gets here (a store without locking).
        if (round >= MAX_ROUNDS) {
          throw new TokenConflictError(
            id,
            `token ${id} kept changing while it was revoked (${round} times); it is kept: ` +
              'stop what refreshes it and revoke it again',
          )
        }
        log.warn('token changed while it was revoked; revoking the new one', { id })
        token = again
      }
      emit('token.revoked', { id, user: token.userSignature?.name })
      return { outcome: 'revoked', token }
    },
    options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs },
  )
}
