// The portal's sign-in sessions on their own: ids, CSRF tokens, the cap, sign-out, revoke and
// expiry, on an injected clock.
import { describe, expect, it } from 'vitest'
import { PortalSessions } from '../../../examples/portal/sessions.ts'

describe('PortalSessions', () => {
  it('keeps sessions until they end, expire, or are pushed out by the newest', () => {
    const clock = { now: 1_000_000 }
    const sessions = new PortalSessions({ ttlMs: 1000, max: 3, now: () => clock.now })
    const a = sessions.start('t1', 'ada')
    const b = sessions.start('t1', 'ada')
    const c = sessions.start('t2', 'grace')
    expect(sessions.get(a)).toMatchObject({ tokenId: 't1', userName: 'ada' })
    expect(sessions.get(a)!.csrf).not.toBe(sessions.get(b)!.csrf)
    for (const bad of [undefined, '', 'x', a.toUpperCase(), `${a}x`, 'a'.repeat(10_000)]) {
      expect(sessions.get(bad)).toBeUndefined()
    }
    // A fourth pushes out the oldest.
    const d = sessions.start('t3', 'alan')
    expect(sessions.size).toBe(3)
    expect(sessions.get(a)).toBeUndefined()
    expect(sessions.get(b)).toBeDefined()
    // Revoking a token ends every session on it; sign-out ends one.
    expect(sessions.endAllOf('t1')).toBe(1)
    expect(sessions.get(b)).toBeUndefined()
    sessions.end(c)
    expect(sessions.get(c)).toBeUndefined()
    // Expiry: valid up to the last millisecond, then gone.
    clock.now += 999
    expect(sessions.get(d)).toBeDefined()
    clock.now += 1
    expect(sessions.get(d)).toBeUndefined()
    expect(sessions.size).toBe(0)
  })
})
