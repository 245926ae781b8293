import assert from 'node:assert/strict'
import { dueCursor, selectDue, supportsDueScan, type DueScan } from '../due.js'
import type { TokenStore } from '../store.js'
import type { OAuthToken } from '../token.js'
import { expectCode, sample, type ConformanceTest } from './conformance.js'
import { capabilitySuite, type SuiteStores } from './suite.js'

/** A store that finds its due tokens by an index on their expiry. */
export type DueScanStore = TokenStore & DueScan

/** How {@link dueScanConformance} gets stores to test. */
export type DueScanConformanceOptions = SuiteStores<DueScanStore>

const ids = (tokens: readonly OAuthToken[]): string[] => tokens.map((t) => t.id!)

/**
 * The contract of {@link DueScan}, as tests any runner can run: exactly the tokens due by the
 * given time, in the scan's order (expiry, then id), pages that neither skip nor repeat, a row
 * whose expiry changed found (or not) by its new expiry, and options refused when not understood.
 * Each answer is compared with {@link selectDue} over every token the test stored.
 *
 * @example
 * import { describe, it } from 'vitest'
 * import { dueScanConformance } from 'tokenkeeper/testing'
 * describe('MyStore due scan', () => {
 *   for (const t of dueScanConformance({ create: () => new MyStore() })) it(t.name, t.run)
 * })
 */
export function dueScanConformance(options: DueScanConformanceOptions): ConformanceTest[] {
  const { tests, test: both } = capabilitySuite('dueScanConformance', options, {
    name: 'due scan',
    offered: supportsDueScan,
  })
  const test = (name: string, body: (store: DueScanStore) => Promise<void>): void =>
    both(name, (store) => body(store))
  const NOW = 1_900_000_000_000
  /** Stores tokens expiring at `NOW + offset` for each offset (undefined: no expiry). */
  const fill = async (
    store: DueScanStore,
    offsets: (number | undefined)[],
  ): Promise<OAuthToken[]> => {
    const saved: OAuthToken[] = []
    for (const [i, offset] of offsets.entries()) {
      const token = sample(`due${i}@example.com`, {
        expiryTime: offset === undefined ? undefined : NOW + offset,
      })
      await store.saveToken(token)
      saved.push(token)
    }
    return saved
  }

  test('finds exactly the tokens due by the given time, soonest first', async (store) => {
    const saved = await fill(store, [5_000, -60_000, undefined, 1, 0, 3_600_000, -1])
    const found = await store.findDueTokens({ before: NOW })
    assert.deepEqual(ids(found), ids(selectDue(saved, { before: NOW })))
    assert.equal(found.length, 3)
    const later = await store.findDueTokens({ before: NOW + 5_000 })
    assert.deepEqual(ids(later), ids(selectDue(saved, { before: NOW + 5_000 })))
    assert.equal(later.length, 5)
    for (const token of found) {
      const stored = await store.findTokenById(token.id!)
      assert.equal(token.refreshToken, stored?.refreshToken, 'a due token is the stored token')
    }
  })

  test('ties on expiry are ordered by id; pages neither skip nor repeat', async (store) => {
    const offsets = Array.from({ length: 23 }, (_, i) => -((i * 7) % 5) * 1000)
    const saved = await fill(store, offsets)
    const pages: string[] = []
    let after
    for (let page = 0; page < 30; page += 1) {
      const found: OAuthToken[] = await store.findDueTokens({ before: NOW, limit: 4, after })
      assert.ok(found.length <= 4, 'a page holds at most limit tokens')
      if (found.length === 0) break
      pages.push(...ids(found))
      after = dueCursor(found.at(-1)!)
    }
    assert.deepEqual(pages, ids(selectDue(saved, { before: NOW, limit: 1000 })))
    assert.equal(new Set(pages).size, 23)
  })

  test('a saved token is found by its new expiry; a deleted one is not found', async (store) => {
    const [soon, late] = await fill(store, [-1000, 60_000])
    soon!.expiryTime = NOW + 120_000
    await store.saveToken(soon!)
    late!.expiryTime = NOW - 5
    await store.saveToken(late!)
    assert.deepEqual(ids(await store.findDueTokens({ before: NOW })), [late!.id])
    await store.deleteToken(late!.id!)
    assert.deepEqual(await store.findDueTokens({ before: NOW }), [])
  })

  test('bounds that are not whole expiries: fractional, negative, past any expiry', async (store) => {
    const saved = await fill(store, [-1000, 0, 1000])
    const cases = [
      { before: -1 },
      { before: NOW + 0.5 },
      { before: 1e300 },
      { before: 1e300, after: { expiryTime: NOW - 0.5, id: '' } },
      { before: 1e300, after: { expiryTime: 1e300, id: '' } },
      { before: NOW, after: { expiryTime: -5, id: 'x' } },
    ]
    for (const options of cases) {
      assert.deepEqual(
        ids(await store.findDueTokens(options)),
        ids(selectDue(saved, options)),
        `findDueTokens(${JSON.stringify(options)})`,
      )
    }
  })

  test('an empty store has nothing due', async (store) => {
    assert.deepEqual(await store.findDueTokens({ before: NOW + 10 ** 12 }), [])
  })

  test('options it does not understand are refused', async (store) => {
    const bad: unknown[] = [
      undefined,
      {},
      { before: Number.NaN },
      { before: '1' },
      { before: NOW, limit: 0 },
      { before: NOW, limit: 1.5 },
      { before: NOW, after: { id: 1 } },
      { before: NOW, lmit: 5 },
    ]
    for (const options of bad) {
      await assert.rejects(
        store.findDueTokens(options as never),
        expectCode('INVALID_ARGUMENT'),
        `findDueTokens(${JSON.stringify(options)}) must be refused`,
      )
    }
  })
  return tests
}
