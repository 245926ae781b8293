// Revoke-then-delete, written once (revokeStoredToken) for the session, the policies and the CLI:
// what it revokes, when it deletes, and what it keeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Initializer, MemoryStore, OAuthToken, type TokenStore } from '../src/index.ts'
import { CLIENT_DEFAULTS } from '../src/oauth/client.ts'
import { revocationClient, revokeStoredToken } from '../src/revocation.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'
import { scratchDir, scratchPath } from './helpers/common.ts'

const dir = scratchDir('tokenkeeper-revocation-')
let emulator: AccountsEmulator
beforeAll(async () => {
  emulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }],
    rotateRefreshTokens: true,
    accessTokenLimit: false,
  })
})
afterAll(async () => {
  await emulator.close()
})

/** A real token of the emulator's, saved in `store`; its session. */
async function signIn(store: TokenStore) {
  const { clientId, clientSecret } = emulator.clients[0]!
  return Initializer.initialize({
    environment: emulator.environment,
    store,
    token: new OAuthToken({ clientId, clientSecret, grantToken: emulator.issueGrantCode() }),
    config: { retryDelayMs: 1 },
  })
}

/** A custom store with the six methods only (no leases), over a MemoryStore. */
function bareStore(): TokenStore {
  const inner = new MemoryStore()
  return {
    findToken: (token) => inner.findToken(token),
    findTokenById: (id) => inner.findTokenById(id),
    saveToken: (token) => inner.saveToken(token),
    deleteToken: (id) => inner.deleteToken(id),
    getTokens: () => inner.getTokens(),
    deleteTokens: () => inner.deleteTokens(),
  }
}

describe('revokeStoredToken', () => {
  it('revokes the refresh token the row holds now (rotated since it was listed), then deletes', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'rotated.db') })
    const session = await signIn(store)
    const listed = session.token
    // Another process rotates the refresh token after the caller listed the row.
    const rotated = await session.refresh({ force: true })
    expect(rotated.refreshToken).not.toBe(listed.refreshToken)
    emulator.resetCounts()

    const { client } = revocationClient(emulator.environment)
    const done = await revokeStoredToken(store, listed.id, client)
    expect(done.outcome).toBe('revoked')
    expect(emulator.counts.revoke).toBe(1)
    expect(emulator.isValid(rotated.refreshToken!)).toBe(false)
    expect(await store.findTokenById(listed.id!)).toBeNull()
    await store.close()
  })

  it('keeps the row when the server cannot revoke, and rejects with the error', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'refused.db') })
    const session = await signIn(store)
    // Every try fails: the first and each retry.
    emulator.fail('http503', { times: CLIENT_DEFAULTS.retries + 1, on: 'revoke' })
    const { client } = revocationClient(emulator.environment)
    await expect(revokeStoredToken(store, session.id, client)).rejects.toMatchObject({
      code: 'SERVER_ERROR',
    })
    const kept = await store.findTokenById(session.id!)
    expect(kept?.refreshToken).toBe(session.token.refreshToken)
    expect(emulator.isValid(kept!.refreshToken!)).toBe(true)
    await store.close()
  })

  it('sends nothing and keeps the row when it no longer satisfies `when`; a gone row is gone', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'when.db') })
    const session = await signIn(store)
    const { client } = revocationClient(emulator.environment)
    emulator.resetCounts()
    const kept = await revokeStoredToken(store, session.id, client, {
      when: (token) => token.userSignature?.name === 'someone-else',
    })
    expect(kept.outcome).toBe('kept')
    expect(emulator.counts.revoke).toBe(0)
    expect(await store.findTokenById(session.id!)).not.toBeNull()

    await store.deleteToken(session.id!)
    expect((await revokeStoredToken(store, session.id, client)).outcome).toBe('gone')
    expect(emulator.counts.revoke).toBe(0)
    expect(emulator.isValid(session.token.refreshToken!)).toBe(true)
    await store.close()
  })

  it("revokes the caller's own newer copy as well as the row's", async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'known.db') })
    const session = await signIn(store)
    const stored = session.token
    // The caller's copy, refreshed elsewhere and never saved (its save failed).
    const other = await signIn(new MemoryStore())
    const known = stored.clone()
    known.refreshToken = other.token.refreshToken
    const { client } = revocationClient(emulator.environment)
    const done = await revokeStoredToken(store, stored.id, client, { known })
    expect(done.outcome).toBe('revoked')
    expect(emulator.isValid(stored.refreshToken!)).toBe(false)
    expect(emulator.isValid(known.refreshToken!)).toBe(false)
    expect(await store.findTokenById(stored.id!)).toBeNull()
    await store.close()
  })

  it('revokes the token a writer without leases put in the row meanwhile, then deletes', async () => {
    const store = bareStore()
    const session = await signIn(store)
    const id = session.id!
    const first = session.token
    const replacement = (await signIn(new MemoryStore())).token
    // The first revocation answered; before the row is deleted, a writer that takes no lease
    // saves another token in it.
    let revocations = 0
    const { client } = revocationClient(emulator.environment, {
      fetch: async (input, init) => {
        const response = await globalThis.fetch(input, init)
        const url =
          typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
        if (url.includes('/revoke') && ++revocations === 1) {
          const row = (await store.findTokenById(id))!
          row.refreshToken = replacement.refreshToken
          await store.saveToken(row)
        }
        return response
      },
    })
    const done = await revokeStoredToken(store, id, client)
    expect(done.outcome).toBe('revoked')
    expect(revocations).toBe(2)
    expect(emulator.isValid(first.refreshToken!)).toBe(false)
    expect(emulator.isValid(replacement.refreshToken!)).toBe(false)
    expect(await store.findTokenById(id)).toBeNull()
  })
})
