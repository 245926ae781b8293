// Adding a provider is one file: test/providers/acme.ts, used end to end here against a real
// server (oidc-provider at Acme's paths, taking client_secret_basic only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Initializer, MemoryStore, OAuthToken, scrub } from '../../src/index.ts'
import { parseTokenResponse } from '../../src/oauth/messages.ts'
import { startOidcProvider, type OidcServer } from '../helpers/oidc.ts'
import { acme, acmeAt } from './acme.ts'

describe('a provider in one file (Acme)', () => {
  let server: OidcServer
  beforeAll(async () => {
    server = await startOidcProvider({
      clientAuthMethods: ['client_secret_basic'],
      routes: {
        authorization: '/authorize',
        token: '/token',
        revocation: '/revoke',
        userinfo: '/me',
      },
    })
  })
  afterAll(() => server.close())

  it('signs in, names the user, calls the API, refreshes and revokes', async () => {
    const token = 'acme_0123456789abcdefXYZ'
    // Its token shape is redacted from the moment an environment uses the provider.
    expect(scrub(`got ${token}`)).toBe(`got ${token}`)
    const environment = acmeAt(server.issuer)
    expect(scrub(`got ${token}`)).toBe('got [redacted]')
    expect(environment.tokenUrl).toBe(`${server.issuer}/token`)
    expect(environment.budgets.accessTokensPerRefreshToken).toEqual({
      limit: 100,
      windowMs: 3_600_000,
    })
    expect(environment.budgets.grantExchangesPerClient).toBeUndefined()

    const store = new MemoryStore()
    const session = await Initializer.initialize({
      environment,
      store,
      token: new OAuthToken({
        clientId: server.clientId,
        clientSecret: server.clientSecret,
        grantToken: await server.obtainCode({ user: 'wile' }),
        redirectUrl: server.redirectUri,
      }),
      config: { findUser: true, retryDelayMs: 1 },
    })
    expect((await store.getTokens())[0]?.userSignature?.name).toBe('wile')
    const me = await session.fetch('/me')
    expect(await me.json()).toMatchObject({ sub: 'wile' })
    const first = await session.getAccessToken()
    await session.refresh({ force: true })
    expect(await session.getAccessToken()).not.toBe(first)
    await session.revoke()
    expect(await store.getTokens()).toEqual([])
    expect(server.counts).toMatchObject({ exchange: 1, refresh: 1, revoke: 1 })
  })

  it('reads its answers with its own quirks', () => {
    const body = JSON.stringify({ error: 'slow_down' })
    expect(() => parseTokenResponse(400, body, 0, [], acme.quirks)).toThrow(
      expect.objectContaining({ code: 'RATE_LIMIT_ERROR' }) as Error,
    )
    // A standard server's success never holds an error: refused as malformed.
    expect(() => parseTokenResponse(200, body, 0, [], acme.quirks)).toThrow(
      /an error code in a success answer/,
    )
  })
})
