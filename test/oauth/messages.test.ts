import { describe, expect, it } from 'vitest'
import { DataCenter, Environment, InvalidArgumentError } from '../../src/index.ts'
import { isLoopback } from '../../src/oauth/environments.ts'
import { isTokenText, parseTokenResponse as parse } from '../../src/oauth/messages.ts'
import { STANDARD_QUIRKS } from '../../src/providers/provider.ts'
import { zoho } from '../../src/providers/zoho.ts'

/** Zoho's answers, read as the Zoho provider (every environment's default) reads them. */
const parseTokenResponse = (status: number, body: string, now: number, secrets: string[]) =>
  parse(status, body, now, secrets, zoho.quirks)
import { retryAfterMs } from '../../src/oauth/response.ts'
import { OAuthToken, needsRefresh } from '../../src/index.ts'
import { MAX_LIFETIME_MS, rememberLifetime } from '../../src/token.ts'

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
        expires_in: 2400, // not Zoho's usual hour: the default lifetime would be an hour too
      }),
      now,
      [],
    )
    expect(grant).toEqual({
      accessToken: 'a',
      refreshToken: 'r',
      expiryTime: now + 2_400_000,
      lifetimeMs: 2_400_000,
      apiDomain: 'https://www.zohoapis.eu',
      tokenType: 'Bearer',
      scope: undefined,
    })
  })
  it('reads older Zoho answers: expires_in in milliseconds beside expires_in_sec, which rules', () => {
    // The two disagree on purpose (an hour in ms, half an hour in s): the answer shows which
    // one was read, and that expires_in was not taken as milliseconds either (it would be 1 h).
    const grant = parseTokenResponse(
      200,
      JSON.stringify({ access_token: 'a', expires_in: 3_600_000, expires_in_sec: 1800 }),
      now,
      [],
    )
    expect(grant.lifetimeMs).toBe(1_800_000)
    expect(grant.expiryTime).toBe(now + 1_800_000)
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
    expect(() => parseTokenResponse(200, '{"access_token": ', now, [])).toThrow(/not a JSON object/)
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

describe('token answers: each rule on its own', () => {
  const now = 1_000_000
  /** The error a body is refused with; a body that is accepted fails the test. */
  const refusal = (status: number, body: string, secrets: string[] = []) => {
    try {
      parseTokenResponse(status, body, now, secrets)
    } catch (err) {
      return err as Error & { code: string; status?: number; serverError?: string }
    }
    throw new Error(`accepted HTTP ${status} ${body}`)
  }
  const bad = (status: number, what: string) =>
    `the accounts server answered HTTP ${status} with ${what}`

  it('takes a token from an HTTP 2xx answer only, whatever the body holds', () => {
    const body = '{"access_token":"a","expires_in":3600}'
    for (const status of [199, 300, 302, 400, 401, 500]) {
      expect(refusal(status, body)).toMatchObject({
        code: 'INVALID_RESPONSE',
        status,
        message: bad(
          status,
          'neither an error code nor a success status (a token is read from HTTP 2xx only)',
        ),
      })
    }
    for (const status of [200, 201, 299]) {
      expect(parseTokenResponse(status, body, now, []).accessToken).toBe('a')
    }
    // An empty access token is none; an empty error is none either.
    expect(refusal(200, '{"access_token":""}').message).toBe(bad(200, 'no access token'))
    expect(parseTokenResponse(200, '{"error":"","access_token":"a"}', now, []).accessToken).toBe(
      'a',
    )
  })

  it('says an HTML page when the body starts with a tag, and a JSON object is what it expects', () => {
    expect(refusal(502, '\n  <!DOCTYPE html><title>Bad gateway</title>').message).toBe(
      bad(502, 'an HTML page'),
    )
    // A '<' further in does not make a page.
    for (const body of ['plain<text>', 'Bad gateway <b>', '', '[]', 'null', '42', '"a"', 'true'])
      expect(refusal(200, body).message, body).toBe(bad(200, 'a body that is not a JSON object'))
  })

  it("reads Zoho's rate limit only from Access Denied with too many requests, in any case", () => {
    const limited = refusal(
      400,
      '{"error":"access denied","error_description":"Too Many Requests from 1000.the-refresh"}',
      ['1000.the-refresh'],
    )
    expect(limited).toMatchObject({ code: 'RATE_LIMIT_ERROR' })
    expect(limited.message).toBe(
      'the accounts server limits the rate: Too Many Requests from [redacted]',
    )
    // Either half alone is a refusal, never a limit worth waiting out and trying again.
    for (const [body, message] of [
      ['{"error":"Access Denied"}', 'the accounts server refused the request: Access Denied'],
      [
        '{"error":"invalid_client","error_description":"too many requests"}',
        'the accounts server refused the request: invalid_client (too many requests)',
      ],
    ] as const) {
      expect(refusal(200, body), body).toMatchObject({ code: 'INVALID_TOKEN_ERROR', message })
    }
    // A secret the server echoes in the code itself is removed too.
    expect(
      refusal(400, '{"error":"no such token 1000.the-refresh"}', ['1000.the-refresh']),
    ).toMatchObject({
      serverError: 'no such token [redacted]',
      errorDescription: undefined,
      message: 'the accounts server refused the request: no such token [redacted]',
    })
  })

  it('reads a count of seconds written as a decimal number in a string, and nothing else', () => {
    const lifetime = (value: string) =>
      parseTokenResponse(200, JSON.stringify({ access_token: 'a', expires_in: value }), now, [])
        .lifetimeMs
    const read: [string, number][] = [
      ['\t 2400 \n', 2_400_000],
      ['+2400', 2_400_000],
      ['2400.', 2_400_000],
      ['2400.5', 2_400_500],
      ['.5e4', 5_000_000],
      ['.25e4', 2_500_000],
      ['2.4e3', 2_400_000],
      ['24E+2', 2_400_000],
      ['240000e-2', 2_400_000],
      ['0.0024e+06', 2_400_000],
    ]
    for (const [value, ms] of read) expect(lifetime(value), JSON.stringify(value)).toBe(ms)
    // What Number() would read, but a server writing seconds does not: hex, binary, octal,
    // blank, or a number with something after it.
    for (const value of [
      '',
      '   ',
      '0x960',
      '0b1',
      '0o7',
      '2400 s',
      '1e',
      'e3',
      '.',
      '-',
      '-1',
      'Infinity',
    ]) {
      expect(
        refusal(200, JSON.stringify({ access_token: 'a', expires_in: value })).message,
        value,
      ).toBe(bad(200, `an unusable expires_in (a string of ${value.length} characters)`))
    }
  })

  it('names what an unusable lifetime is, without its value; null is no lifetime', () => {
    const lifetimeOf = (field: string, value: unknown) =>
      parseTokenResponse(200, JSON.stringify({ access_token: 'a', [field]: value }), now, [])
        .lifetimeMs
    for (const [value, what] of [
      [-1, '-1'],
      [-0.5, '-0.5'],
      [true, 'a boolean'],
      [[3600], 'an array'],
      [{ seconds: 3600 }, 'an object'],
    ] as const) {
      expect(() => lifetimeOf('expires_in', value)).toThrow(
        bad(200, `an unusable expires_in (${what})`),
      )
      expect(() => lifetimeOf('expires_in_sec', value)).toThrow(
        bad(200, `an unusable expires_in_sec (${what})`),
      )
    }
    expect(lifetimeOf('expires_in', null)).toBe(3_600_000)
    expect(lifetimeOf('expires_in_sec', null)).toBe(3_600_000)
  })

  it('reads expires_in when expires_in_sec is null: a null is no value, not a reason to ignore one', () => {
    const grant = parseTokenResponse(
      200,
      '{"access_token":"a","expires_in":1200,"expires_in_sec":null}',
      now,
      [],
    )
    expect(grant.lifetimeMs).toBe(1_200_000)
    expect(grant.expiryTime).toBe(now + 1_200_000)
  })

  it('shows a token type of up to 40 visible characters, unless it is a secret of the answer', () => {
    const typeOf = (fields: Record<string, string>) =>
      refusal(
        200,
        JSON.stringify({ access_token: '1000.access', refresh_token: '1000.refresh', ...fields }),
      ).message
    expect(typeOf({ token_type: 'y'.repeat(40) })).toContain(`type '${'y'.repeat(40)}',`)
    expect(typeOf({ token_type: 'bad\ntype' })).toContain('type an unknown,')
    // A server that puts a token in token_type does not get it into the message.
    expect(typeOf({ token_type: '1000.access' })).toContain("type '[redacted]',")
    expect(typeOf({ token_type: '1000.refresh' })).toContain("type '[redacted]',")
  })

  it('keeps the scope and api_domain the answer names', () => {
    const grant = parseTokenResponse(
      200,
      '{"access_token":"a","scope":"ZohoCRM.modules.ALL","api_domain":""}',
      now,
      [],
    )
    expect(grant.scope).toBe('ZohoCRM.modules.ALL')
    expect(grant.apiDomain).toBeUndefined()
  })
})

describe('token answers: lifetimes and types', () => {
  const now = 1_000_000
  const parse = (fields: Record<string, unknown>) =>
    parseTokenResponse(200, JSON.stringify({ access_token: 'a', ...fields }), now, [])
  const lifetime = (fields: Record<string, unknown>) => parse(fields).expiryTime - now

  it('brings expires_in within one second and one year; a numeric string counts', () => {
    expect(lifetime({ expires_in: 2400 })).toBe(2_400_000)
    expect(lifetime({ expires_in: '2400' })).toBe(2_400_000)
    expect(lifetime({ expires_in: 1e306 })).toBe(MAX_LIFETIME_MS)
    expect(lifetime({ expires_in: 0 })).toBe(1_000)
    expect(lifetime({ expires_in: 0.2 })).toBe(1_000)
    expect(lifetime({})).toBe(3_600_000)
  })

  it('honours expires_in_sec over the millisecond expires_in of older Zoho answers', () => {
    expect(lifetime({ expires_in: 30_000, expires_in_sec: 30 })).toBe(30_000)
    // Values that disagree: expires_in_sec, in seconds, is the one believed.
    expect(lifetime({ expires_in: 3_600_000, expires_in_sec: '1200' })).toBe(1_200_000)
    expect(lifetime({ expires_in: 1200, expires_in_sec: 2400 })).toBe(2_400_000)
    // Alone, it is read in seconds too; without either, an hour.
    expect(lifetime({ expires_in_sec: 2400 })).toBe(2_400_000)
    expect(lifetime({})).toBe(3_600_000)
  })

  it('refuses a lifetime that is not a finite, non-negative number, without echoing it', () => {
    for (const body of [
      '{"access_token":"a","expires_in":1e400}',
      '{"access_token":"a","expires_in":-1}',
      '{"access_token":"a","expires_in":"an hour"}',
      '{"access_token":"a","expires_in":true}',
      '{"access_token":"a","expires_in":[3600]}',
      '{"access_token":"a","expires_in":3600,"expires_in_sec":"x"}',
    ]) {
      expect(() => parseTokenResponse(200, body, now, []), body).toThrow(
        expect.objectContaining({ code: 'INVALID_RESPONSE' }) as Error,
      )
    }
    expect(() => parse({ expires_in: 'secret-looking-value' })).toThrow(
      /expires_in \(a string of 20 characters\)/,
    )
  })

  it("accepts no token_type, Bearer in any case and Zoho's own; refuses the rest", () => {
    for (const type of [undefined, 'Bearer', 'bearer', 'Zoho-oauthtoken', 'ZOHO-OAUTHTOKEN']) {
      expect(parse({ token_type: type }).tokenType).toBe(type)
    }
    for (const type of ['mac', 'DPoP', 'Basic', 'Bearer ', 'N_A']) {
      expect(() => parse({ token_type: type }), type).toThrow(/cannot use/)
    }
    // A type that could be anything is not shown; nor is a secret of the request.
    expect(() =>
      parseTokenResponse(200, '{"access_token":"a","token_type":"the-secret-x"}', now, [
        'the-secret-x',
      ]),
    ).toThrow(/type '\[redacted\]'/)
    expect(() => parse({ token_type: 'x'.repeat(41) })).toThrow(/an unknown, /)
  })

  it('refuses tokens that could not be sent in a header, without echoing them', () => {
    for (const token of ['ab\ncd', 'ab\u0000', 'ab\u03a9', 'tab\there']) {
      for (const field of ['access_token', 'refresh_token']) {
        const body = JSON.stringify({ access_token: 'fine', [field]: token })
        try {
          parseTokenResponse(200, body, now, [])
          expect.unreachable(`${field} ${JSON.stringify(token)}`)
        } catch (err) {
          expect((err as { code: string }).code).toBe('INVALID_RESPONSE')
          expect((err as Error).message).toMatch(
            /characters other than visible ASCII .* cannot be sent in a header$/,
          )
          expect((err as Error).message).not.toContain(token)
        }
      }
    }
    expect(isTokenText('1000.abc.DEF-_~+/= with spaces')).toBe(true)
    expect(isTokenText('')).toBe(false)
  })
})

describe('the refresh skew of a short-lived token', () => {
  it('is at most half the lifetime this process saw, and the full skew otherwise', () => {
    const now = 5_000_000
    const token = new OAuthToken({
      accessToken: `short-${Math.random()}`,
      expiryTime: now + 30_000,
    })
    expect(needsRefresh(token, now, 60_000)).toBe(true) // lifetime unknown: the full skew
    rememberLifetime(token.accessToken!, 30_000)
    expect(needsRefresh(token, now, 60_000)).toBe(false)
    expect(needsRefresh(token, now + 14_999, 60_000)).toBe(false)
    expect(needsRefresh(token, now + 15_000, 60_000)).toBe(true)
    // A skew shorter than half the lifetime is kept as it is.
    expect(needsRefresh(token, now + 25_000, 5_000)).toBe(true)
    expect(needsRefresh(token, now + 24_999, 5_000)).toBe(false)
    // An hour-long token keeps the usual skew.
    const long = new OAuthToken({
      accessToken: `long-${Math.random()}`,
      expiryTime: now + 3_600_000,
    })
    rememberLifetime(long.accessToken!, 3_600_000)
    expect(needsRefresh(long, now + 3_540_000, 60_000)).toBe(true)
    expect(needsRefresh(long, now + 3_539_999, 60_000)).toBe(false)
    // A skew longer than any lifetime means "every token is due", the lever that forces one.
    expect(needsRefresh(token, now, MAX_LIFETIME_MS + 1)).toBe(true)
    expect(needsRefresh(long, now, Number.MAX_SAFE_INTEGER)).toBe(true)
  })
})

describe('Retry-After', () => {
  it('reads seconds and HTTP dates; ignores what is neither', () => {
    const now = Date.parse('2025-01-01T00:00:00Z')
    expect(retryAfterMs('120', now)).toBe(120_000)
    expect(retryAfterMs('1900000', now)).toBe(1_900_000_000)
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000)
    expect(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0)
    expect(retryAfterMs('-5', now)).toBe(0)
    for (const header of [null, '', '  ', 'soon']) expect(retryAfterMs(header, now)).toBeUndefined()
  })
})

describe('loopback', () => {
  it('is localhost, 127.0.0.0/8 and ::1, however the address is written', () => {
    for (const url of [
      'http://localhost:1',
      'http://127.0.0.1',
      'http://127.255.0.9:8',
      'http://[::1]:4',
      'http://0x7f.1',
      'http://2130706433',
    ])
      expect(isLoopback(new URL(url)), url).toBe(true)
    for (const url of [
      'http://0.0.0.0',
      'http://[::]',
      'http://10.0.0.1',
      'http://localhost.evil.example',
      'http://127.0.0.1.nip.io',
      'http://[::ffff:127.0.0.1]',
    ])
      expect(isLoopback(new URL(url)), url).toBe(false)
  })
})

describe('a standard server’s answers (the oauth2 provider’s quirks)', () => {
  const standard = (status: number, body: string) => parse(status, body, 0, [], STANDARD_QUIRKS)
  const error = JSON.stringify({ error: 'invalid_grant', access_token: 'a' })

  it('refuses an error inside a success (2xx) as malformed, and reads one outside it', () => {
    for (const status of [200, 201, 299]) {
      expect(() => standard(status, error), String(status)).toThrow(
        expect.objectContaining({
          code: 'INVALID_RESPONSE',
          message: `the accounts server answered HTTP ${status} with an error code in a success answer, which this provider never sends`,
        }) as Error,
      )
    }
    for (const status of [199, 300, 400, 401]) {
      expect(() => standard(status, error), String(status)).toThrow(
        expect.objectContaining({
          code: 'INVALID_TOKEN_ERROR',
          serverError: 'invalid_grant',
          status,
        }) as Error,
      )
    }
    // Zoho's provider reads the same 200 as the refusal it is.
    expect(() => parseTokenResponse(200, error, 0, [])).toThrow(
      expect.objectContaining({
        code: 'INVALID_TOKEN_ERROR',
        serverError: 'invalid_grant',
      }) as Error,
    )
  })

  it('reads expires_in only, knows no rate-limit text, and takes Bearer tokens only', () => {
    const grant = standard(
      200,
      JSON.stringify({ access_token: 'a', expires_in: 60, expires_in_sec: 7200 }),
    )
    expect(grant.lifetimeMs).toBe(60_000)
    const limited = JSON.stringify({
      error: 'Access Denied',
      error_description: 'too many requests',
    })
    expect(() => standard(400, limited)).toThrow(
      expect.objectContaining({ code: 'INVALID_TOKEN_ERROR' }) as Error,
    )
    expect(() =>
      standard(200, JSON.stringify({ access_token: 'a', token_type: 'Zoho-oauthtoken' })),
    ).toThrow(/a token of type 'Zoho-oauthtoken'/)
    expect(
      standard(200, JSON.stringify({ access_token: 'a', token_type: 'bEaReR' })).tokenType,
    ).toBe('bEaReR')
  })
})
