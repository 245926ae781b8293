import { TokenStoreError } from '../errors.js'
import {
  supportsConditionalSave,
  supportsLocking,
  type TokenLock,
  type TokenStore,
} from '../store.js'
import { DEFAULT_LOCK_WAIT_MS } from '../stores/lease.js'
import type { OAuthToken } from '../token.js'

/**
 * Runs `work` under the store's lease on one token, when the store offers locking, and releases
 * it afterwards whatever happens. Every write that must not race a refresh of the same token
 * (a refresh itself, rekey, purge, revoke, migrate, the CLI's per-token commands) goes through
 * here; the work re-reads the token inside before it writes.
 */
export async function withTokenLock<T>(
  store: TokenStore,
  id: string,
  work: (lock: TokenLock | undefined) => Promise<T>,
  options: {
    timeoutMs?: number
    onLocked?: (waitedMs: number) => void
    /** What to answer, instead of failing, when the lease is not had within `timeoutMs`. */
    ifBusy?: () => T
  } = {},
): Promise<T> {
  if (!supportsLocking(store)) return work(undefined)
  const waiting = performance.now()
  let lock: TokenLock
  try {
    lock = await store.lockToken(id, { timeoutMs: options.timeoutMs ?? DEFAULT_LOCK_WAIT_MS })
  } catch (err) {
    // A store answers a lease it could not have, or could not ask for, with a TokenStoreError
    // of operation 'lock': the token is left to whoever holds it.
    if (options.ifBusy && err instanceof TokenStoreError && err.operation === 'lock') {
      return options.ifBusy()
    }
    throw err
  }
  try {
    options.onLocked?.(Math.round(performance.now() - waiting))
    return await work(lock)
  } finally {
    await lock.release()
  }
}

/**
 * Saves `token` over the row `expected` was read from, for work under the token's lease: with
 * `saveTokenIf` where the store offers it (false, nothing written, when the row no longer holds
 * `expected`), else a plain save, which the lease and the caller's re-read make safe against
 * every writer that takes the lease.
 */
export async function saveOver(
  store: TokenStore,
  token: OAuthToken,
  expected: OAuthToken,
): Promise<boolean> {
  if (supportsConditionalSave(store)) return store.saveTokenIf(token, expected)
  await store.saveToken(token)
  return true
}
