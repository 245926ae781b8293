import { createHash } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'
import { emit } from './events.js'
import { storeOp } from './telemetry/tracing.js'
import type { Budget } from './providers/provider.js'
import type { TokenStore } from './store.js'

export type { Budget } from './providers/provider.js'

/** What taking from a budget gave: granted (and how many are left), or when one may be. */
export type BudgetAnswer =
  | { readonly granted: true; readonly remaining: number }
  | { readonly granted: false; readonly retryAfterMs: number }

/**
 * What a store offers when it counts the provider's budgets (see `TokenBudgets`) for every
 * process sharing it: a sliding window of the uses of each key. `takeBudget` takes one use of
 * `key` at `now` (epoch ms) if fewer than `budget.limit` were taken in the `budget.windowMs`
 * before it, atomically however many processes take at once; otherwise it takes nothing and
 * says how long until the oldest use in the window leaves it.
 */
export interface BudgetCounting {
  takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer>
}

/** Whether a store offers {@link BudgetCounting}. */
export function supportsBudgets(store: TokenStore): store is TokenStore & BudgetCounting {
  return typeof (store as Partial<BudgetCounting>).takeBudget === 'function'
}

/** The key of a budget: what it limits, and a digest of whose it is (never the value). */
export function budgetKey(kind: 'refresh' | 'exchange', of: string): string {
  return `${kind}:${createHash('sha256').update(of).digest('base64url').slice(0, 22)}`
}

/** The keys a store is given: short, of letters, digits, `:`, `_` and `-`. */
const KEY_PATTERN = /^[A-Za-z0-9:_-]{1,64}$/

/** Checks `takeBudget`'s arguments, the way every store does. */
export function assertBudgetArguments(key: unknown, budget: unknown, now: unknown): void {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new InvalidArgumentError(
      'key',
      'a budget key is 1 to 64 letters, digits, :, _ or - (see budgetKey)',
    )
  }
  const b = budget as Partial<Budget> | null
  if (
    typeof b !== 'object' ||
    b === null ||
    !Number.isSafeInteger(b.limit) ||
    b.limit! < 1 ||
    !Number.isSafeInteger(b.windowMs) ||
    b.windowMs! < 1
  ) {
    throw new InvalidArgumentError(
      'budget',
      'a budget is { limit, windowMs }, both whole numbers >= 1',
    )
  }
  if (typeof now !== 'number' || !Number.isSafeInteger(now) || now < 0) {
    throw new InvalidArgumentError('now', 'now is a time in epoch milliseconds')
  }
}

/**
 * The rule of a sliding window, over the times of the uses still in it (oldest first): the one
 * place it is written, for stores that keep the times themselves.
 */
export function decideBudget(times: readonly number[], budget: Budget, now: number): BudgetAnswer {
  const inWindow = times.filter((t) => t > now - budget.windowMs)
  if (inWindow.length < budget.limit) {
    return { granted: true, remaining: budget.limit - inWindow.length - 1 }
  }
  return {
    granted: false,
    retryAfterMs: Math.max(1, Math.min(...inWindow) + budget.windowMs - now),
  }
}

/** Budgets counted in memory, for the stores whose rows live in the process. */
export class BudgetLog {
  readonly #uses = new Map<string, number[]>()

  async take(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const times = (this.#uses.get(key) ?? []).filter((t) => t > now - budget.windowMs)
    const answer = decideBudget(times, budget, now)
    if (answer.granted) times.push(now)
    this.#uses.set(key, times)
    return answer
  }
}

/**
 * Takes one use of a budget in the store, for a refresh (`of` the refresh token) or an exchange
 * (`of` the client id): the one way the session and the refresh coordination take, told as an
 * event. Resolves to `undefined` when no budget is kept (none set, or the store counts none).
 */
export async function takeFromBudget(
  store: TokenStore,
  kind: 'refresh' | 'exchange',
  of: string,
  budget: Budget | undefined,
  now: number,
): Promise<BudgetAnswer | undefined> {
  if (!budget || !supportsBudgets(store)) return undefined
  const key = budgetKey(kind, of)
  const answer = await storeOp(store, 'takeBudget', () => store.takeBudget(key, budget, now))
  emit('budget.taken', {
    kind,
    granted: answer.granted,
    remaining: answer.granted ? answer.remaining : 0,
    retryAfterMs: answer.granted ? 0 : answer.retryAfterMs,
  })
  return answer
}
