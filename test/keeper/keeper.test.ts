// The keeper against the emulator and real stores: a pass refreshes exactly the due tokens,
// several keepers on one store refresh each due token once, a refused refresh token is told
// apart from a failure that may pass, and stopping lets the refreshes in flight finish.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Initializer,
  MemoryStore,
  OAuthToken,
  TokenKeeper,
  type TokenStore,
} from '../../src/index.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { ReauthRequiredError } from '../../src/errors.ts'
import { verifyWebhook } from '../../src/keeper/webhook.ts'
import { channel, type TokenEventName, type TokenEvents } from '../../src/events.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { PostgresStore } from '../../src/stores/postgres.ts'
import { RedisStore } from '../../src/stores/redis.ts'
import { expireAt, scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const dir = scratchDir()
let emulator: AccountsEmulator

beforeAll(async () => {
  emulator = await startAccountsEmulator({ rotateRefreshTokens: true, accessTokenLimit: false })
})
afterAll(async () => {
  await emulator.close()
})

/** Signs `count` users in through the emulator, each token saved to `store`; returns their ids. */
async function signInMany(store: TokenStore, count: number, tag: string): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i += 1) {
    ids.push((await signIn(emulator, { store, user: `${tag}-${i}@example.com` })).id!)
  }
  return ids
}

/** The events of one name published from now until the end of the test file. */
function listen<N extends TokenEventName>(name: N): TokenEvents[N][] {
  const seen: TokenEvents[N][] = []
  channel(name).subscribe((event) => seen.push(event as TokenEvents[N]))
  return seen
}

const keeperFor = (store: TokenStore, extra: object = {}): TokenKeeper =>
  new TokenKeeper({ store, environment: emulator.environment, retries: 0, ...extra })

describe('TokenKeeper pass', () => {
  it('refreshes exactly the due tokens, and saves them', async () => {
    const store = new MemoryStore()
    const ids = await signInMany(store, 6, 'pass')
    const now = Date.now()
    await expireAt(store, ids.slice(0, 2), now - 1000) // expired
    await expireAt(store, ids.slice(2, 4), now + 60_000) // within the 5 minutes ahead
    await expireAt(store, ids.slice(4), now + 3_600_000) // well ahead
    const before = await Promise.all(ids.map(async (id) => (await store.findTokenById(id))!))
    emulator.resetCounts()

    const summary = await keeperFor(store).runOnce()

    expect(summary).toMatchObject({ due: 4, refreshed: 4, fresh: 0, busy: 0, failed: 0 })
    expect(emulator.counts.refresh).toBe(4)
    for (const [i, id] of ids.entries()) {
      const after = (await store.findTokenById(id))!
      if (i < 4) {
        expect(after.accessToken).not.toBe(before[i]!.accessToken)
        expect(after.expiryTime!).toBeGreaterThan(now + 3_000_000)
        expect(emulator.isValid(after.refreshToken!)).toBe(true)
      } else {
        expect(after.accessToken).toBe(before[i]!.accessToken)
      }
    }
    // Nothing is due after the pass: a second one sends nothing.
    const again = await keeperFor(store).runOnce()
    expect(again).toMatchObject({ due: 0, refreshed: 0 })
    expect(emulator.counts.refresh).toBe(4)
  })

  it('a refused refresh token goes to reauth_required after one refusal, and is not sent again', async () => {
    const store = new MemoryStore()
    const [revoked] = await signInMany(store, 1, 'refused')
    await expireAt(store, [revoked!], Date.now() - 1000)
    const token = (await store.findTokenById(revoked!))!
    const answer = await fetch(
      `${emulator.url}/oauth/v2/token/revoke?token=${encodeURIComponent(token.refreshToken!)}`,
      { method: 'POST' },
    )
    expect(answer.ok).toBe(true)
    const events = listen('token.reauthRequired')
    const keeper = keeperFor(store)
    emulator.resetCounts()
    expect(await keeper.runOnce()).toMatchObject({ due: 1, refreshed: 0, reauthRequired: 1 })
    expect(emulator.counts.refresh).toBe(1)
    expect(events).toEqual([{ id: revoked, user: 'refused-0@example.com', code: 'invalid_code' }])
    // Kept, never deleted; the next passes and a session send nothing.
    expect(await store.findTokenById(revoked!)).not.toBeNull()
    expect(await keeper.runOnce()).toMatchObject({ due: 1, refreshed: 0, reauthRequired: 1 })
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id: revoked! }),
    }).catch((err: unknown) => err)
    expect(session).toBeInstanceOf(ReauthRequiredError)
    expect((session as ReauthRequiredError).code).toBe('REAUTH_REQUIRED')
    expect(emulator.counts.refresh).toBe(1)
    expect(events).toHaveLength(1)
  })

  it('a failure that may pass: failing with a backoff, then active again, each a signed webhook', async () => {
    const secret = 'whsec_' + Buffer.from('a signing key of thirty-two bytes').toString('base64')
    const received: { type: string; data: Record<string, unknown> }[] = []
    const receiver = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        const event = verifyWebhook({ secret, headers: request.headers, body })
        received.push(event as never)
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const { port } = receiver.address() as AddressInfo
    try {
      const store = new MemoryStore()
      const [id] = await signInMany(store, 1, 'failing')
      await expireAt(store, [id!], Date.now() - 1000)
      const failing = listen('token.failing')
      const recovered = listen('token.recovered')
      let clock = Date.now()
      const keeper = keeperFor(store, {
        now: () => clock,
        webhook: { url: `http://127.0.0.1:${port}/hooks/tokens`, secret },
      })
      emulator.fail('http503', { times: 1, on: 'refresh' })
      expect(await keeper.runOnce()).toMatchObject({ due: 1, failed: 1, refreshed: 0 })
      expect(failing).toMatchObject([{ id, attempts: 1, code: 'SERVER_ERROR' }])
      // Within its backoff it is left alone.
      expect(await keeper.runOnce()).toMatchObject({ due: 1, deferred: 1, refreshed: 0 })
      clock += 31_000
      expect(await keeper.runOnce()).toMatchObject({ due: 1, refreshed: 1 })
      expect(recovered).toEqual([{ id, user: 'failing-0@example.com' }])
      expect(await store.findHealth([id!])).toEqual(new Map())
      await keeper.stop()
      expect(received.map((e) => e.type)).toEqual(['token.failing', 'token.recovered'])
      expect(received[0]!.data).toMatchObject({
        tokenId: id,
        user: 'failing-0@example.com',
        state: 'failing',
        attempts: 1,
        lastErrorCode: 'SERVER_ERROR',
      })
      expect(received[1]!.data).toMatchObject({ tokenId: id, state: 'active' })
      const token = (await store.findTokenById(id!))!
      for (const event of received) {
        const text = JSON.stringify(event)
        for (const value of [token.refreshToken!, token.accessToken!, token.clientSecret!]) {
          expect(text).not.toContain(value.slice(0, 12))
        }
      }
    } finally {
      receiver.close()
    }
  })

  it('leaves a token of another environment alone, with its secrets', async () => {
    const store = new MemoryStore()
    const [id] = await signInMany(store, 1, 'elsewhere')
    const token = (await store.findTokenById(id!))!
    token.apiDomain = 'https://www.zohoapis.eu'
    token.expiryTime = Date.now() - 1000
    await store.saveToken(token)
    emulator.resetCounts()
    const summary = await keeperFor(store).runOnce()
    expect(summary).toMatchObject({ due: 1, failed: 1, refreshed: 0 })
    expect(emulator.counts.total).toBe(0)
  })

  it('stop() lets the refreshes in flight finish and be saved, and starts no new one', async () => {
    const store = new MemoryStore()
    const ids = await signInMany(store, 4, 'stop')
    await expireAt(store, ids, Date.now() - 1000)
    const slow = await startAccountsEmulator({ latencyMs: 300, accessTokenLimit: false })
    try {
      // The same tokens, kept at an emulator that answers slowly: re-issue them there.
      const slowStore = new MemoryStore()
      const slowIds: string[] = []
      for (let i = 0; i < 4; i += 1) {
        slowIds.push((await signIn(slow, { store: slowStore, user: `slow-${i}@example.com` })).id!)
      }
      await expireAt(slowStore, slowIds, Date.now() - 1000)
      slow.resetCounts()
      const keeper = new TokenKeeper({
        store: slowStore,
        environment: slow.environment,
        concurrency: 2,
        retries: 0,
      })
      keeper.start()
      await new Promise((resolve) => setTimeout(resolve, 150))
      await keeper.stop()
      // Two were in flight when it stopped: both answered and saved; the other two untouched.
      expect(slow.counts.refresh).toBe(2)
      let refreshed = 0
      for (const id of slowIds) {
        const token = (await slowStore.findTokenById(id))!
        if (token.expiryTime! > Date.now()) {
          refreshed += 1
          expect(slow.isValid(token.accessToken!)).toBe(true)
        }
      }
      expect(refreshed).toBe(2)
    } finally {
      await slow.close()
    }
  })

  it('refuses options it does not understand, and a missing store', () => {
    const store = new MemoryStore()
    expect(() => new TokenKeeper({} as never)).toThrow(/store/)
    expect(() => new TokenKeeper({ store, intervalMs: 0 })).toThrow(/intervalMs/)
    expect(() => new TokenKeeper({ store, concurrency: 1.5 })).toThrow(/concurrency/)
    expect(() => new TokenKeeper({ store, refreshAhead: 5 } as never)).toThrow(/refreshAhead/)
    expect(() => new TokenKeeper({ store, environment: 'US' } as never)).toThrow(/environment/)
  })
})

/** Four keepers, each with its own connection to one store, as four processes would be. */
function fourKeepers(name: string, open: () => TokenStore): void {
  it(`${name}: four keepers refresh each due token exactly once`, async () => {
    const stores = Array.from({ length: 4 }, open)
    try {
      // Ten: Zoho takes at most 10 grant codes per client in 10 minutes (the store counts them).
      const ids = await signInMany(stores[0]!, 10, `four-${name}-${Date.now()}`)
      await expireAt(stores[0]!, ids, Date.now() - 1000)
      const before = emulator.counts.refresh
      const summaries = await Promise.all(stores.map((store) => keeperFor(store).runOnce()))
      const refreshed = summaries.reduce((sum, s) => sum + s.refreshed, 0)
      expect(emulator.counts.refresh - before).toBe(10)
      expect(refreshed).toBe(10)
      expect(summaries.reduce((sum, s) => sum + s.failed + s.reauthRequired, 0)).toBe(0)
      for (const id of ids) {
        const token = (await stores[1]!.findTokenById(id))!
        expect(token.expiryTime!).toBeGreaterThan(Date.now())
        expect(emulator.isValid(token.refreshToken!)).toBe(true)
        expect(emulator.isValid(token.accessToken!)).toBe(true)
      }
    } finally {
      for (const store of stores) await store.close?.()
    }
  })
}

describe('TokenKeeper on shared stores', () => {
  const sqlite = scratchPath(dir, 'keeper.db')
  fourKeepers('SQLiteStore', () => new SQLiteStore({ path: sqlite }))
})

await describeWithService('postgres', 'TokenKeeper on PostgreSQL', () => {
  const table = `keeper_${process.pid}`
  fourKeepers(
    'PostgresStore',
    () => new PostgresStore({ connectionString: SERVICES.postgres.url, table }),
  )
})

await describeWithService('redis', 'TokenKeeper on Redis', () => {
  const prefix = `keeper:${process.pid}:`
  fourKeepers('RedisStore', () => new RedisStore({ url: SERVICES.redis.url, prefix }))
})
