// A refresh the accounts server refuses because another process replaced the refresh token
// meanwhile (signed the user in again: the old refresh token revoked, a new one saved in the
// row). The session reads the row again before it reports the refusal: a stored token is never
// reported dead for losing a race. Real HTTP to the accounts emulator; "the other process" runs
// inside the session's own fetch, between reading the row and the refresh request reaching the
// server, which is the window the recovery exists for.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterEach, describe, expect, it } from 'vitest'
import { Initializer, MemoryStore, OAuthToken, UserSignature } from '../../src/index.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'

const HOUR = 3_600_000

const emulators: AccountsEmulator[] = []
const stops: (() => void)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0)) stop()
  await Promise.all(emulators.splice(0).map((e) => e.close()))
})

/** The events published on `name` from now on. */
function events(name: string): unknown[] {
  const seen: unknown[] = []
  const listener = (event: unknown) => seen.push(event)
  subscribe(`tokenkeeper:${name}`, listener)
  stops.push(() => unsubscribe(`tokenkeeper:${name}`, listener))
  return seen
}

/**
 * A session on a stored token, and a hook that, at its next refresh request, first plays the
 * other process: revokes the row's refresh token and saves a new sign-in's tokens in the row,
 * fresh or already expired.
 */
async function raced(theirs: 'fresh' | 'expired' | 'none') {
  const clock = { now: Date.now() }
  const emulator = await startAccountsEmulator({ now: () => clock.now })
  emulators.push(emulator)
  const { clientId, clientSecret } = emulator.clients[0]!
  const store = new MemoryStore()
  const post = async (url: string, form: Record<string, string>) => {
    const res = await globalThis.fetch(url, { method: 'POST', body: new URLSearchParams(form) })
    return (await res.json()) as Record<string, string>
  }
  const other = { refreshToken: '', accessToken: '' }
  let raceOn = false
  const session = await Initializer.initialize({
    environment: emulator.environment,
    store,
    token: new OAuthToken({
      clientId,
      clientSecret,
      grantToken: emulator.issueGrantCode(),
      userSignature: new UserSignature('ada'),
    }),
    config: {
      now: () => clock.now,
      retryDelayMs: 1,
      fetch: async (input, init) => {
        // The accounts client sends its form as a string.
        const form = new URLSearchParams(typeof init?.body === 'string' ? init.body : '')
        if (raceOn && form.get('grant_type') === 'refresh_token') {
          raceOn = false
          if (theirs !== 'none') {
            await post(emulator.environment.revokeUrl, { token: form.get('refresh_token')! })
            const answer = await post(emulator.environment.tokenUrl, {
              grant_type: 'authorization_code',
              client_id: clientId,
              client_secret: clientSecret,
              code: emulator.issueGrantCode(),
            })
            other.refreshToken = answer.refresh_token!
            other.accessToken = answer.access_token!
            const row = (await store.findTokenById(session.id!))!
            row.refreshToken = other.refreshToken
            row.accessToken = other.accessToken
            row.expiryTime = theirs === 'fresh' ? clock.now + HOUR : clock.now - HOUR
            await store.saveToken(row)
          }
        }
        return globalThis.fetch(input, init)
      },
    },
  })
  const ours = (await store.findTokenById(session.id!))!
  clock.now += 2 * HOUR
  raceOn = true
  emulator.resetCounts()
  return { emulator, store, session, ours, other }
}

describe('a refresh refused because another process replaced the refresh token meanwhile', () => {
  it("uses the other process's token when it is still fresh: no error, no second request", async () => {
    const recovered = events('token.race_recovered')
    const { emulator, store, session, ours, other } = await raced('fresh')
    expect(await session.getAccessToken()).toBe(other.accessToken)
    // Ours was refused (its refresh token revoked); nothing more was asked of the server.
    expect(emulator.isValid(ours.refreshToken!)).toBe(false)
    expect(emulator.counts).toMatchObject({ refresh: 1, rejected: 1 })
    expect(recovered).toEqual([{ id: session.id, user: 'ada' }])
    const row = (await store.findTokenById(session.id!))!
    expect(row).toMatchObject({
      refreshToken: other.refreshToken,
      accessToken: other.accessToken,
    })
  })

  it("refreshes with the other process's refresh token when its access token is due too", async () => {
    const recovered = events('token.race_recovered')
    const { emulator, store, session, other } = await raced('expired')
    const access = await session.getAccessToken()
    expect(access).not.toBe(other.accessToken)
    expect(emulator.isValid(access)).toBe(true)
    // One refused request with ours, one answered with theirs; the row keeps theirs.
    expect(emulator.counts).toMatchObject({ refresh: 2, rejected: 1 })
    expect(recovered).toEqual([{ id: session.id, user: 'ada' }])
    const row = (await store.findTokenById(session.id!))!
    expect(row).toMatchObject({ refreshToken: other.refreshToken, accessToken: access })
  })

  it('reports the refusal when the row still holds the refused refresh token, and keeps the row', async () => {
    const recovered = events('token.race_recovered')
    const { emulator, store, session, ours } = await raced('none')
    // Ours is revoked by nobody here: make the server refuse it.
    await globalThis.fetch(emulator.environment.revokeUrl, {
      method: 'POST',
      body: new URLSearchParams({ token: ours.refreshToken! }),
    })
    // Refused for good: the user must sign in again; the server's answer is the cause.
    await expect(session.getAccessToken()).rejects.toMatchObject({
      code: 'REAUTH_REQUIRED',
      tokenId: session.id,
      cause: { code: 'INVALID_TOKEN_ERROR', serverError: 'invalid_code' },
    })
    expect(recovered).toEqual([])
    expect((await store.findTokenById(session.id!))!.refreshToken).toBe(ours.refreshToken)
  })
})
