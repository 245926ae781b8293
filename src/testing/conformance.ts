import assert from 'node:assert/strict'
import type { OAuthToken } from '../token.js'
import { InvalidArgumentError } from '../errors.js'
import { type TokenStore } from '../store.js'
import { COLUMNS } from '../store/rows.js'
import { idTests } from './conformance/ids.js'
import { lookupTests } from './conformance/lookups.js'
import { saveTests } from './conformance/saves.js'
import { valueTests } from './conformance/values.js'
import { backendTests } from './conformance/backend.js'
import { rawValue } from './conformance/common.js'

/** A stored row as the backend really holds it, under the official column names. */
export type RawRow = Record<string, string | null | undefined>

/** How {@link tokenStoreConformance} gets stores to test. */
export interface ConformanceOptions {
  /** A fresh, empty store; called once per test. */
  readonly create: () => TokenStore | Promise<TokenStore>
  /**
   * For persistent stores: a new store on the same data as `store`, which has been closed.
   * Without it, the reopening test is left out.
   */
  readonly reopen?: (store: TokenStore) => TokenStore | Promise<TokenStore>
  /**
   * Reads every row as the backend holds it, bypassing the store (a second connection, the
   * file parsed by another parser). With it, the suite checks what was really written.
   */
  readonly readRaw?: (store: TokenStore) => Promise<RawRow[]>
  /** A store whose backend fails (unreachable, a directory for a file...). */
  readonly createBroken?: () => TokenStore | Promise<TokenStore>
}

/** One test of the suite: give `name` and `run` to any test runner. */
export interface ConformanceTest {
  readonly name: string
  readonly run: () => Promise<void>
}

export { HOSTILE_VALUES, assertSame, expectCode, sample } from './conformance/common.js'

/**
 * The contract every {@link TokenStore} keeps, as tests any runner can run: the matching
 * precedence, upsert, ids, one row per user, deletes, exact round-trips of hostile values,
 * concurrency, typed errors, and persistence. Every store of tokenkeeper runs it first; run it
 * on your own store too.
 *
 * @example
 * import { describe, it } from 'vitest' // or node:test, mocha, jest
 * import { tokenStoreConformance } from 'tokenkeeper/testing'
 * describe('MyStore', () => {
 *   for (const t of tokenStoreConformance({ create: () => new MyStore() })) it(t.name, t.run)
 * })
 */
export function tokenStoreConformance(options: ConformanceOptions): ConformanceTest[] {
  if (typeof options !== 'object' || options === null || typeof options.create !== 'function') {
    throw new InvalidArgumentError(
      'options.create',
      'tokenStoreConformance needs { create: () => a new, empty store }',
    )
  }
  for (const key of ['reopen', 'readRaw', 'createBroken'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new InvalidArgumentError(`options.${key}`, `options.${key} must be a function`)
    }
  }
  const tests: ConformanceTest[] = []
  const test = (name: string, body: (store: TokenStore) => Promise<void>): void => {
    tests.push({
      name,
      run: async () => {
        const store = await options.create()
        try {
          await body(store)
        } finally {
          await store.close?.()
        }
      },
    })
  }
  const raw = async (store: TokenStore): Promise<RawRow[] | undefined> => options.readRaw?.(store)
  const rawRowOf = async (store: TokenStore, id: string): Promise<RawRow | undefined> => {
    const rows = await raw(store)
    if (!rows) return undefined
    const found = rows.filter((row) => row.id === id)
    assert.equal(found.length, 1, `exactly one stored row should have id ${id}`)
    return found[0]
  }
  const checkRaw = async (store: TokenStore, token: OAuthToken, what: string): Promise<void> => {
    const row = await rawRowOf(store, token.id!)
    if (!row) return
    for (const column of COLUMNS) {
      assert.equal(
        row[column] ?? null,
        rawValue(token, column),
        `${what}: stored ${column} differs`,
      )
    }
  }

  const context = { options, tests, test, raw, rawRowOf, checkRaw }
  idTests(context)
  lookupTests(context)
  saveTests(context)
  valueTests(context)
  backendTests(context)
  return tests
}

/**
 * Runs the whole suite without a test runner; throws an `AggregateError` listing every failure.
 *
 * @example
 * await runTokenStoreConformance({ create: () => new MyStore() })
 */
export async function runTokenStoreConformance(
  options: ConformanceOptions,
): Promise<{ passed: number }> {
  const failures: Error[] = []
  const tests = tokenStoreConformance(options)
  for (const test of tests) {
    try {
      await test.run()
    } catch (err) {
      failures.push(new Error(`${test.name}: ${(err as Error).message}`, { cause: err }))
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(
      failures,
      `${failures.length} of ${tests.length} conformance tests failed`,
    )
  }
  return { passed: tests.length }
}
