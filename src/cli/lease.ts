import { DEFAULT_LOCK_WAIT_MS } from '../stores/lease.js'
import { withTokenLock } from '../refresh/lease.js'
import { TokenStoreError } from '../errors.js'
import { supportsLocking, type TokenStore } from '../store.js'
import { CliError } from './shared.js'

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`

function lockError(err: unknown): boolean {
  return err instanceof TokenStoreError && err.operation === 'lock'
}

/**
 * Tells the operator, on stderr, when a token's lease is held by someone else (a refresh in
 * progress, here or in another process) and the command is about to wait for it. Tries the
 * lease without waiting and lets go of it at once.
 */
export async function noticeIfBusy(
  store: TokenStore,
  id: string,
  timeoutMs = DEFAULT_LOCK_WAIT_MS,
): Promise<void> {
  if (!supportsLocking(store)) return
  try {
    const lock = await store.lockToken(id, { timeoutMs: 0 })
    await lock.release()
  } catch (err) {
    if (!lockError(err)) throw err
    process.stderr.write(
      `tokenkeeper: token ${id} is in use (a refresh in progress?); waiting up to ${seconds(timeoutMs)} for it\n`,
    )
  }
}

/**
 * Runs a per-token command's work under the token's lease, as a refresh does, after
 * {@link noticeIfBusy}. A lease not had within `timeoutMs` is an error that says what to do.
 */
export async function underLease<T>(
  store: TokenStore,
  id: string,
  work: () => Promise<T>,
  timeoutMs = DEFAULT_LOCK_WAIT_MS,
): Promise<T> {
  await noticeIfBusy(store, id, timeoutMs)
  let started = false
  try {
    return await withTokenLock(
      store,
      id,
      () => {
        started = true
        return work()
      },
      { timeoutMs },
    )
  } catch (err) {
    if (started || !lockError(err)) throw err
    throw new CliError(
      `token ${id} stayed in use for ${seconds(timeoutMs)}; nothing was changed: try again later`,
    )
  }
}
