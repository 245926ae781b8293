// Environment.discover against a real authorization server nobody here wrote (oidc-provider)
// that accepts client_secret_basic only: discovery, then the whole life of a token through a
// real Session, with the client secret in the Basic header and never in a form body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DiscoveryError,
  Environment,
  Initializer,
  InvalidTokenError,
  MemoryStore,
  OAuthToken,
} from '../../src/index.ts'
import { startOidcProvider, type OidcServer } from '../helpers/oidc.ts'

interface Seen {
  url: string
  authorization: string | null
  body: string
}

/** The global fetch, recording what each request carried. */
function recordingFetch(seen: Seen[]): typeof globalThis.fetch {
  return async (input, init) => {
    seen.push({
      url: input instanceof Request ? input.url : String(input),
      authorization: new Headers(init?.headers).get('authorization'),
      body: typeof init?.body === 'string' ? init.body : '',
    })
    return globalThis.fetch(input, init)
  }
}

describe('Environment.discover with oidc-provider, client_secret_basic only', () => {
  let server: OidcServer
  beforeAll(async () => {
    server = await startOidcProvider({
      clientAuthMethods: ['client_secret_basic'],
      rotateRefreshTokens: true,
    })
  })
  afterAll(() => server.close())

  const tokenFor = async (user: string) =>
    new OAuthToken({
      clientId: server.clientId,
      clientSecret: server.clientSecret,
      grantToken: await server.obtainCode({ user }),
      redirectUrl: server.redirectUri,
    })

  it('reads the metadata: endpoints, Basic chosen, Bearer calls, the issuer as accounts server', async () => {
    const environment = await Environment.discover(server.issuer)
    expect(environment.accountsUrl).toBe(server.issuer)
    expect(environment.endpoints).toEqual({
      authorization: `${server.issuer}/oauth/v2/auth`,
      token: `${server.issuer}/oauth/v2/token`,
      revocation: `${server.issuer}/oauth/v2/token/revoke`,
    })
    expect(environment.clientAuth).toBe('client_secret_basic')
    expect(environment.provider.authHeaderPrefix).toBe('Bearer ')
    expect(environment.provider.currentUser?.path).toBe(server.userinfoUrl)
    expect(environment.budgets).toEqual({
      accessTokensPerRefreshToken: undefined,
      grantExchangesPerClient: undefined,
    })
  })

  it('exchange, getAccessToken, forced refresh and revoke through a Session, the secret in Basic', async () => {
    const environment = await Environment.discover(server.issuer)
    const seen: Seen[] = []
    const store = new MemoryStore()
    const before = { ...server.counts }
    const session = await Initializer.initialize({
      environment,
      store,
      token: await tokenFor('grace'),
      // No userSignature: the provider's look-up (OpenID UserInfo) names the row.
      config: { fetch: recordingFetch(seen), findUser: true, retryDelayMs: 1 },
    })
    const [row] = await store.getTokens()
    expect(row?.userSignature?.name).toBe('grace')
    expect(server.counts.exchange).toBe(before.exchange! + 1)

    const first = await session.getAccessToken()
    const me = await session.fetch(server.userinfoUrl)
    expect(me.status).toBe(200)
    expect(await me.json()).toMatchObject({ sub: 'grace' })

    await session.refresh({ force: true })
    const second = await session.getAccessToken()
    expect(second).not.toBe(first)
    expect(server.counts.refresh).toBe(before.refresh! + 1)
    expect((await store.findTokenById(session.id!))?.accessToken).toBe(second)

    await session.revoke()
    expect(server.counts.revoke).toBe(before.revoke! + 1)
    expect(await store.getTokens()).toEqual([])
    const refused = await fetch(server.userinfoUrl, {
      headers: { authorization: `Bearer ${second}` },
    })
    expect(refused.status).toBe(401)

    // Every request to the accounts server authenticated with Basic, and no body held the secret.
    const basic = `Basic ${Buffer.from(`${server.clientId}:${server.clientSecret}`).toString('base64')}`
    const accounts = seen.filter(
      (s) => s.url === environment.endpoints.token || s.url === environment.endpoints.revocation,
    )
    expect(accounts.map((s) => new URL(s.url).pathname)).toEqual([
      '/oauth/v2/token',
      '/oauth/v2/token',
      '/oauth/v2/token/revoke',
    ])
    for (const request of accounts) {
      expect(request.authorization).toBe(basic)
      expect(request.body).not.toContain(server.clientSecret)
      expect(new URLSearchParams(request.body).has('client_secret')).toBe(false)
    }
    // API calls carry the provider's prefix, not Zoho's.
    const api = seen.filter((s) => s.url === server.userinfoUrl)
    expect(api.length).toBeGreaterThanOrEqual(2)
    for (const request of api) expect(request.authorization).toMatch(/^Bearer \S+$/)
  })

  it('is refused by this server when the secret goes in the form body instead', async () => {
    const discovered = await Environment.discover(server.issuer)
    const post = new Environment({
      name: 'post',
      apiDomain: server.issuer,
      accountsUrl: server.issuer,
      provider: discovered.provider,
      endpoints: discovered.endpoints,
      clientAuth: 'client_secret_post',
    })
    const failure = Initializer.initialize({
      environment: post,
      store: new MemoryStore(),
      token: await tokenFor('ada'),
      config: { retryDelayMs: 1 },
    })
    await expect(failure).rejects.toBeInstanceOf(InvalidTokenError)
    await expect(failure).rejects.toMatchObject({ serverError: 'invalid_client', status: 401 })
  })

  it('refuses to use client_secret_post when asked, since the server does not take it', async () => {
    const failure = Environment.discover(server.issuer, { clientAuth: 'client_secret_post' })
    await expect(failure).rejects.toBeInstanceOf(DiscoveryError)
    await expect(failure).rejects.toMatchObject({ reason: 'unsupported_auth' })
  })
})
