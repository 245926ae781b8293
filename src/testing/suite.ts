import assert from 'node:assert/strict'
import { InvalidArgumentError } from '../errors.js'
import type { TokenStore } from '../store.js'
import type { ConformanceTest } from './conformance.js'

/** How a capability's suite gets stores: a fresh one per test, and another handle on its data. */
export interface SuiteStores<S extends TokenStore> {
  /** A fresh, empty store; called once per test. */
  readonly create: () => S | Promise<S>
  /** A second store on the same data, as another process would open it; default the store. */
  readonly share?: ((store: S) => S | Promise<S>) | undefined
}

/**
 * The frame of a capability's conformance suite (due scan, health, budgets): the options
 * checked, and each test run on a fresh store (and a second handle on it), which must offer the
 * capability, both closed afterwards whatever happens.
 */
export function capabilitySuite<S extends TokenStore>(
  suite: string,
  options: SuiteStores<S>,
  capability: { readonly name: string; readonly offered: (store: TokenStore) => boolean },
): {
  readonly tests: ConformanceTest[]
  readonly test: (name: string, body: (a: S, b: S) => Promise<void>) => void
} {
  if (typeof options !== 'object' || options === null || typeof options.create !== 'function') {
    throw new InvalidArgumentError(
      'options.create',
      `${suite} needs { create: () => a new, empty store }`,
    )
  }
  if (options.share !== undefined && typeof options.share !== 'function') {
    throw new InvalidArgumentError('options.share', 'options.share must be a function')
  }
  const tests: ConformanceTest[] = []
  return {
    tests,
    test: (name, body) => {
      tests.push({
        name: `${capability.name}: ${name}`,
        run: async () => {
          const a = await options.create()
          let b = a
          try {
            assert.ok(capability.offered(a), `the store does not offer ${capability.name}`)
            if (options.share) b = await options.share(a)
            await body(a, b)
          } finally {
            if (b !== a) await b.close?.()
            await a.close?.()
          }
        },
      })
    },
  }
}
