// Which tokens a keeper pass refreshes (keeper/policy.ts), at the edges of each rule.
import { describe, expect, it } from 'vitest'
import { MemoryStore, OAuthToken } from '../../src/index.ts'
import { ACTIVE, type TokenHealth } from '../../src/health.ts'
import { passPages, verdict, type KeepPolicy } from '../../src/keeper/policy.ts'

const NOW = 1_000_000_000_000
const AHEAD = 300_000
const every: KeepPolicy = { refreshAheadMs: AHEAD, pageSize: 10 }
const inUse: KeepPolicy = { ...every, usedWithinMs: 86_400_000 }
const alive: KeepPolicy = { ...inUse, refreshIdleAfterMs: 7 * 86_400_000 }

const token = (expiryTime: number): OAuthToken =>
  new OAuthToken({ id: '1', refreshToken: 'r', accessToken: 'a', expiryTime })
const used = (at: number): TokenHealth => ({ ...ACTIVE, lastUsedAt: at })

describe('verdict', () => {
  it('a token is due when less than refreshAheadMs is left, not before', () => {
    expect(verdict(every, token(NOW + AHEAD + 1), ACTIVE, NOW)).toBe('notDue')
    expect(verdict(every, token(NOW + AHEAD), ACTIVE, NOW)).toBe('refresh')
  })

  it('a token refused for good is counted, never refreshed, whatever its use', () => {
    const refused: TokenHealth = {
      state: 'reauth_required',
      attempts: 1,
      since: 1,
      lastUsedAt: NOW,
    }
    expect(verdict(alive, token(NOW - 1), refused, NOW)).toBe('reauthRequired')
  })

  it('a failing token waits out its backoff, to the millisecond', () => {
    const failing = (nextAttemptAt: number): TokenHealth => ({
      state: 'failing',
      attempts: 1,
      since: 1,
      nextAttemptAt,
    })
    expect(verdict(every, token(NOW - 1), failing(NOW + 1), NOW)).toBe('deferred')
    expect(verdict(every, token(NOW - 1), failing(NOW), NOW)).toBe('refresh')
    // Only a failing token waits: a stale next-attempt time on an active record is ignored.
    const active: TokenHealth = { ...ACTIVE, nextAttemptAt: NOW + 1 }
    expect(verdict(every, token(NOW - 1), active, NOW)).toBe('refresh')
  })

  it('usedWithinMs: a use exactly that long ago still counts; one a millisecond older does not', () => {
    const day = inUse.usedWithinMs!
    expect(verdict(inUse, token(NOW), used(NOW - day), NOW)).toBe('refresh')
    expect(verdict(inUse, token(NOW), used(NOW - day - 1), NOW)).toBe('idle')
    expect(verdict(inUse, token(NOW), ACTIVE, NOW)).toBe('idle')
    // Without usedWithinMs every due token is kept, used or not.
    expect(verdict(every, token(NOW), ACTIVE, NOW)).toBe('refresh')
  })

  it('refreshIdleAfterMs: an idle token expired exactly that long ago is kept alive', () => {
    const week = alive.refreshIdleAfterMs!
    expect(verdict(alive, token(NOW - week), ACTIVE, NOW)).toBe('keepAlive')
    expect(verdict(alive, token(NOW - week + 1), ACTIVE, NOW)).toBe('idle')
    // A token in use is refreshed as one, not as a keep-alive.
    expect(verdict(alive, token(NOW - week), used(NOW), NOW)).toBe('refresh')
  })
})

describe('passPages', () => {
  /** The expiries a pass reads from a store holding one token per expiry given. */
  async function read(policy: KeepPolicy, expiries: number[]): Promise<number[]> {
    const store = new MemoryStore()
    for (const [i, expiryTime] of expiries.entries()) {
      await store.saveToken(
        new OAuthToken({ id: `t${i}`, refreshToken: `r${i}`, accessToken: `a${i}`, expiryTime }),
      )
    }
    const seen: number[] = []
    for await (const page of passPages(store, policy, NOW)) {
      seen.push(...page.map((t) => t.expiryTime!))
    }
    return seen
  }

  it('every token kept: every expiry up to refreshAheadMs ahead, however old', async () => {
    expect(await read(every, [1, NOW, NOW + AHEAD, NOW + AHEAD + 1])).toEqual([1, NOW, NOW + AHEAD])
  })

  it('only tokens in use: from usedWithinMs ago to refreshAheadMs ahead', async () => {
    const from = NOW - inUse.usedWithinMs!
    expect(await read(inUse, [1, from - 1, from, NOW + AHEAD, NOW + AHEAD + 1])).toEqual([
      from,
      NOW + AHEAD,
    ])
  })

  it('with a keep-alive: and the expiries older than the keep-alive, each read once', async () => {
    const from = NOW - alive.usedWithinMs!
    const idleBefore = NOW - alive.refreshIdleAfterMs!
    expect(
      await read(alive, [1, idleBefore - 1, idleBefore, idleBefore + 1, from - 1, from, NOW]),
    ).toEqual([1, idleBefore - 1, idleBefore, from, NOW])
    // A keep-alive shorter than usedWithinMs: everything older than the in-use range.
    const short: KeepPolicy = { ...inUse, refreshIdleAfterMs: 3_600_000 }
    expect(await read(short, [1, from - 1, from, NOW])).toEqual([1, from - 1, from, NOW])
  })
})
