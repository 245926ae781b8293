// A keeper that keeps only the tokens in use (`usedWithinMs`, from the uses sessions record),
// with an optional keep-alive for the idle ones (`refreshIdleAfterMs`): refreshes exactly those,
// and reads no idle token that is due for neither, on every store with a due scan.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Initializer,
  MemoryStore,
  OAuthToken,
  TokenKeeper,
  type TokenStore,
} from '../../src/index.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { healthOf } from '../../src/health.ts'
import { recordUse } from '../../src/usage.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { expireAt, nextEvent, scratchDir, scratchPath } from '../helpers/common.ts'
import { describeWithService } from '../helpers/services.ts'
import { FILE, POSTGRES, REDIS } from '../helpers/store-kinds.ts'

const DAY = 86_400_000
const dir = scratchDir()
let emulator: AccountsEmulator

beforeAll(async () => {
  emulator = await startAccountsEmulator({ rotateRefreshTokens: true, accessTokenLimit: false })
})
afterAll(async () => {
  await emulator.close()
})

const keeperFor = (store: TokenStore, extra: object = {}): TokenKeeper =>
  new TokenKeeper({ store, environment: emulator.environment, retries: 0, ...extra })

/** Tokens in every position a keep-alive pass tells apart; run against each store. */
function keepsOnlyWhatIsUsed(name: string, open: () => TokenStore | Promise<TokenStore>): void {
  it(`${name}: refreshes the tokens in use and those due for a keep-alive, reads no other idle one`, async () => {
    const store = await open()
    try {
      const tag = `${name}-${Date.now()}`
      const sign = async (who: string): Promise<string> =>
        (await signIn(emulator, { store, user: `${who}-${tag}@example.com` })).id!
      const now = Date.now()
      // In use: a session records its use, and its access token is about to expire.
      const used = await sign('used')
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({ id: used }),
        config: { recordUseEveryMs: 60_000 },
      })
      const recorded = nextEvent('token.use_recorded')
      await session.getAccessToken()
      await recorded
      await expireAt(store, [used], now + 60_000)
      // Never used, about to expire: left to its next use.
      const idle = await sign('idle')
      await expireAt(store, [idle], now + 60_000)
      // Used 3 days ago (so expired since), not yet due for a keep-alive: not even read.
      const stale = await sign('stale')
      await recordUse(store, stale, now - 3 * DAY)
      await expireAt(store, [stale], now - 3 * DAY + 3_600_000)
      // Expired 8 days ago: refreshed to keep its refresh token alive.
      const old = await sign('old')
      await expireAt(store, [old], now - 8 * DAY)
      const before = emulator.counts.refresh

      const keeper = keeperFor(store, { usedWithinMs: DAY, refreshIdleAfterMs: 7 * DAY })
      const summary = await keeper.runOnce()

      expect(summary).toMatchObject({ due: 3, refreshed: 2, keptAlive: 1, idle: 1, failed: 0 })
      expect(emulator.counts.refresh - before).toBe(2)
      const after = async (id: string): Promise<number> =>
        (await store.findTokenById(id))!.expiryTime!
      expect(await after(used)).toBeGreaterThan(now + 3_000_000)
      expect(await after(old)).toBeGreaterThan(now + 3_000_000)
      expect(await after(idle)).toBe(now + 60_000)
      expect(await after(stale)).toBe(now - 3 * DAY + 3_600_000)
      // The token refreshed to keep it alive is not in use: the next pass leaves it.
      const again = await keeper.runOnce()
      expect(again).toMatchObject({ due: 1, refreshed: 0, idle: 1 })
      const token = (await store.findTokenById(used))!
      expect((await healthOf(store, [token])).get(token)!.lastUsedAt).toBeGreaterThanOrEqual(now)
    } finally {
      await store.close?.()
    }
  })
}

describe('TokenKeeper with usedWithinMs', () => {
  keepsOnlyWhatIsUsed('MemoryStore', () => new MemoryStore())
  keepsOnlyWhatIsUsed('SQLiteStore', () => new SQLiteStore({ path: scratchPath(dir, 'alive.db') }))

  it('without refreshIdleAfterMs an idle token is never refreshed, however old', async () => {
    const store = new MemoryStore()
    const id = (await signIn(emulator, { store, user: 'ancient@example.com' })).id!
    await expireAt(store, [id], Date.now() - 365 * DAY)
    const before = emulator.counts.refresh
    expect(await keeperFor(store, { usedWithinMs: DAY }).runOnce()).toMatchObject({
      due: 0,
      refreshed: 0,
    })
    // The same token, kept by a keeper that keeps every token, is refreshed.
    expect(await keeperFor(store).runOnce()).toMatchObject({ due: 1, refreshed: 1 })
    expect(emulator.counts.refresh - before).toBe(1)
  })

  it('refuses a keep-alive without usedWithinMs, and usedWithinMs on a store that keeps no health', () => {
    const store = new MemoryStore()
    expect(() => new TokenKeeper({ store, refreshIdleAfterMs: DAY })).toThrow(
      /refreshIdleAfterMs applies only with usedWithinMs/,
    )
    expect(() => new TokenKeeper({ store, usedWithinMs: 0 })).toThrow(/usedWithinMs/)
    const bare = {
      findTokenById: (id: string) => store.findTokenById(id),
      saveToken: (token: OAuthToken) => store.saveToken(token),
      getTokens: () => store.getTokens(),
    } as unknown as TokenStore
    expect(() => new TokenKeeper({ store: bare, usedWithinMs: DAY })).toThrow(
      /usedWithinMs needs a store that keeps token health/,
    )
  })
})

for (const kind of [FILE, POSTGRES, REDIS]) {
  const body = (): void => {
    const place = kind.place(dir)
    afterAll(() => place.cleanup())
    keepsOnlyWhatIsUsed(kind.name, () => place.open())
  }
  if (kind.service) await describeWithService(kind.service, `usedWithinMs on ${kind.name}`, body)
  else describe(`usedWithinMs on ${kind.name}`, body)
}
