// The session against a real OAuth 2.0 server nobody here wrote (oidc-provider), with the
// Bearer prefix, and refresh-token rotation on and off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  Environment,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
} from '../../src/index.ts'
import { startOidcProvider, type OidcServer } from '../helpers/oidc.ts'

for (const rotate of [true, false]) {
  describe(`Session with oidc-provider, rotation ${rotate ? 'on' : 'off'}`, () => {
    let server: OidcServer
    let environment: Environment
    beforeAll(async () => {
      server = await startOidcProvider({ rotateRefreshTokens: rotate })
      environment = new Environment({
        name: 'oidc-provider',
        apiDomain: server.issuer,
        accountsUrl: server.issuer,
      })
    })
    afterAll(() => server.close())

    const start = async (store: MemoryStore, clock: { now: number }) =>
      Initializer.initialize({
        environment,
        store,
        token: new OAuthToken({
          userSignature: new UserSignature('ada'),
          clientId: server.clientId,
          clientSecret: server.clientSecret,
          grantToken: await server.obtainCode({ user: 'ada' }),
          redirectUrl: server.redirectUri,
        }),
        config: { authHeaderPrefix: 'Bearer ', now: () => clock.now, retryDelayMs: 1 },
      })

    it('exchanges, calls the API with Bearer, refreshes once for 100 callers, and revokes', async () => {
      const store = new MemoryStore()
      const clock = { now: Date.now() }
      const session = await start(store, clock)
      expect(server.counts.exchange).toBeGreaterThanOrEqual(1)
      const me = await session.fetch('/me')
      expect(me.status).toBe(200)
      expect(await me.json()).toMatchObject({ sub: 'ada' })

      const before = (await store.findTokenById(session.id!))!
      const refreshesBefore = server.counts.refresh ?? 0
      clock.now += 3_600_000 // the session's clock says the token has expired
      const tokens = await Promise.all(Array.from({ length: 100 }, () => session.getAccessToken()))
      expect(new Set(tokens).size).toBe(1)
      expect((server.counts.refresh ?? 0) - refreshesBefore).toBe(1)
      const after = (await store.findTokenById(session.id!))!
      expect(after.accessToken).toBe(tokens[0])
      expect(after.accessToken).not.toBe(before.accessToken)
      if (rotate) expect(after.refreshToken).not.toBe(before.refreshToken)
      else expect(after.refreshToken).toBe(before.refreshToken)
      expect((await session.fetch('/me')).status).toBe(200)

      await session.revoke()
      expect(await store.findTokenById(after.id!)).toBeNull()
      const refused = await fetch(server.userinfoUrl, {
        headers: { authorization: `Bearer ${tokens[0]}` },
      })
      expect(refused.status).toBe(401)
    })

    it('refreshes once and retries once when the server refuses the access token (401)', async () => {
      const store = new MemoryStore()
      const clock = { now: Date.now() }
      const session = await start(store, clock)
      const stale = await session.getAccessToken()
      // Revoking the access token alone makes the server refuse it while the clock says valid.
      const revoked = await fetch(`${server.issuer}/oauth/v2/token/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          token: stale,
          client_id: server.clientId,
          client_secret: server.clientSecret,
        }),
      })
      expect(revoked.status).toBe(200)
      const refreshesBefore = server.counts.refresh ?? 0
      const response = await session.fetch('/me')
      expect(response.status).toBe(200)
      expect((server.counts.refresh ?? 0) - refreshesBefore).toBe(1)
      expect(await session.getAccessToken()).not.toBe(stale)
    })
  })
}
