import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidArgumentError } from '../errors.js'
import {
  supportsConditionalSave,
  supportsLocking,
  type ConditionalSave,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { OAuthToken } from '../token.js'
import { assertSame, expectCode, sample, type ConformanceTest } from './conformance.js'

/** A store that coordinates refreshes: leases on tokens and conditional saves. */
export type LockingStore = TokenStore & TokenLocking & ConditionalSave

/** How {@link tokenLockingConformance} gets stores to test. */
export interface LockingConformanceOptions {
  /** A fresh, empty store whose token leases last `leaseMs`; called once per test. */
  readonly create: (leaseMs: number) => LockingStore | Promise<LockingStore>
  /**
   * A second store on the same data as `store`, as another process would open it (another
   * connection, another instance on the same file). Default: `store` itself.
   */
  readonly share?: (store: LockingStore) => LockingStore | Promise<LockingStore>
  /**
   * How a lease ends when its holder stops renewing it: `'expire'` (default) when it lapses
   * after its length (files, Redis, memory); `'connection'` when it is held by a database
   * connection and lasts as long as that connection (PostgreSQL advisory locks, MySQL
   * `GET_LOCK`).
   */
  readonly leases?: 'expire' | 'connection'
  /**
   * For `'connection'` leases: ends, as a crash would, the connection that holds the lease on
   * `id` taken through `store`. With it, the suite checks that this frees the lease.
   */
  readonly dropHolder?: (store: LockingStore, id: string) => Promise<void>
  /** The lease length the suite asks for (ms); default 300. Longer is slower, not stricter. */
  readonly leaseMs?: number
}

/** Whether a promise has settled, for checks that something is still waiting. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false
  const settledPromise = promise.finally(() => {
    done = true
  })
  return { promise: settledPromise, settled: () => done }
}

function lockError(err: unknown): boolean {
  const e = err as { code?: unknown; operation?: unknown }
  assert.equal(e.code, 'TOKEN_STORE', 'expected a TokenStoreError')
  assert.equal(e.operation, 'lock', "expected the operation 'lock'")
  return true
}

/**
 * The contract of a store that coordinates refreshes, as tests any runner can run: its token
 * leases exclude each other, are renewed while held, lapse (or end with their connection) when
 * their holder stops, and report their loss; its `saveTokenIf` replaces a row only while it
 * still holds the expected values, atomically. Run it beside {@link tokenStoreConformance}.
 *
 * @example
 * import { describe, it } from 'vitest'
 * import { tokenLockingConformance } from 'tokenkeeper/testing'
 * describe('MyStore leases', () => {
 *   for (const t of tokenLockingConformance({ create: (leaseMs) => new MyStore({ leaseMs }) }))
 *     it(t.name, t.run)
 * })
 */
export function tokenLockingConformance(options: LockingConformanceOptions): ConformanceTest[] {
  if (typeof options !== 'object' || options === null || typeof options.create !== 'function') {
    throw new InvalidArgumentError(
      'options.create',
      'tokenLockingConformance needs { create: (leaseMs) => a new, empty store }',
    )
  }
  for (const key of ['share', 'dropHolder'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new InvalidArgumentError(`options.${key}`, `options.${key} must be a function`)
    }
  }
  const leases = options.leases ?? 'expire'
  if (leases !== 'expire' && leases !== 'connection') {
    throw new InvalidArgumentError('options.leases', "options.leases is 'expire' or 'connection'")
  }
  const lease = options.leaseMs ?? 300
  if (!(typeof lease === 'number' && lease > 0)) {
    throw new InvalidArgumentError('options.leaseMs', 'options.leaseMs must be a positive number')
  }
  const tests: ConformanceTest[] = []
  const test = (name: string, body: (a: LockingStore, b: LockingStore) => Promise<void>): void => {
    tests.push({
      name,
      run: async () => {
        const a = await options.create(lease)
        let b = a
        try {
          assert.ok(supportsLocking(a), 'the store has no lockToken')
          assert.ok(supportsConditionalSave(a), 'the store has no saveTokenIf')
          if (options.share) b = await options.share(a)
          await body(a, b)
        } finally {
          if (b !== a) await b.close?.()
          await a.close?.()
        }
      },
    })
  }
  const id = (n: number): string => `0lease${String(n).padStart(4, '0')}`

  test('lockToken refuses a bad id or an option it does not know, with a typed error', async (a) => {
    const invalid = expectCode('INVALID_ARGUMENT')
    await assert.rejects(a.lockToken(''), invalid)
    await assert.rejects(a.lockToken(id(1), { timeout: 5 } as never), invalid)
    await assert.rejects(a.lockToken(id(1), { timeoutMs: -1 }), invalid)
    await assert.rejects(a.lockToken(id(1), { autoRenew: 'yes' } as never), invalid)
    // Nothing was left held by the refusals.
    await (await a.lockToken(id(1), { timeoutMs: 0 })).release()
  })

  test('a second locker waits while the lease is held, and gets it once released', async (a, b) => {
    const held = await a.lockToken(id(2))
    await assert.rejects(b.lockToken(id(2), { timeoutMs: 100 }), lockError)
    // Another token is not locked.
    await (await b.lockToken(id(3), { timeoutMs: 100 })).release()
    const waiting = track(b.lockToken(id(2), { timeoutMs: 10_000 }))
    await sleep(Math.min(lease / 2, 100))
    assert.equal(waiting.settled(), false, 'the second locker got a lease that was held')
    await held.release()
    await held.release() // twice is harmless
    const next = await waiting.promise
    await assert.rejects(a.lockToken(id(2), { timeoutMs: 50 }), lockError)
    await next.release()
  })

  test('a held lease outlives its length while its holder renews it', async (a, b) => {
    const held = await a.lockToken(id(4))
    assert.equal(typeof held.renew, 'function', 'the lease has no renew()')
    await sleep(lease * 3)
    await held.renew!()
    await assert.rejects(b.lockToken(id(4), { timeoutMs: lease }), lockError)
    await held.release()
    await assert.rejects(held.renew!(), lockError)
    await (await b.lockToken(id(4), { timeoutMs: 1000 })).release()
  })

  test('renew() keeps a lease that is not renewed on a timer', async (a, b) => {
    const held = await a.lockToken(id(5), { autoRenew: false })
    assert.equal(typeof held.renew, 'function', 'the lease has no renew()')
    for (let i = 0; i < 4; i += 1) {
      await sleep(lease / 2)
      await held.renew!()
    }
    await assert.rejects(b.lockToken(id(5), { timeoutMs: lease / 3 }), lockError)
    await held.release()
  })

  if (leases === 'expire') {
    test('a lease its holder stops renewing lapses: another takes it, the first one’s renew rejects, and its release leaves the new holder alone', async (a, b) => {
      const stalled = await a.lockToken(id(6), { autoRenew: false })
      const started = Date.now()
      const taken = await b.lockToken(id(6), { timeoutMs: lease * 20 })
      assert.ok(
        Date.now() - started >= lease * 0.8,
        `taken over after ${Date.now() - started} ms, before the lease of ${lease} ms ran out`,
      )
      await assert.rejects(stalled.renew!(), lockError)
      await stalled.release()
      await assert.rejects(a.lockToken(id(6), { timeoutMs: 50 }), lockError)
      await taken.renew?.()
      await taken.release()
      await (await a.lockToken(id(6), { timeoutMs: 1000 })).release()
    })
  } else {
    test('a lease held by a connection lasts as long as the connection', async (a, b) => {
      const held = await a.lockToken(id(7), { autoRenew: false })
      await sleep(lease * 2)
      await assert.rejects(b.lockToken(id(7), { timeoutMs: lease }), lockError)
      await held.renew!()
      if (options.dropHolder) {
        await options.dropHolder(a, id(7))
        const taken = await b.lockToken(id(7), { timeoutMs: 10_000 })
        await assert.rejects(held.renew!(), lockError)
        await held.release()
        await assert.rejects(a.lockToken(id(7), { timeoutMs: 50 }), lockError)
        await taken.release()
      } else {
        await held.release()
      }
    })
  }

  test('saveTokenIf replaces the row while it holds the expected values', async (a) => {
    const first = sample('ada@example.com')
    await a.saveToken(first)
    const next = sample('ada@example.com', { id: first.id })
    assert.equal(await a.saveTokenIf(next, first), true)
    assertSame(await a.findTokenById(first.id!), next, 'after a conditional save that held')
    assert.equal((await a.getTokens()).length, 1)
    // Absent values are compared as absent.
    const bare = new OAuthToken({ refreshToken: 'only.refresh', clientId: 'c', clientSecret: 's' })
    await a.saveToken(bare)
    const filled = new OAuthToken({ ...bare.fields(), accessToken: 'new.access', expiryTime: 1 })
    assert.equal(await a.saveTokenIf(filled, bare), true)
    assertSame(await a.findTokenById(bare.id!), filled, 'a row without access token or expiry')
  })

  test('saveTokenIf writes nothing when the row has moved on', async (a, b) => {
    const first = sample('ada@example.com')
    await a.saveToken(first)
    const newer = sample('ada@example.com', { id: first.id })
    await b.saveToken(newer)
    const late = sample('ada@example.com', { id: first.id })
    assert.equal(await a.saveTokenIf(late, first), false)
    assertSame(await a.findTokenById(first.id!), newer, 'the newer token stays')
    // Each of the three values is part of the check.
    for (const change of [
      { accessToken: 'other.access' },
      { refreshToken: 'other.refresh' },
      { expiryTime: (newer.expiryTime ?? 0) + 1 },
    ]) {
      const almost = new OAuthToken({ ...newer.fields(), ...change })
      assert.equal(await a.saveTokenIf(late, almost), false, `${Object.keys(change)[0]} differs`)
    }
    assertSame(await b.findTokenById(first.id!), newer, 'the newer token stays')
  })

  test('saveTokenIf on a missing row is false and inserts nothing', async (a) => {
    const ghost = sample('ghost@example.com', { id: '0ghost0000' })
    assert.equal(await a.saveTokenIf(ghost, ghost), false)
    assert.deepEqual(await a.getTokens(), [])
    const gone = sample('gone@example.com')
    await a.saveToken(gone)
    await a.deleteToken(gone.id!)
    assert.equal(await a.saveTokenIf(sample('gone@example.com', { id: gone.id }), gone), false)
    assert.equal(await a.findTokenById(gone.id!), null)
  })

  test('concurrent conditional saves from one expected token: exactly one wins', async (a, b) => {
    const first = sample('ada@example.com')
    await a.saveToken(first)
    const rivals = Array.from({ length: 10 }, () => sample('ada@example.com', { id: first.id }))
    const results = await Promise.all(
      rivals.map((rival, i) => (i % 2 === 0 ? a : b).saveTokenIf(rival, first)),
    )
    assert.equal(results.filter(Boolean).length, 1, `${results.filter(Boolean).length} won`)
    assertSame(await a.findTokenById(first.id!), rivals[results.indexOf(true)]!, 'the winner')
  })

  test('saveTokenIf rejects bad arguments with a typed error and writes nothing', async (a) => {
    const invalid = expectCode('INVALID_ARGUMENT')
    const first = sample('ada@example.com')
    await a.saveToken(first)
    await assert.rejects(a.saveTokenIf(sample('ada@example.com'), first), invalid)
    await assert.rejects(
      a.saveTokenIf(first, { accessToken: 'x' } as unknown as OAuthToken),
      invalid,
    )
    await assert.rejects(a.saveTokenIf('x' as unknown as OAuthToken, first), invalid)
    assertSame(await a.findTokenById(first.id!), first, 'unchanged')
  })

  return tests
}
