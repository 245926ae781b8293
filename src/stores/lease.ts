import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  describeCause,
} from '../errors.js'
import type { LockOptions, TokenLock } from '../store.js'
import { typeName } from '../token.js'

/**
 * How long a token lease lasts unless its holder renews it (ms): longer than one refresh attempt
 * can take (a request times out after 30 s by default), so that a holder that is only slow keeps
 * it even if a renewal is late, and short enough that a holder that vanished without releasing
 * (a machine that went away) blocks the others for a minute at most.
 */
export const DEFAULT_LEASE_MS = 60_000

/** The shortest lease a store accepts (ms); renewals run every third of it. */
export const MIN_LEASE_MS = 100

/** How long `lockToken` waits for a lease by default (ms). */
export const DEFAULT_LOCK_WAIT_MS = 10_000

/** Checks a store's `lockLeaseMs` option; the default when it is absent. */
export function leaseOption(store: string, value: unknown): number {
  if (value === undefined) return DEFAULT_LEASE_MS
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= MIN_LEASE_MS)) {
    throw new InvalidArgumentError(
      'lockLeaseMs',
      `${store} lockLeaseMs must be a number of milliseconds >= ${MIN_LEASE_MS}, got ${typeName(value)}`,
    )
  }
  return value
}

/** The options of `lockToken`, checked: unknown keys and wrong types are refused. */
export function lockOptions(
  store: string,
  options: LockOptions | undefined,
): { timeoutMs: number; autoRenew: boolean } {
  if (options === undefined) return { timeoutMs: DEFAULT_LOCK_WAIT_MS, autoRenew: true }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `${store}.lockToken options must be an object`)
  }
  refuseUnknownOptions(`${store}.lockToken`, options, ['timeoutMs', 'autoRenew'], 'options.')
  const { timeoutMs = DEFAULT_LOCK_WAIT_MS, autoRenew = true } = options
  if (!(typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
    throw new InvalidArgumentError(
      'timeoutMs',
      `${store}.lockToken timeoutMs must be a finite number >= 0, got ${typeName(timeoutMs)}`,
    )
  }
  if (typeof autoRenew !== 'boolean') {
    throw new InvalidArgumentError(
      'autoRenew',
      `${store}.lockToken autoRenew must be a boolean, got ${typeName(autoRenew)}`,
    )
  }
  return { timeoutMs, autoRenew }
}

/** What a backend does for a lease it granted: the store-specific half of a {@link Lease}. */
export interface LeaseHold {
  /**
   * Confirms the lease is still this holder's and extends it; `false` when it was lost (taken
   * over, expired, its connection gone). Throws when the backend cannot tell (unreachable).
   */
  extend(): Promise<boolean>
  /** Gives the lease up, only while it is still this holder's. */
  release(): Promise<void>
}

/**
 * A lease as every store hands it out: renewed every `renewEveryMs` while held (a timer that
 * does not keep the process alive, stopped on release), `renew()` on demand, and lost for good
 * once the backend says it is no longer ours. Renewals never overlap.
 */
export class Lease implements TokenLock {
  readonly #store: string
  readonly #what: string
  readonly #hold: LeaseHold
  readonly #timer: NodeJS.Timeout | undefined
  #lost: TokenStoreError | undefined
  #released: Promise<void> | undefined
  #renewing: Promise<void> = Promise.resolve()

  /**
   * `what` names the lease in messages (`token 0aB3...`); `renewEveryMs` undefined: renewed only
   * on demand (a lease held by a database connection has no time limit to push back).
   */
  constructor(store: string, what: string, hold: LeaseHold, renewEveryMs: number | undefined) {
    this.#store = store
    this.#what = what
    this.#hold = hold
    if (renewEveryMs !== undefined) {
      this.#timer = setInterval(() => {
        // A lost lease makes renew() reject from now on; a failed check is tried at the next tick.
        this.renew().catch(() => undefined)
      }, renewEveryMs)
      this.#timer.unref()
    }
  }

  /** Confirms the lease is still ours and extends it; rejects with a TokenStoreError when not. */
  renew(): Promise<void> {
    if (this.#released) {
      return Promise.reject(this.#error(`the lease on ${this.#what} was released`))
    }
    const next = this.#renewing.then(() => this.#renewOnce())
    this.#renewing = next.catch(() => undefined)
    return next
  }

  /** Gives the lease up; a second call does nothing. */
  release(): Promise<void> {
    this.#released ??= (async () => {
      clearInterval(this.#timer)
      await this.#renewing
      await this.#hold.release()
    })()
    return this.#released
  }

  async #renewOnce(): Promise<void> {
    if (this.#lost) throw this.#lost
    let ours: boolean
    try {
      ours = await this.#hold.extend()
    } catch (err) {
      throw this.#error(`could not confirm the lease on ${this.#what}: ${describeCause(err)}`, err)
    }
    if (!ours) {
      clearInterval(this.#timer)
      this.#lost = this.#error(
        `the lease on ${this.#what} was lost (it expired or another holder took it over); ` +
          'read the token again before writing it',
      )
      throw this.#lost
    }
  }

  #error(message: string, cause?: unknown): TokenStoreError {
    return new TokenStoreError(
      this.#store,
      'lock',
      message,
      cause === undefined ? undefined : { cause },
    )
  }
}
