import { describe, expect, it } from 'vitest'
import { DataCenter, Environment, InvalidArgumentError } from '../src/index.ts'
import { parseTokenResponse } from '../src/oauth/messages.ts'

describe('DataCenter', () => {
  it("has every region's three environments with the official SDKs' URLs", () => {
    const expected: Record<string, [string, string]> = {
      US: ['com', 'https://accounts.zoho.com'],
      EU: ['eu', 'https://accounts.zoho.eu'],
      IN: ['in', 'https://accounts.zoho.in'],
      CN: ['com.cn', 'https://accounts.zoho.com.cn'],
      JP: ['jp', 'https://accounts.zoho.jp'],
      AU: ['com.au', 'https://accounts.zoho.com.au'],
      CA: ['ca', 'https://accounts.zohocloud.ca'],
      SA: ['sa', 'https://accounts.zoho.sa'],
    }
    expect(Object.keys(DataCenter).sort()).toEqual(Object.keys(expected).sort())
    for (const [code, [tld, accounts]] of Object.entries(expected)) {
      const dc = DataCenter[code as keyof typeof DataCenter]
      expect(dc.PRODUCTION.apiDomain).toBe(`https://www.zohoapis.${tld}`)
      expect(dc.SANDBOX.apiDomain).toBe(`https://sandbox.zohoapis.${tld}`)
      expect(dc.DEVELOPER.apiDomain).toBe(`https://developer.zohoapis.${tld}`)
      for (const env of [dc.PRODUCTION, dc.SANDBOX, dc.DEVELOPER])
        expect(env.accountsUrl).toBe(accounts)
    }
    expect(DataCenter.US.PRODUCTION.tokenUrl).toBe('https://accounts.zoho.com/oauth/v2/token')
    expect(DataCenter.US.PRODUCTION.revokeUrl).toBe(
      'https://accounts.zoho.com/oauth/v2/token/revoke',
    )
    expect(DataCenter.US.PRODUCTION.authorizeUrl).toBe('https://accounts.zoho.com/oauth/v2/auth')
    expect(DataCenter.EU.SANDBOX.name).toBe('EU.SANDBOX')
  })

  it('makes custom environments and rejects bad URLs', () => {
    const local = new Environment({
      name: 'local',
      apiDomain: 'http://127.0.0.1:4000/',
      accountsUrl: 'http://127.0.0.1:4001',
    })
    expect(local.apiDomain).toBe('http://127.0.0.1:4000')
    expect(local.tokenUrl).toBe('http://127.0.0.1:4001/oauth/v2/token')
    expect(
      () => new Environment({ name: 'x', apiDomain: 'not a url', accountsUrl: 'http://a' }),
    ).toThrow(InvalidArgumentError)
    expect(
      () => new Environment({ name: 'x', apiDomain: 'ftp://a', accountsUrl: 'http://a' }),
    ).toThrow(/http or https/)
  })
})

describe('token answers', () => {
  const now = 1_000_000
  it('reads Zoho answers: expires_in in seconds', () => {
    const grant = parseTokenResponse(
      200,
      JSON.stringify({
        access_token: 'a',
        refresh_token: 'r',
        api_domain: 'https://www.zohoapis.eu',
        token_type: 'Bearer',
        expires_in: 3600,
      }),
      now,
      [],
    )
    expect(grant).toEqual({
      accessToken: 'a',
      refreshToken: 'r',
      expiryTime: now + 3_600_000,
      apiDomain: 'https://www.zohoapis.eu',
      tokenType: 'Bearer',
      scope: undefined,
    })
  })
  it('reads older Zoho answers: expires_in in milliseconds beside expires_in_sec', () => {
    expect(
      parseTokenResponse(
        200,
        JSON.stringify({ access_token: 'a', expires_in: 3_600_000, expires_in_sec: 3600 }),
        now,
        [],
      ).expiryTime,
    ).toBe(now + 3_600_000)
  })
  it('reads errors inside HTTP 200 bodies, keeping the server code', () => {
    expect(() => parseTokenResponse(200, '{"error":"invalid_code"}', now, [])).toThrow(
      expect.objectContaining({
        code: 'INVALID_TOKEN_ERROR',
        serverError: 'invalid_code',
        status: 200,
      }) as Error,
    )
  })
  it('reads standard OAuth 2.0 errors with their description', () => {
    expect(() =>
      parseTokenResponse(
        400,
        '{"error":"invalid_grant","error_description":"grant request is invalid"}',
        now,
        [],
      ),
    ).toThrow(
      expect.objectContaining({
        serverError: 'invalid_grant',
        errorDescription: 'grant request is invalid',
        status: 400,
      }) as Error,
    )
  })
  it("turns Zoho's too-many-requests answer into a rate-limit error", () => {
    const body =
      '{"error":"Access Denied","error_description":"You have made too many requests continuously. Please try again after some time."}'
    expect(() => parseTokenResponse(400, body, now, [])).toThrow(
      expect.objectContaining({ code: 'RATE_LIMIT_ERROR' }) as Error,
    )
  })
  it('refuses HTML, broken JSON and answers without an access token', () => {
    expect(() => parseTokenResponse(502, '<html><body>Bad gateway</body></html>', now, [])).toThrow(
      /HTTP 502 with an HTML page/,
    )
    expect(() => parseTokenResponse(200, '{"access_token": ', now, [])).toThrow(/not JSON/)
    expect(() => parseTokenResponse(200, '{"token_type":"Bearer"}', now, [])).toThrow(
      expect.objectContaining({ code: 'INVALID_RESPONSE' }) as Error,
    )
  })
  it('never copies a secret the server echoes into the error', () => {
    const secret = 'my-refresh-token-value'
    try {
      parseTokenResponse(
        200,
        JSON.stringify({ error: 'invalid_code', error_description: `token ${secret} is unknown` }),
        now,
        [secret],
      )
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).not.toContain(secret)
      expect((err as { errorDescription: string }).errorDescription).toBe(
        'token [redacted] is unknown',
      )
    }
  })
})
