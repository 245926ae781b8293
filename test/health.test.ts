// Token health: the stored record and its rules (bound to the refresh token, never trusted when
// unreadable), and the in-memory stores against the published suite.
import { describe, expect, it } from 'vitest'
import { ListStore, MemoryStore, OAuthToken } from '../src/index.ts'
import {
  ACTIVE,
  backoffMs,
  decodeHealth,
  encodeHealth,
  refusedForGood,
  storedHealth,
} from '../src/health.ts'
import { InvalidTokenError } from '../src/errors.ts'
import { healthConformance } from '../src/testing/index.ts'

const token = (refreshToken = '1000.refresh.abc') => new OAuthToken({ id: '7', refreshToken })

describe('a health record', () => {
  const failing = {
    state: 'failing',
    attempts: 2,
    nextAttemptAt: 1_900_000_030_000,
    lastErrorCode: 'NETWORK_ERROR',
    since: 1_900_000_000_000,
  } as const

  it('is read back as written, and holds no secret', () => {
    const record = encodeHealth(token(), failing)
    expect(decodeHealth(token(), record)).toEqual(failing)
    expect(record).not.toContain('1000.refresh')
    expect(record).not.toContain('abc')
    expect(record.length).toBeLessThanOrEqual(200)
  })

  it('keeps a recorded use; an active token with one is stored, one without is not', () => {
    const usedActive = { ...ACTIVE, since: 5, lastUsedAt: 7 }
    expect(decodeHealth(token(), encodeHealth(token(), usedActive))).toEqual(usedActive)
    expect(decodeHealth(token(), encodeHealth(token(), { ...failing, lastUsedAt: 8 }))).toEqual({
      ...failing,
      lastUsedAt: 8,
    })
    expect(storedHealth(token(), ACTIVE)).toBeNull()
    expect(storedHealth(token(), { ...ACTIVE, since: 5 })).toBeNull()
    expect(storedHealth(token(), usedActive)).toBe(encodeHealth(token(), usedActive))
    expect(storedHealth(token(), failing)).toBe(encodeHealth(token(), failing))
  })

  it('no longer applies once the refresh token changed (a new consent)', () => {
    const record = encodeHealth(token(), { state: 'reauth_required', attempts: 1, since: 9 })
    expect(decodeHealth(token(), record).state).toBe('reauth_required')
    expect(decodeHealth(token('1000.refresh.new'), record)).toBe(ACTIVE)
  })

  it('reads as active when absent or unreadable: a hostile value never stops refreshes', () => {
    const good = JSON.parse(encodeHealth(token(), failing)) as Record<string, unknown>
    const hostile = [
      null,
      undefined,
      '',
      'not json',
      '[]',
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, s: 'dead' }),
      JSON.stringify({ ...good, a: -1 }),
      JSON.stringify({ ...good, a: 1.5 }),
      JSON.stringify({ ...good, t: 'yesterday' }),
      JSON.stringify({ ...good, n: -5 }),
      JSON.stringify({ ...good, u: -1 }),
      JSON.stringify({ ...good, u: '2026-11-30' }),
      JSON.stringify({ ...good, u: 1e300 }),
      JSON.stringify({ ...good, e: 'line\nbreak' }),
      JSON.stringify({ ...good, e: 'x'.repeat(61) }),
      JSON.stringify({ ...good, rt: undefined }),
      `${JSON.stringify(good)}${' '.repeat(200)}`,
    ]
    for (const record of hostile) expect(decodeHealth(token(), record), String(record)).toBe(ACTIVE)
  })

  it('backs off from 30 s, doubling, to at most an hour', () => {
    expect([1, 2, 3, 4].map(backoffMs)).toEqual([30_000, 60_000, 120_000, 240_000])
    expect(backoffMs(20)).toBe(3_600_000)
    expect(backoffMs(0)).toBe(30_000)
  })

  it('a refresh token refused with invalid_grant or invalid_code is dead; others are not', () => {
    const refused = (error: string) => new InvalidTokenError(error, 'refused', { status: 400 })
    expect(refusedForGood(refused('invalid_grant'))).toBe(true)
    expect(refusedForGood(refused('invalid_code'))).toBe(true)
    expect(refusedForGood(refused('invalid_client'))).toBe(false)
    expect(refusedForGood(new Error('invalid_grant'))).toBe(false)
  })
})

describe('MemoryStore health', () => {
  for (const t of healthConformance({ create: () => new MemoryStore() })) it(t.name, t.run)
})

describe('ListStore health', () => {
  for (const t of healthConformance({ create: () => new ListStore() })) it(t.name, t.run)
})
