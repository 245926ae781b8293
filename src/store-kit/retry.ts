import { setTimeout as sleepFor } from 'node:timers/promises'
import { InvalidArgumentError } from '../errors.js'

/**
 * A write lost a race: what it read changed before it wrote (a compare-and-set refused, a
 * unique key taken first). Nothing was written; the write may be planned again from a fresh
 * read. Throw it from an attempt and let {@link retry} try again ({@link isConflict}).
 */
export class StoreConflict extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreConflict'
  }
}

/** Whether an error is a {@link StoreConflict}: the `retryable` of a compare-and-set store. */
export function isConflict(err: unknown): boolean {
  return err instanceof StoreConflict
}

/** How {@link retry} tries again. */
export interface RetryPolicy {
  /** Which failures are transient (a lost race, a dropped connection); others fail at once. */
  readonly retryable: (err: unknown) => boolean
  /** Attempts in all, the first included; default 5. */
  readonly attempts?: number
  /**
   * Give up once this much time (ms) has passed since the first attempt, even with attempts
   * left; no wait is started that would end past it. Default: no limit but `attempts`.
   */
  readonly deadlineMs?: number
  /** The wait before the second attempt is up to this (ms), doubling each time; default 10. */
  readonly baseDelayMs?: number
  /** The longest wait between two attempts (ms); default 500. */
  readonly maxDelayMs?: number
  /** Called before each wait: for a log line or a counter. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  /** For tests: how to wait, what time it is, and the random draw in [0, 1). */
  readonly sleep?: (ms: number) => Promise<unknown>
  readonly now?: () => number
  readonly random?: () => number
}

/**
 * Runs `attempt` until it succeeds, a failure is not `retryable`, or the attempts or the
 * deadline run out; then the last failure is thrown as it was (wrap it with `wrapStoreError`).
 * Waits between attempts grow exponentially with full jitter (a random wait up to
 * `min(maxDelayMs, baseDelayMs * 2^(n-1))`), so that writers that collided do not collide again
 * in step. `attempt` gets the attempt's number, from 1.
 *
 * @example
 * await retry(() => casWrite(token), { retryable: isConflict, attempts: 20 })
 */
export async function retry<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const {
    retryable,
    attempts = 5,
    deadlineMs,
    baseDelayMs = 10,
    maxDelayMs = 500,
    onRetry,
    sleep = sleepFor,
    now = Date.now,
    random = Math.random,
  } = policy
  if (typeof retryable !== 'function') {
    throw new InvalidArgumentError('retryable', 'retry needs retryable: (err) => boolean')
  }
  if (!(Number.isInteger(attempts) && attempts >= 1)) {
    throw new InvalidArgumentError('attempts', `retry attempts must be an integer >= 1`)
  }
  for (const [name, value] of [
    ['deadlineMs', deadlineMs],
    ['baseDelayMs', baseDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new InvalidArgumentError(name, `retry ${name} must be a number >= 0`)
    }
  }
  const start = now()
  for (let n = 1; ; n += 1) {
    try {
      return await attempt(n)
    } catch (err) {
      if (n >= attempts || !retryable(err)) throw err
      const delay = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1))
      if (now() + delay - start > (deadlineMs ?? Infinity)) throw err
      onRetry?.(err, n, delay)
      await sleep(delay)
    }
  }
}
