import assert from 'node:assert/strict'
import { budgetKey, supportsBudgets, type BudgetCounting } from '../budget.js'
import type { TokenStore } from '../store.js'
import { expectCode, type ConformanceTest } from './conformance.js'
import { capabilitySuite, type SuiteStores } from './suite.js'

/** A store that counts the provider's budgets. */
export type BudgetStore = TokenStore & BudgetCounting

/** How {@link budgetConformance} gets stores to test. */
export type BudgetConformanceOptions = SuiteStores<BudgetStore>

/**
 * The contract of {@link BudgetCounting}, as tests any runner can run: uses are granted up to
 * the limit within the window and refused after it with the time until the oldest leaves it;
 * the window slides; keys are counted apart; takes from two handles at once never exceed the
 * limit; arguments that are not understood are refused.
 *
 * @example
 * for (const t of budgetConformance({ create: () => new MyStore() })) it(t.name, t.run)
 */
export function budgetConformance(options: BudgetConformanceOptions): ConformanceTest[] {
  const { tests, test } = capabilitySuite('budgetConformance', options, {
    name: 'budget',
    offered: supportsBudgets,
  })
  const T = 1_900_000_000_000
  const budget = { limit: 3, windowMs: 10_000 }
  let serial = 0
  const key = () => budgetKey('refresh', `refresh-token-${Date.now()}-${(serial += 1)}`)

  test('grants up to the limit in the window, then refuses until the oldest use leaves it', async (a, b) => {
    const k = key()
    assert.deepEqual(await a.takeBudget(k, budget, T), { granted: true, remaining: 2 })
    assert.deepEqual(await b.takeBudget(k, budget, T + 1000), { granted: true, remaining: 1 })
    assert.deepEqual(await a.takeBudget(k, budget, T + 2000), { granted: true, remaining: 0 })
    assert.deepEqual(await b.takeBudget(k, budget, T + 3000), {
      granted: false,
      retryAfterMs: 7000,
    })
    // A refused take takes nothing: the window is still the first three.
    assert.deepEqual(await a.takeBudget(k, budget, T + 9999), { granted: false, retryAfterMs: 1 })
    assert.deepEqual(await a.takeBudget(k, budget, T + 10_000), { granted: true, remaining: 0 })
    assert.deepEqual(await b.takeBudget(k, budget, T + 10_500), {
      granted: false,
      retryAfterMs: 500,
    })
  })

  test('keys are counted apart', async (a) => {
    const one = key()
    const two = key()
    for (let i = 0; i < 3; i += 1) await a.takeBudget(one, budget, T + i)
    assert.equal((await a.takeBudget(one, budget, T + 5)).granted, false)
    assert.deepEqual(await a.takeBudget(two, budget, T + 5), { granted: true, remaining: 2 })
  })

  test('takes at once from two handles never exceed the limit', async (a, b) => {
    const k = key()
    const wide = { limit: 10, windowMs: 60_000 }
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).takeBudget(k, wide, T + i)),
    )
    assert.equal(answers.filter((x) => x.granted).length, 10)
  })

  test('arguments that are not understood are refused', async (a) => {
    const bad: [unknown, unknown, unknown][] = [
      ['', budget, T],
      ['has space', budget, T],
      ['x'.repeat(65), budget, T],
      [key(), { limit: 0, windowMs: 1 }, T],
      [key(), { limit: 1.5, windowMs: 1 }, T],
      [key(), { limit: 1 }, T],
      [key(), null, T],
      [key(), budget, -1],
      [key(), budget, '1'],
    ]
    for (const [k, b, now] of bad) {
      await assert.rejects(
        a.takeBudget(k as never, b as never, now as never),
        expectCode('INVALID_ARGUMENT'),
        `takeBudget(${JSON.stringify([k, b, now])}) must be refused`,
      )
    }
  })
  return tests
}
