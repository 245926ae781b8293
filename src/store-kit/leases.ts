import { setTimeout as sleepFor } from 'node:timers/promises'
import { TokenStoreError } from '../errors.js'
import type { TokenLock } from '../store.js'
import { Lease, type LeaseHold } from '../stores/lease.js'
import { renewal } from '../stores/token-locks.js'
import { wrapStoreError } from './errors.js'

/** What one try at a lease gives: the lease, or how long (ms) until it may be free. */
export type LeaseTry = LeaseHold | { readonly retryInMs: number }

/** How {@link takeLease} waits: checked lock options, and how often to look again. */
export interface TakeLeaseOptions {
  readonly timeoutMs: number
  readonly leaseMs: number
  readonly autoRenew: boolean
  /**
   * The longest wait between two tries (ms); default 50. A holder may release long before its
   * lease ends, so a waiter looks again at least this often. Lower is quicker, and busier.
   */
  readonly pollMs?: number
  /** For tests: how to wait. */
  readonly sleep?: (ms: number) => Promise<unknown>
}

/**
 * The waiting half of `lockToken` for a store whose backend can only be asked "may I have it
 * now?" (a compare-and-set on a lease key): tries `tryTake` until it gives a {@link LeaseHold}
 * or `timeoutMs` has passed, then hands out a {@link Lease} renewed every third of `leaseMs`
 * (unless `autoRenew` is off). A failing backend is a `TokenStoreError` with operation `'lock'`,
 * and so is a lease not had in time.
 *
 * @example
 * return takeLease('MyStore', id, { ...lockOptions('MyStore', options), leaseMs }, async () =>
 *   (await backend.claim(id, leaseMs)) ? hold : { retryInMs: leaseMs },
 * )
 */
export async function takeLease(
  store: string,
  id: string,
  options: TakeLeaseOptions,
  tryTake: () => Promise<LeaseTry>,
): Promise<TokenLock> {
  const { timeoutMs, pollMs = 50, sleep = sleepFor } = options
  const deadline = Date.now() + timeoutMs
  for (;;) {
    let got: LeaseTry
    try {
      got = await tryTake()
    } catch (err) {
      throw wrapStoreError(store, 'lock', err)
    }
    if (!('retryInMs' in got)) return new Lease(store, `token ${id}`, got, renewal(options))
    const left = deadline - Date.now()
    if (left <= 0) {
      throw new TokenStoreError(store, 'lock', `could not lock token ${id} within ${timeoutMs} ms`)
    }
    await sleep(Math.max(1, Math.min(left, pollMs, got.retryInMs)))
  }
}
