import assert from 'node:assert/strict'
import { encodeHealth, supportsHealth, type HealthTracking } from '../health.js'
import type { TokenStore } from '../store.js'
import { expectCode, sample, type ConformanceTest } from './conformance.js'
import { capabilitySuite, type SuiteStores } from './suite.js'

/** A store that keeps each token's health beside it. */
export type HealthStore = TokenStore & HealthTracking

/** How {@link healthConformance} gets stores to test. */
export type HealthConformanceOptions = SuiteStores<HealthStore>

/**
 * The contract of {@link HealthTracking}, as tests any runner can run: a record is kept per
 * token and read back as written, by another handle too; `null` removes it; saving the token
 * leaves it; deleting the token deletes it; a record for a token that is not stored is not
 * kept; records that are not one are refused.
 *
 * @example
 * for (const t of healthConformance({ create: () => new MyStore() })) it(t.name, t.run)
 */
export function healthConformance(options: HealthConformanceOptions): ConformanceTest[] {
  const { tests, test } = capabilitySuite('healthConformance', options, {
    name: 'health',
    offered: supportsHealth,
  })
  const failing = (attempts: number) =>
    ({
      state: 'failing',
      attempts,
      since: 1_900_000_000_000,
      lastErrorCode: 'NETWORK_ERROR',
    }) as const

  test('a record is read back as written, by another handle too', async (a, b) => {
    const one = sample('health-one@example.com')
    const two = sample('health-two@example.com')
    const three = sample('health-three@example.com')
    for (const t of [one, two, three]) await a.saveToken(t)
    const first = encodeHealth(one, failing(1))
    const second = encodeHealth(two, { state: 'reauth_required', attempts: 1, since: 5 })
    await a.saveHealth(one.id!, first)
    await a.saveHealth(two.id!, second)
    const found = await b.findHealth([one.id!, two.id!, three.id!])
    assert.deepEqual(
      [...found.entries()].sort(),
      [
        [one.id!, first],
        [two.id!, second],
      ].sort(),
    )
    assert.deepEqual(await b.findHealth([]), new Map())
  })

  test('a new record replaces the old; null removes it', async (a, b) => {
    const token = sample('health-replace@example.com')
    await a.saveToken(token)
    await a.saveHealth(token.id!, encodeHealth(token, failing(1)))
    const later = encodeHealth(token, failing(2))
    await a.saveHealth(token.id!, later)
    assert.equal((await b.findHealth([token.id!])).get(token.id!), later)
    await a.saveHealth(token.id!, null)
    assert.equal((await b.findHealth([token.id!])).has(token.id!), false)
  })

  test('saving the token keeps its record; deleting it deletes the record', async (a, b) => {
    const token = sample('health-save@example.com')
    await a.saveToken(token)
    const record = encodeHealth(token, failing(3))
    await a.saveHealth(token.id!, record)
    token.accessToken = `${token.accessToken!}.new`
    await a.saveToken(token)
    assert.equal((await b.findHealth([token.id!])).get(token.id!), record)
    await a.deleteToken(token.id!)
    assert.equal((await b.findHealth([token.id!])).has(token.id!), false)
    // A token saved again under the same id starts without the old record.
    await a.saveToken(token)
    assert.equal((await b.findHealth([token.id!])).has(token.id!), false)
  })

  test('a record for a token that is not stored is not kept', async (a, b) => {
    const token = sample('health-missing@example.com')
    token.id = '987654321'
    await a.saveHealth(token.id, encodeHealth(token, failing(1)))
    assert.equal((await b.findHealth([token.id])).has(token.id), false)
  })

  test('records and ids that are not one are refused', async (a) => {
    const token = sample('health-bad@example.com')
    await a.saveToken(token)
    for (const bad of ['', 'x'.repeat(201), 5, undefined, {}]) {
      await assert.rejects(
        a.saveHealth(token.id!, bad as never),
        expectCode('INVALID_ARGUMENT'),
        `saveHealth with ${typeof bad} must be refused`,
      )
    }
    await assert.rejects(a.findHealth(['']), expectCode('INVALID_ARGUMENT'))
    await assert.rejects(a.findHealth('1' as never), expectCode('INVALID_ARGUMENT'))
  })
  return tests
}
