// A token's last use, recorded by sessions in its health record (for a keeper that keeps only
// the tokens in use): at most once per interval, in the background, under the token's lease,
// never over a state a refresh recorded, and carried over when the refresh token rotates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Initializer, OAuthToken, TokenKeeper, type TokenStore } from '../src/index.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'
import { channel } from '../src/events.ts'
import { encodeHealth, healthOf, supportsHealth, type TokenHealth } from '../src/health.ts'
import { supportsLocking } from '../src/store.ts'
import { recordUse } from '../src/usage.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { nextEvent, scratchDir, scratchPath } from './helpers/common.ts'

const dir = scratchDir()
let emulator: AccountsEmulator
let store: SQLiteStore

beforeAll(async () => {
  emulator = await startAccountsEmulator({ rotateRefreshTokens: true, accessTokenLimit: false })
  store = new SQLiteStore({ path: scratchPath(dir, 'usage.db') })
})
afterAll(async () => {
  await store.close()
  await emulator.close()
})

async function healthOfId(s: TokenStore, id: string): Promise<TokenHealth> {
  const token = (await s.findTokenById(id))!
  return (await healthOf(s, [token])).get(token)!
}

let users = 0
const newUser = async (): Promise<string> =>
  (await signIn(emulator, { store, user: `usage-${users++}@example.com` })).id!

describe('recording a use', () => {
  it('a session records a use at most once per recordUseEveryMs, in the background', async () => {
    const id = await newUser()
    let clock = Date.now()
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id }),
      config: { recordUseEveryMs: 60_000, now: () => clock },
    })
    const first = nextEvent('token.use_recorded')
    await session.getAccessToken()
    expect(await first).toEqual({ id, at: clock })
    expect((await healthOfId(store, id)).lastUsedAt).toBe(clock)
    const t0 = clock
    const seen: number[] = []
    const record = (event: unknown): void => {
      seen.push((event as { at: number }).at)
    }
    channel('token.use_recorded').subscribe(record)
    try {
      clock += 1000
      await session.getAccessToken() // within the interval: nothing written
      clock += 60_000
      const third = nextEvent('token.use_recorded')
      await session.getAccessToken()
      expect(await third).toEqual({ id, at: t0 + 61_000 })
      expect(seen).toEqual([t0 + 61_000])
      const health = await healthOfId(store, id)
      expect(health).toMatchObject({ state: 'active', lastUsedAt: t0 + 61_000 })
    } finally {
      channel('token.use_recorded').unsubscribe(record)
    }
  })

  it('by default nothing is recorded: a use costs no write', async () => {
    const id = await newUser()
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id }),
    })
    await session.getAccessToken()
    await session.getAccessToken()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await store.findHealth([id])).toEqual(new Map())
  })

  it('keeps the state a refresh recorded: a failing or reauth_required token stays one', async () => {
    for (const state of ['failing', 'reauth_required'] as const) {
      const id = await newUser()
      const token = (await store.findTokenById(id))!
      const health: TokenHealth = {
        state,
        attempts: 2,
        since: 1_000,
        lastErrorCode: state === 'failing' ? 'SERVER_ERROR' : 'invalid_code',
        ...(state === 'failing' && { nextAttemptAt: Date.now() + 600_000 }),
      }
      await store.saveHealth(id, encodeHealth(token, health))
      expect(await recordUse(store, id, 5_000)).toBe(true)
      expect(await healthOfId(store, id)).toEqual({ ...health, lastUsedAt: 5_000 })
      // An older use never replaces a newer one, nor the same one written again.
      expect(await recordUse(store, id, 4_000)).toBe(false)
      expect(await recordUse(store, id, 5_000)).toBe(false)
      expect((await healthOfId(store, id)).lastUsedAt).toBe(5_000)
    }
  })

  it("writes only under the token's lease: while another holds it, nothing is written", async () => {
    expect(supportsLocking(store) && supportsHealth(store)).toBe(true)
    const id = await newUser()
    const lock = await store.lockToken(id, { timeoutMs: 1000 })
    try {
      expect(await recordUse(store, id, 7_000)).toBe(false)
      expect(await store.findHealth([id])).toEqual(new Map())
    } finally {
      await lock.release()
    }
    expect(await recordUse(store, id, 7_000)).toBe(true)
    expect((await healthOfId(store, id)).lastUsedAt).toBe(7_000)
  })

  it('a missing token, or a store that keeps no health, records nothing', async () => {
    expect(await recordUse(store, 'no-such-token', 1)).toBe(false)
    const id = await newUser()
    const bare = {
      findTokenById: (i: string) => store.findTokenById(i),
      saveToken: (t: OAuthToken) => store.saveToken(t),
      getTokens: () => store.getTokens(),
    } as unknown as TokenStore
    expect(await recordUse(bare, id, 1)).toBe(false)
    expect(await store.findHealth([id])).toEqual(new Map())
  })
})

describe('a recorded use survives a refresh', () => {
  it('a rotated refresh token carries the last use over', async () => {
    const id = await newUser()
    expect(await recordUse(store, id, 9_000)).toBe(true)
    const before = (await store.findTokenById(id))!
    before.expiryTime = Date.now() - 1000
    await store.saveToken(before)
    const keeper = new TokenKeeper({ store, environment: emulator.environment, retries: 0 })
    expect(await keeper.runOnce()).toMatchObject({ refreshed: 1 })
    const after = (await store.findTokenById(id))!
    expect(after.refreshToken).not.toBe(before.refreshToken)
    expect(await healthOfId(store, id)).toMatchObject({ state: 'active', lastUsedAt: 9_000 })
  })

  it('failing and recovering keep the last use', async () => {
    const id = await newUser()
    expect(await recordUse(store, id, 11_000)).toBe(true)
    const token = (await store.findTokenById(id))!
    token.expiryTime = Date.now() - 1000
    await store.saveToken(token)
    let clock = Date.now()
    const keeper = new TokenKeeper({
      store,
      environment: emulator.environment,
      retries: 0,
      now: () => clock,
    })
    emulator.fail('http503', { times: 1, on: 'refresh' })
    expect(await keeper.runOnce()).toMatchObject({ failed: 1 })
    expect(await healthOfId(store, id)).toMatchObject({ state: 'failing', lastUsedAt: 11_000 })
    clock += 31_000
    expect(await keeper.runOnce()).toMatchObject({ refreshed: 1 })
    expect(await healthOfId(store, id)).toMatchObject({ state: 'active', lastUsedAt: 11_000 })
  })
})
