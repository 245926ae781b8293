import { describe, expect, it } from 'vitest'
import { saveOver, withTokenLock } from '../../src/refresh/lease.ts'
import { MemoryStore, OAuthToken, TokenStoreError, UserSignature } from '../../src/index.ts'
import type { LockOptions, TokenStore } from '../../src/store.ts'
import { DEFAULT_LOCK_WAIT_MS } from '../../src/stores/lease.ts'

/** The six methods of a MemoryStore and nothing more: a store without locking or saveTokenIf. */
function plainStore(inner = new MemoryStore()): TokenStore {
  return {
    findToken: (token) => inner.findToken(token),
    findTokenById: (id) => inner.findTokenById(id),
    saveToken: (token) => inner.saveToken(token),
    deleteToken: (id) => inner.deleteToken(id),
    getTokens: () => inner.getTokens(),
    deleteTokens: () => inner.deleteTokens(),
  }
}

/** A MemoryStore whose lockToken calls are recorded with their options. */
function lockingStore() {
  const inner = new MemoryStore()
  const asked: (LockOptions | undefined)[] = []
  const store = Object.assign(plainStore(inner), {
    lockToken: (id: string, options?: LockOptions) => {
      asked.push(options)
      return inner.lockToken(id, options)
    },
  })
  return { store, inner, asked }
}

/** Whether the lease on `id` is free now: taking it without waiting succeeds. */
async function free(store: MemoryStore, id: string): Promise<boolean> {
  try {
    await (await store.lockToken(id, { timeoutMs: 0 })).release()
    return true
  } catch (error) {
    expect(error).toMatchObject({ code: 'TOKEN_STORE', operation: 'lock' })
    return false
  }
}

describe('withTokenLock', () => {
  it('runs the work without a lease on a store that offers none', async () => {
    const seen: unknown[] = []
    const result = await withTokenLock(
      plainStore(),
      '1',
      async (lock) => (seen.push(lock), 'done'),
      {
        onLocked: () => seen.push('locked'),
      },
    )
    expect(result).toBe('done')
    expect(seen).toEqual([undefined])
  })

  it('holds the lease during the work and gives it up after, also when the work fails', async () => {
    const { store, inner } = lockingStore()
    const result = await withTokenLock(store, '1', async (lock) => {
      expect(lock).toBeDefined()
      expect(await free(inner, '1')).toBe(false)
      return 42
    })
    expect(result).toBe(42)
    expect(await free(inner, '1')).toBe(true)
    const failure = new Error('work failed')
    await expect(withTokenLock(store, '1', () => Promise.reject(failure))).rejects.toBe(failure)
    expect(await free(inner, '1')).toBe(true)
  })

  it('waits as long as asked, the default wait otherwise', async () => {
    const { store, asked } = lockingStore()
    await withTokenLock(store, '1', async () => {})
    await withTokenLock(store, '1', async () => {}, { timeoutMs: 5 })
    expect(asked).toEqual([{ timeoutMs: DEFAULT_LOCK_WAIT_MS }, { timeoutMs: 5 }])
  })

  it('gives up when the lease is not had in time, without running the work', async () => {
    const { store, inner } = lockingStore()
    const held = await inner.lockToken('1')
    let ran = false
    await expect(
      withTokenLock(store, '1', async () => void (ran = true), { timeoutMs: 0 }),
    ).rejects.toBeInstanceOf(TokenStoreError)
    expect(ran).toBe(false)
    await held.release()
  })

  it('reports how long it waited for the lease, in whole milliseconds', async () => {
    const { store, inner } = lockingStore()
    const held = await inner.lockToken('1')
    let waited: number | undefined
    const start = performance.now()
    const locking = withTokenLock(store, '1', async () => {}, { onLocked: (ms) => (waited = ms) })
    await held.release()
    await locking
    const elapsed = performance.now() - start
    expect(Number.isInteger(waited)).toBe(true)
    // Never more than the whole call took (rounded to the nearest millisecond).
    expect(waited).toBeGreaterThanOrEqual(0)
    expect(waited).toBeLessThanOrEqual(Math.round(elapsed))
  })
})

describe('saveOver', () => {
  const user = () => new UserSignature('ada@example.com')

  it('saves over the expected token, and writes nothing once the row has changed', async () => {
    const store = new MemoryStore()
    const first = new OAuthToken({ userSignature: user(), accessToken: 'a1', refreshToken: 'r' })
    await store.saveToken(first)
    const second = new OAuthToken({ ...first.fields(), accessToken: 'a2' })
    expect(await saveOver(store, second, first)).toBe(true)
    const late = new OAuthToken({ ...first.fields(), accessToken: 'a3' })
    // `first` is no longer what the row holds: a late writer does not overwrite `second`.
    expect(await saveOver(store, late, first)).toBe(false)
    expect((await store.findTokenById(first.id!))?.accessToken).toBe('a2')
  })

  it('saves plainly on a store without saveTokenIf', async () => {
    const store = plainStore()
    const first = new OAuthToken({ userSignature: user(), accessToken: 'a1' })
    await store.saveToken(first)
    const next = new OAuthToken({ ...first.fields(), accessToken: 'a2' })
    expect(await saveOver(store, next, new OAuthToken({ accessToken: 'other' }))).toBe(true)
    expect((await store.findTokenById(first.id!))?.accessToken).toBe('a2')
  })
})
