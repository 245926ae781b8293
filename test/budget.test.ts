// Budgets: the sliding-window rule, the keys (digests, never the value), and the in-memory
// stores against the published suite.
import { describe, expect, it } from 'vitest'
import { ListStore, MemoryStore } from '../src/index.ts'
import { budgetKey, decideBudget } from '../src/budget.ts'
import { budgetConformance } from '../src/testing/index.ts'

describe('a budget', () => {
  it('grants while fewer than the limit are in the window; refuses until the oldest leaves', () => {
    const budget = { limit: 2, windowMs: 1000 }
    expect(decideBudget([], budget, 5000)).toEqual({ granted: true, remaining: 1 })
    expect(decideBudget([4500], budget, 5000)).toEqual({ granted: true, remaining: 0 })
    expect(decideBudget([4200, 4500], budget, 5000)).toEqual({ granted: false, retryAfterMs: 200 })
    // A use exactly a window ago has left it.
    expect(decideBudget([4000, 4500], budget, 5000)).toEqual({ granted: true, remaining: 0 })
  })

  it('is keyed by a digest: the refresh token or client id never shows', () => {
    const key = budgetKey('refresh', '1000.abcdef0123456789abcdef.0123456789abcdef0123')
    expect(key).toMatch(/^refresh:[\w-]{22}$/)
    expect(key).not.toContain('1000.')
    expect(budgetKey('refresh', 'a')).not.toBe(budgetKey('exchange', 'a'))
  })
})

describe('MemoryStore budgets', () => {
  for (const t of budgetConformance({ create: () => new MemoryStore() })) it(t.name, t.run)
})

describe('ListStore budgets', () => {
  for (const t of budgetConformance({ create: () => new ListStore() })) it(t.name, t.run)
})
