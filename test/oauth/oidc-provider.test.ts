/**
 * Proves the oidc-provider test helper with raw fetch: a real third-party OAuth 2.0 server issues
 * codes, tokens and refresh tokens at Zoho's paths, and refuses what it should with standard
 * OAuth 2.0 error answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOidcProvider } from '../helpers/oidc.ts'
import type { OidcServer } from '../helpers/oidc.ts'

interface TokenAnswer {
  access_token: string
  refresh_token?: string
  token_type: string
  expires_in: number
  scope?: string
  id_token?: string
}

async function post(
  url: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

function exchange(server: OidcServer, code: string, extra: Record<string, string> = {}) {
  return post(`${server.accountsUrl}/oauth/v2/token`, {
    grant_type: 'authorization_code',
    client_id: server.clientId,
    client_secret: server.clientSecret,
    code,
    redirect_uri: server.redirectUri,
    ...extra,
  })
}

function refresh(server: OidcServer, refreshToken: string) {
  return post(`${server.accountsUrl}/oauth/v2/token`, {
    grant_type: 'refresh_token',
    client_id: server.clientId,
    client_secret: server.clientSecret,
    refresh_token: refreshToken,
  })
}

function revoke(server: OidcServer, token: string) {
  return post(`${server.accountsUrl}/oauth/v2/token/revoke`, {
    client_id: server.clientId,
    client_secret: server.clientSecret,
    token,
  })
}

async function userinfo(server: OidcServer, accessToken: string) {
  const res = await fetch(server.userinfoUrl, {
    headers: { authorization: `Bearer ${accessToken}` },
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

/** Code, exchange, and the token answer, checked. */
async function login(server: OidcServer, user = 'user-1'): Promise<TokenAnswer> {
  const code = await server.obtainCode({ user })
  const { status, body } = await exchange(server, code)
  expect(status, JSON.stringify(body)).toBe(200)
  return body as unknown as TokenAnswer
}

describe('oidc-provider test server, rotation off', () => {
  let server: OidcServer
  beforeAll(async () => {
    server = await startOidcProvider({ accessTokenTtlSec: 120 })
  })
  afterAll(() => server.close())

  it('serves at 127.0.0.1 with Zoho-style paths', () => {
    expect(server.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.accountsUrl).toBe(server.issuer)
    expect(server.userinfoUrl).toBe(`${server.issuer}/me`)
  })

  it('gives a code for a real authorization request, and the code exchanges once for tokens', async () => {
    const before = { ...server.counts }
    const code = await server.obtainCode({ user: 'alice', state: 'state-123' })
    expect(code).toMatch(/\S{20,}/)
    // login and consent each resume the authorization endpoint
    expect(server.counts.auth).toBeGreaterThanOrEqual((before.auth ?? 0) + 3)

    const { status, body } = await exchange(server, code)
    expect(status).toBe(200)
    const tokens = body as unknown as TokenAnswer
    expect(tokens.token_type).toBe('Bearer')
    expect(tokens.expires_in).toBe(120)
    expect(tokens.access_token).toEqual(expect.any(String))
    expect(tokens.refresh_token).toEqual(expect.any(String))
    expect(tokens.scope).toBe('openid offline_access')

    const me = await userinfo(server, tokens.access_token)
    expect(me).toEqual({ status: 200, body: { sub: 'alice' } })

    // A code is good once.
    const again = await exchange(server, code)
    expect(again.status).toBe(400)
    expect(again.body.error).toBe('invalid_grant')

    expect(server.counts.exchange).toBe((before.exchange ?? 0) + 2)
    expect(server.counts.token).toBe((before.token ?? 0) + 2)
    expect(server.counts.userinfo).toBe((before.userinfo ?? 0) + 1)
  })

  it('refuses an exchange without redirect_uri, with a wrong secret, or with a bad code', async () => {
    const code = await server.obtainCode()
    const noRedirect = await post(`${server.accountsUrl}/oauth/v2/token`, {
      grant_type: 'authorization_code',
      client_id: server.clientId,
      client_secret: server.clientSecret,
      code,
    })
    expect(noRedirect.status).toBe(400)
    expect(noRedirect.body.error).toBe('invalid_request')

    const wrongSecret = await exchange(server, code, { client_secret: 'wrong' })
    expect(wrongSecret.status).toBe(401)
    expect(wrongSecret.body.error).toBe('invalid_client')

    const badCode = await exchange(server, 'not-a-code')
    expect(badCode.status).toBe(400)
    expect(badCode.body.error).toBe('invalid_grant')

    // The failures did not spend the code.
    expect((await exchange(server, code)).status).toBe(200)
  })

  it('issues no refresh token without offline_access', async () => {
    const code = await server.obtainCode({ scope: 'openid' })
    const { status, body } = await exchange(server, code)
    expect(status).toBe(200)
    expect(body.access_token).toEqual(expect.any(String))
    expect(body.refresh_token).toBeUndefined()
  })

  it('refreshes with the same refresh token each time', async () => {
    const tokens = await login(server)
    const rt = tokens.refresh_token ?? ''
    const before = server.counts.refresh ?? 0

    const first = await refresh(server, rt)
    expect(first.status).toBe(200)
    expect(first.body.access_token).toEqual(expect.any(String))
    expect(first.body.access_token).not.toBe(tokens.access_token)
    expect(first.body.refresh_token).toBe(rt)

    const second = await refresh(server, rt)
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).toBe(rt)

    const me = await userinfo(server, second.body.access_token as string)
    expect(me.status).toBe(200)
    expect(server.counts.refresh).toBe(before + 2)
  })

  it('answers an unknown refresh token and a bad bearer token with OAuth errors', async () => {
    const unknown = await refresh(server, 'no-such-token')
    expect(unknown.status).toBe(400)
    expect(unknown.body.error).toBe('invalid_grant')

    const me = await userinfo(server, 'no-such-token')
    expect(me.status).toBe(401)
    expect(me.body.error).toBe('invalid_token')
  })

  it('revoking the refresh token makes refresh fail', async () => {
    const tokens = await login(server)
    const rt = tokens.refresh_token ?? ''
    const before = server.counts.revoke ?? 0

    const revoked = await revoke(server, rt)
    expect(revoked.status).toBe(200)
    expect(server.counts.revoke).toBe(before + 1)

    const after = await refresh(server, rt)
    expect(after.status).toBe(400)
    expect(after.body.error).toBe('invalid_grant')

    // Revoking a token the server does not know is still a success (RFC 7009).
    expect((await revoke(server, 'no-such-token')).status).toBe(200)
  })
})

describe('oidc-provider test server, rotation on', () => {
  let server: OidcServer
  beforeAll(async () => {
    server = await startOidcProvider({ rotateRefreshTokens: true })
  })
  afterAll(() => server.close())

  it('rotates the refresh token and refuses the old one with invalid_grant', async () => {
    const tokens = await login(server, 'bob')
    expect(tokens.expires_in).toBe(3600)
    const rt1 = tokens.refresh_token ?? ''

    const first = await refresh(server, rt1)
    expect(first.status).toBe(200)
    const rt2 = first.body.refresh_token as string
    expect(rt2).toEqual(expect.any(String))
    expect(rt2).not.toBe(rt1)
    expect((await userinfo(server, first.body.access_token as string)).body).toEqual({
      sub: 'bob',
    })

    const second = await refresh(server, rt2)
    expect(second.status).toBe(200)
    const rt3 = second.body.refresh_token as string
    expect(rt3).not.toBe(rt2)

    const reused = await refresh(server, rt1)
    expect(reused.status).toBe(400)
    expect(reused.body.error).toBe('invalid_grant')

    // Reuse of a rotated token revokes the whole grant: the newest token dies too.
    const latest = await refresh(server, rt3)
    expect(latest.status).toBe(400)
    expect(latest.body.error).toBe('invalid_grant')
  })

  it('revoking the current refresh token makes refresh fail', async () => {
    const tokens = await login(server)
    const rotated = await refresh(server, tokens.refresh_token ?? '')
    const rt = rotated.body.refresh_token as string
    expect((await revoke(server, rt)).status).toBe(200)
    const after = await refresh(server, rt)
    expect(after.status).toBe(400)
    expect(after.body.error).toBe('invalid_grant')
  })
})
