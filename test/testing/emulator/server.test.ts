import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
  type EmulatorFault,
} from '../../../src/testing/index.ts'

const TOKEN_SHAPE = /^1000\.[0-9a-f]{32}\.[0-9a-f]{32}$/
const REDIRECT = 'https://app.example/callback'
const CLIENT = {
  clientId: '1000.TESTCLIENT',
  clientSecret: 'test-secret',
  redirectUris: [REDIRECT],
}
const USERS = [
  { email: 'ada@zylker.example', fullName: 'Ada Lovelace', id: '111' },
  { email: 'grace@zylker.example', fullName: 'Grace Hopper', id: '222' },
]

const running: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.close()))
})

/** A started emulator, closed after the test, with a clock the test moves. */
async function start(options: AccountsEmulatorOptions = {}) {
  const clock = { now: 1_800_000_000_000 }
  const emulator = await startAccountsEmulator({
    clients: [CLIENT],
    users: USERS,
    now: () => clock.now,
    ...options,
  })
  running.push(emulator)
  return { emulator, clock }
}

type Json = Record<string, unknown>
type How = 'form' | 'query' | 'multipart'

/** POSTs parameters to a path, as a urlencoded body, a query string or multipart FormData. */
async function post(
  emulator: AccountsEmulator,
  path: string,
  params: Record<string, string>,
  how: How = 'form',
) {
  const url = new URL(path, emulator.url)
  let body: URLSearchParams | FormData | null = null
  if (how === 'query') {
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value)
  } else if (how === 'form') {
    body = new URLSearchParams(params)
  } else {
    body = new FormData()
    for (const [name, value] of Object.entries(params)) body.append(name, value)
  }
  const res = await fetch(url, { method: 'POST', body, redirect: 'manual' })
  return { status: res.status, body: (await res.json()) as Json }
}

function exchange(
  emulator: AccountsEmulator,
  code: string,
  extra: Record<string, string> = {},
  how: How = 'form',
) {
  return post(
    emulator,
    '/oauth/v2/token',
    {
      grant_type: 'authorization_code',
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      redirect_uri: REDIRECT,
      code,
      ...extra,
    },
    how,
  )
}

function refresh(emulator: AccountsEmulator, refreshToken: string) {
  return post(emulator, '/oauth/v2/token', {
    grant_type: 'refresh_token',
    client_id: CLIENT.clientId,
    client_secret: CLIENT.clientSecret,
    refresh_token: refreshToken,
  })
}

/** A grant code, exchanged: the access and refresh tokens. */
async function tokens(emulator: AccountsEmulator, user?: string) {
  const code = emulator.issueGrantCode({
    clientId: CLIENT.clientId,
    ...(user === undefined ? {} : { user }),
  })
  const { body } = await exchange(emulator, code)
  return { accessToken: body.access_token as string, refreshToken: body.refresh_token as string }
}

async function api(emulator: AccountsEmulator, path: string, authorization?: string) {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
  const res = await fetch(new URL(path, emulator.url), { headers })
  return { status: res.status, body: (await res.json()) as Json }
}

function authorizeUrl(emulator: AccountsEmulator, params: Record<string, string> = {}): URL {
  const url = new URL(emulator.environment.authorizeUrl)
  const defaults = {
    response_type: 'code',
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT,
    scope: 'ZohoCRM.modules.ALL,ZohoCRM.users.READ',
    state: 'st-42',
    access_type: 'offline',
    prompt: 'consent',
  }
  for (const [name, value] of Object.entries({ ...defaults, ...params }))
    url.searchParams.set(name, value)
  return url
}

/** Submits the consent form as a browser would. */
async function approve(
  emulator: AccountsEmulator,
  fields: Record<string, string>,
): Promise<Response> {
  return fetch(new URL('/oauth/v2/auth/approve', emulator.url), {
    method: 'POST',
    body: new URLSearchParams({
      client_id: CLIENT.clientId,
      redirect_uri: REDIRECT,
      scope: 'ZohoCRM.modules.ALL',
      state: 'st-42',
      user: 'ada@zylker.example',
      decision: 'accept',
      ...fields,
    }),
    redirect: 'manual',
  })
}

function location(res: Response): URL {
  return new URL(res.headers.get('location') ?? '')
}

describe('startAccountsEmulator', () => {
  it('listens on a free local port and describes itself as an environment', async () => {
    const emulator = await startAccountsEmulator()
    running.push(emulator)
    expect(emulator.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(emulator.environment.name).toBe('emulator')
    expect(emulator.environment.apiDomain).toBe(emulator.url)
    expect(emulator.environment.accountsUrl).toBe(emulator.url)
    expect(emulator.clients).toEqual([
      { clientId: '1000.EMULATORCLIENT0000000000000000', clientSecret: 'emulator-client-secret' },
    ])
  })

  it('refuses bad options and unknown clients or users for self-client codes', async () => {
    await expect(startAccountsEmulator({ clients: [] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    const { emulator } = await start()
    expect(() => emulator.issueGrantCode({ clientId: 'nobody' })).toThrow(/unknown client/)
    expect(() => emulator.issueGrantCode({ user: 'nobody@x' })).toThrow(/unknown user/)
    expect(() => emulator.fail('explode' as EmulatorFault)).toThrow(/unknown fault/)
  })
})

describe('consent page', () => {
  it('renders the client, the scopes, the users and the form, escaping what it echoes', async () => {
    const { emulator } = await start()
    const res = await fetch(
      authorizeUrl(emulator, {
        scope: 'ZohoCRM.modules.ALL,<b>bold</b>',
        state: '"><script>alert(1)</script>',
      }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const page = await res.text()
    expect(page).toContain('1000.TESTCLIENT')
    expect(page).toContain('<li>ZohoCRM.modules.ALL</li>')
    expect(page).toContain('<li>&lt;b&gt;bold&lt;/b&gt;</li>')
    expect(page).toContain(
      '<option value="grace@zylker.example">Grace Hopper &lt;grace@zylker.example&gt;</option>',
    )
    expect(page).toContain('action="/oauth/v2/auth/approve"')
    expect(page).toContain('value="accept"')
    expect(page).toContain('value="deny"')
    expect(page).toContain('name="state" value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"')
    expect(page).not.toContain('<script>')
    expect(page).not.toContain('<b>')
  })

  it('shows an error page, without redirecting, for an unknown client or an unregistered redirect', async () => {
    const { emulator } = await start()
    for (const params of [
      { client_id: '1000.UNKNOWN' },
      { redirect_uri: 'https://evil.example/cb' },
    ]) {
      const res = await fetch(authorizeUrl(emulator, params), { redirect: 'manual' })
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(await res.text()).toMatch(/Invalid (client|redirect URI)/)
    }
  })

  it('redirects errors in the rest of the request back to the client', async () => {
    const { emulator } = await start()
    const res = await fetch(authorizeUrl(emulator, { response_type: 'token' }), {
      redirect: 'manual',
    })
    expect(res.status).toBe(302)
    expect(location(res).searchParams.get('error')).toBe('unsupported_response_type')
    expect(location(res).searchParams.get('state')).toBe('st-42')
  })

  it('approve redirects with a code, the state and the data center for the chosen user', async () => {
    const { emulator } = await start()
    const res = await approve(emulator, { user: 'grace@zylker.example' })
    expect(res.status).toBe(302)
    const to = location(res)
    expect(`${to.origin}${to.pathname}`).toBe(REDIRECT)
    expect(to.searchParams.get('code')).toMatch(TOKEN_SHAPE)
    expect(to.searchParams.get('state')).toBe('st-42')
    expect(to.searchParams.get('location')).toBe('us')
    expect(to.searchParams.get('accounts-server')).toBe(emulator.url)

    const { body } = await exchange(emulator, to.searchParams.get('code') ?? '')
    const me = await api(
      emulator,
      '/crm/v8/users?type=CurrentUser',
      `Zoho-oauthtoken ${String(body.access_token)}`,
    )
    expect(me.body).toEqual({
      users: [
        { id: '222', email: 'grace@zylker.example', full_name: 'Grace Hopper', status: 'active' },
      ],
    })
  })

  it('deny redirects with access_denied and the state', async () => {
    const { emulator } = await start()
    const res = await approve(emulator, { decision: 'deny' })
    expect(res.status).toBe(302)
    expect(location(res).searchParams.get('error')).toBe('access_denied')
    expect(location(res).searchParams.get('state')).toBe('st-42')
    expect(location(res).searchParams.get('code')).toBeNull()
  })

  it('auto-approve redirects at once with a usable code', async () => {
    const { emulator } = await start({ autoApprove: true })
    const res = await fetch(authorizeUrl(emulator), { redirect: 'manual' })
    expect(res.status).toBe(302)
    const code = location(res).searchParams.get('code') ?? ''
    expect(code).toMatch(TOKEN_SHAPE)
    expect(location(res).searchParams.get('state')).toBe('st-42')
    expect((await exchange(emulator, code)).body.access_token).toMatch(TOKEN_SHAPE)
  })
  it('auto-approve signs in the user named by login_hint', async () => {
    const { emulator } = await start({ autoApprove: true })
    const url = authorizeUrl(emulator, { login_hint: 'grace@zylker.example' })
    const code = location(await fetch(url, { redirect: 'manual' })).searchParams.get('code') ?? ''
    const { body } = await exchange(emulator, code)
    const me = await api(
      emulator,
      '/crm/v8/users?type=CurrentUser',
      `Bearer ${String(body.access_token)}`,
    )
    expect((me.body.users as Json[])[0]?.email).toBe('grace@zylker.example')
  })

  it('keeps the redirect URI exactly as registered, without normalizing it', async () => {
    const bare = 'http://localhost:3000'
    const { emulator } = await start({ clients: [{ ...CLIENT, redirectUris: [bare] }] })
    const res = await approve(emulator, { redirect_uri: bare })
    expect(res.headers.get('location')).toMatch(/^http:\/\/localhost:3000\/\?code=/)
    const code = location(res).searchParams.get('code') ?? ''
    expect((await exchange(emulator, code, { redirect_uri: bare })).status).toBe(200)
  })
})

describe('grant code exchange', () => {
  for (const how of ['form', 'query', 'multipart'] as const) {
    it(`answers Zoho's token shape for parameters in a ${how} request`, async () => {
      const { emulator } = await start()
      const code = emulator.issueGrantCode({ scope: 'ZohoCRM.modules.ALL' })
      const { status, body } = await exchange(emulator, code, {}, how)
      expect(status).toBe(200)
      expect(Object.keys(body)).toEqual([
        'access_token',
        'refresh_token',
        'scope',
        'api_domain',
        'token_type',
        'expires_in',
      ])
      expect(body).toMatchObject({
        scope: 'ZohoCRM.modules.ALL',
        api_domain: emulator.url,
        token_type: 'Bearer',
        expires_in: 3600,
      })
      expect(body.access_token).toMatch(TOKEN_SHAPE)
      expect(body.refresh_token).toMatch(TOKEN_SHAPE)
      expect(emulator.isValid(body.access_token as string)).toBe(true)
      expect(emulator.isValid(body.refresh_token as string)).toBe(true)
    })
  }

  it('answers expiry in milliseconds as older Zoho servers did', async () => {
    const { emulator } = await start({ expiresInStyle: 'milliseconds' })
    const { body } = await exchange(emulator, emulator.issueGrantCode())
    expect(body).toMatchObject({ expires_in: 3_600_000, expires_in_sec: 3600 })
  })

  it('spends a code once', async () => {
    const { emulator } = await start()
    const code = emulator.issueGrantCode()
    expect((await exchange(emulator, code)).status).toBe(200)
    expect(await exchange(emulator, code)).toEqual({ status: 200, body: { error: 'invalid_code' } })
    expect(await exchange(emulator, '1000.never.issued')).toEqual({
      status: 200,
      body: { error: 'invalid_code' },
    })
  })

  it('lets a code expire after 180 seconds', async () => {
    const { emulator, clock } = await start()
    const fresh = emulator.issueGrantCode()
    const stale = emulator.issueGrantCode()
    clock.now += 179_999
    expect((await exchange(emulator, fresh)).body.access_token).toMatch(TOKEN_SHAPE)
    clock.now += 1
    expect((await exchange(emulator, stale)).body).toEqual({ error: 'invalid_code' })
  })

  it('refuses an unknown client or a wrong secret with invalid_client', async () => {
    const { emulator } = await start()
    const code = emulator.issueGrantCode()
    expect((await exchange(emulator, code, { client_secret: 'wrong' })).body).toEqual({
      error: 'invalid_client',
    })
    expect((await exchange(emulator, code, { client_id: '1000.OTHER' })).body).toEqual({
      error: 'invalid_client',
    })
    // A refused attempt does not spend the code.
    expect((await exchange(emulator, code)).status).toBe(200)
  })

  it('checks the redirect URI against the authorization request', async () => {
    const { emulator } = await start()
    const code = emulator.issueGrantCode({ redirectUri: REDIRECT })
    const { body } = await exchange(emulator, code, { redirect_uri: 'https://app.example/other' })
    expect(body).toEqual({ error: 'invalid_redirect_uri' })
    expect((await exchange(emulator, code)).body.access_token).toMatch(TOKEN_SHAPE)
  })

  it('checks the PKCE code verifier against the S256 challenge', async () => {
    const { emulator } = await start()
    const verifier = 'a-code-verifier-of-at-least-43-characters-0123456789'
    const challenge = createHash('sha256').update(verifier).digest('base64url')
    const res = await approve(emulator, {
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })
    const code = location(res).searchParams.get('code') ?? ''

    expect((await exchange(emulator, code)).body).toEqual({ error: 'invalid_code_verifier' })
    expect((await exchange(emulator, code, { code_verifier: 'wrong' })).body).toEqual({
      error: 'invalid_code_verifier',
    })
    expect((await exchange(emulator, code, { code_verifier: verifier })).body.access_token).toMatch(
      TOKEN_SHAPE,
    )
  })

  it('refuses an unsupported or missing grant type', async () => {
    const { emulator } = await start()
    const params = { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret }
    expect(
      (await post(emulator, '/oauth/v2/token', { ...params, grant_type: 'password' })).body,
    ).toEqual({
      error: 'unsupported_grant_type',
    })
    expect((await post(emulator, '/oauth/v2/token', params)).body).toEqual({
      error: 'invalid_request',
    })
  })

  it("answers HTTP 400/401 with a description in the 'oauth2' error style", async () => {
    const { emulator } = await start({ errorStyle: 'oauth2' })
    const used = await exchange(emulator, '1000.never.issued')
    expect(used.status).toBe(400)
    expect(used.body).toEqual({
      error: 'invalid_code',
      error_description: expect.any(String) as string,
    })
    const badClient = await exchange(emulator, emulator.issueGrantCode(), {
      client_secret: 'wrong',
    })
    expect(badClient.status).toBe(401)
    expect(badClient.body.error).toBe('invalid_client')
  })
})

describe('refresh', () => {
  it('without rotation returns new access tokens and keeps the refresh token', async () => {
    const { emulator } = await start()
    const { accessToken, refreshToken } = await tokens(emulator)
    const first = await refresh(emulator, refreshToken)
    const second = await refresh(emulator, refreshToken)
    for (const { status, body } of [first, second]) {
      expect(status).toBe(200)
      expect(Object.keys(body)).toEqual([
        'access_token',
        'scope',
        'api_domain',
        'token_type',
        'expires_in',
      ])
      expect(body.access_token).toMatch(TOKEN_SHAPE)
    }
    expect(new Set([accessToken, first.body.access_token, second.body.access_token]).size).toBe(3)
    expect(emulator.isValid(refreshToken)).toBe(true)
    expect(emulator.isValid(accessToken)).toBe(true)
  })

  it('refuses an unknown refresh token, or one of another client, with invalid_code', async () => {
    const { emulator } = await start({
      clients: [CLIENT, { clientId: '1000.SECOND', clientSecret: 'second-secret' }],
    })
    expect((await refresh(emulator, '1000.unknown.token')).body).toEqual({ error: 'invalid_code' })
    const code = emulator.issueGrantCode({ clientId: '1000.SECOND' })
    const { body } = await exchange(emulator, code, {
      client_id: '1000.SECOND',
      client_secret: 'second-secret',
    })
    expect((await refresh(emulator, body.refresh_token as string)).body).toEqual({
      error: 'invalid_code',
    })
  })

  it('with rotation replaces the refresh token, and a reused one kills the whole chain', async () => {
    const { emulator } = await start({ rotateRefreshTokens: true })
    const { accessToken, refreshToken: first } = await tokens(emulator)
    const r1 = await refresh(emulator, first)
    const second = r1.body.refresh_token as string
    expect(second).toMatch(TOKEN_SHAPE)
    expect(emulator.isValid(first)).toBe(false)
    const r2 = await refresh(emulator, second)
    const third = r2.body.refresh_token as string
    const latestAccess = r2.body.access_token as string
    expect(await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${latestAccess}`)).toMatchObject({
      status: 200,
    })

    // The first refresh token comes back: someone kept a copy.
    expect(await refresh(emulator, first)).toEqual({
      status: 200,
      body: { error: 'invalid_grant' },
    })
    for (const token of [first, second, third, accessToken, latestAccess])
      expect(emulator.isValid(token)).toBe(false)
    expect((await refresh(emulator, third)).body).toEqual({ error: 'invalid_code' })
    expect(await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${latestAccess}`)).toEqual({
      status: 401,
      body: { code: 'INVALID_TOKEN', details: {}, message: 'invalid oauth token', status: 'error' },
    })
  })

  it('allows 10 access tokens per refresh token per 10 minutes, then again after the window', async () => {
    const { emulator, clock } = await start()
    const { refreshToken } = await tokens(emulator)
    const other = await tokens(emulator)
    for (let i = 0; i < 10; i += 1) {
      expect((await refresh(emulator, refreshToken)).body.access_token).toMatch(TOKEN_SHAPE)
      clock.now += 1000
    }
    expect(await refresh(emulator, refreshToken)).toEqual({
      status: 400,
      body: {
        error: 'Access Denied',
        error_description:
          'You have made too many requests continuously. Please try again after some time.',
      },
    })
    // The limit is per refresh token.
    expect((await refresh(emulator, other.refreshToken)).status).toBe(200)
    // The window slides: 10 minutes after each refresh, one more is allowed.
    clock.now += 600_000 - 10_000
    expect((await refresh(emulator, refreshToken)).body.access_token).toMatch(TOKEN_SHAPE)
    expect((await refresh(emulator, refreshToken)).status).toBe(400)
    clock.now += 1000
    expect((await refresh(emulator, refreshToken)).status).toBe(200)
  })

  it('can lift or change the limit', async () => {
    const { emulator } = await start({ accessTokenLimit: false })
    const { refreshToken } = await tokens(emulator)
    for (let i = 0; i < 15; i += 1) expect((await refresh(emulator, refreshToken)).status).toBe(200)

    const limited = (await start({ accessTokenLimit: { count: 2, windowMs: 1000 } })).emulator
    const chain = await tokens(limited)
    expect((await refresh(limited, chain.refreshToken)).status).toBe(200)
    expect((await refresh(limited, chain.refreshToken)).status).toBe(200)
    expect((await refresh(limited, chain.refreshToken)).status).toBe(400)
  })
})

describe('revoke', () => {
  it('revokes a refresh token and every access token from it', async () => {
    const { emulator } = await start()
    const { accessToken, refreshToken } = await tokens(emulator)
    const refreshed = (await refresh(emulator, refreshToken)).body.access_token as string
    const res = await fetch(`${emulator.environment.revokeUrl}?token=${refreshToken}`, {
      method: 'POST',
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'success' })
    for (const token of [refreshToken, accessToken, refreshed])
      expect(emulator.isValid(token)).toBe(false)
    expect((await refresh(emulator, refreshToken)).body).toEqual({ error: 'invalid_code' })
    expect((await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${refreshed}`)).status).toBe(401)
  })

  it('revokes an access token alone, from a form body', async () => {
    const { emulator } = await start()
    const { accessToken, refreshToken } = await tokens(emulator)
    expect(await post(emulator, '/oauth/v2/token/revoke', { token: accessToken })).toEqual({
      status: 200,
      body: { status: 'success' },
    })
    expect(emulator.isValid(accessToken)).toBe(false)
    expect(emulator.isValid(refreshToken)).toBe(true)
  })

  it('answers success for an unknown token', async () => {
    const { emulator } = await start()
    expect(
      await post(emulator, '/oauth/v2/token/revoke', { token: '1000.unknown' }, 'query'),
    ).toEqual({
      status: 200,
      body: { status: 'success' },
    })
  })
})

describe('CRM API', () => {
  it('answers the current user and the leads, with a Zoho-oauthtoken or a Bearer header', async () => {
    const { emulator } = await start()
    const { accessToken } = await tokens(emulator)
    for (const scheme of ['Zoho-oauthtoken', 'Bearer']) {
      const me = await api(emulator, '/crm/v8/users?type=CurrentUser', `${scheme} ${accessToken}`)
      expect(me).toEqual({
        status: 200,
        body: {
          users: [
            { id: '111', email: 'ada@zylker.example', full_name: 'Ada Lovelace', status: 'active' },
          ],
        },
      })
    }
    const leads = await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${accessToken}`)
    expect(leads.status).toBe(200)
    const data = leads.body.data as Json[]
    expect(data.length).toBeGreaterThan(0)
    for (const lead of data)
      expect(Object.keys(lead)).toEqual(['id', 'Last_Name', 'Company', 'Email'])
    expect(leads.body.info).toEqual({
      per_page: 200,
      count: data.length,
      page: 1,
      more_records: false,
    })
  })

  it('answers AUTHENTICATION_FAILURE without a header and INVALID_TOKEN for a bad or expired token', async () => {
    const { emulator, clock } = await start()
    const { accessToken } = await tokens(emulator)
    for (const path of ['/crm/v8/Leads', '/crm/v8/users?type=CurrentUser']) {
      expect(await api(emulator, path)).toEqual({
        status: 401,
        body: {
          code: 'AUTHENTICATION_FAILURE',
          details: {},
          message: 'Authentication failed',
          status: 'error',
        },
      })
      expect((await api(emulator, path, 'Zoho-oauthtoken 1000.unknown')).body.code).toBe(
        'INVALID_TOKEN',
      )
    }
    clock.now += 3_599_999
    expect((await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${accessToken}`)).status).toBe(
      200,
    )
    clock.now += 1
    expect(emulator.isValid(accessToken)).toBe(false)
    expect(await api(emulator, '/crm/v8/Leads', `Zoho-oauthtoken ${accessToken}`)).toMatchObject({
      status: 401,
      body: { code: 'INVALID_TOKEN' },
    })
  })

  it('answers 404 JSON for anything else', async () => {
    const { emulator } = await start()
    const res = await fetch(new URL('/nowhere', emulator.url))
    expect(res.status).toBe(404)
    expect(((await res.json()) as Json).status).toBe('error')
    expect((await fetch(emulator.environment.tokenUrl)).status).toBe(404)
  })
})

describe('faults', () => {
  const answered: Array<[EmulatorFault, number, (res: Response) => Promise<void>]> = [
    [
      'http500',
      500,
      async (res) => expect(((await res.json()) as Json).error).toBe('internal_error'),
    ],
    [
      'http503',
      503,
      async (res) => expect(((await res.json()) as Json).error).toBe('temporarily_unavailable'),
    ],
    ['http429', 429, async (res) => expect(res.headers.get('retry-after')).toBe('1')],
    ['malformed-json', 200, async (res) => expect(res.json()).rejects.toThrow(SyntaxError)],
    [
      'html',
      502,
      async (res) => {
        expect(res.headers.get('content-type')).toMatch(/^text\/html/)
        expect(await res.text()).toContain('<html')
      },
    ],
    [
      'error-body',
      200,
      async (res) => expect(await res.json()).toEqual({ error: 'internal_error' }),
    ],
    [
      'no-access-token',
      200,
      async (res) => {
        const body = (await res.json()) as Json
        expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 })
        expect(body).not.toHaveProperty('access_token')
      },
    ],
  ]

  for (const [fault, status, check] of answered) {
    it(`${fault}: answers ${status} instead, once`, async () => {
      const { emulator } = await start()
      const { refreshToken } = await tokens(emulator)
      emulator.fail(fault)
      const res = await fetch(emulator.environment.tokenUrl, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret,
          refresh_token: refreshToken,
        }),
      })
      expect(res.status).toBe(status)
      await check(res)
      expect((await refresh(emulator, refreshToken)).body.access_token).toMatch(TOKEN_SHAPE)
    })
  }

  it('hang: never answers, so the client times out', async () => {
    const { emulator } = await start()
    emulator.fail('hang')
    const request = fetch(new URL('/crm/v8/Leads', emulator.url), {
      signal: AbortSignal.timeout(200),
    })
    await expect(request).rejects.toMatchObject({ name: 'TimeoutError' })
  })

  it('reset: the connection is dropped, so fetch rejects', async () => {
    const { emulator } = await start()
    emulator.fail('reset', { on: 'revoke' })
    await expect(post(emulator, '/oauth/v2/token/revoke', { token: 'x' })).rejects.toThrow(
      TypeError,
    )
    expect((await post(emulator, '/oauth/v2/token/revoke', { token: 'x' })).status).toBe(200)
  })

  it('applies to the next `times` requests of the chosen endpoint only', async () => {
    const { emulator } = await start()
    const { accessToken, refreshToken } = await tokens(emulator)
    emulator.fail('http503', { on: 'refresh', times: 2 })
    expect((await exchange(emulator, emulator.issueGrantCode())).status).toBe(200)
    expect((await api(emulator, '/crm/v8/Leads', `Bearer ${accessToken}`)).status).toBe(200)
    expect((await refresh(emulator, refreshToken)).status).toBe(503)
    expect((await refresh(emulator, refreshToken)).status).toBe(503)
    expect((await refresh(emulator, refreshToken)).status).toBe(200)

    emulator.fail('http500', { on: 'token' })
    expect((await exchange(emulator, emulator.issueGrantCode())).status).toBe(500)
    emulator.fail('http500', { on: 'api' })
    expect(
      (await api(emulator, '/crm/v8/users?type=CurrentUser', `Bearer ${accessToken}`)).status,
    ).toBe(500)
  })

  it('adds latency before every response', async () => {
    const { emulator } = await start({ latencyMs: 100 })
    const started = performance.now()
    await fetch(new URL('/nowhere', emulator.url))
    expect(performance.now() - started).toBeGreaterThanOrEqual(90)
  })
})

describe('counts', () => {
  it('counts every request by kind, errors as rejected and faults apart', async () => {
    const { emulator } = await start()
    await fetch(authorizeUrl(emulator))
    const res = await approve(emulator, {})
    const code = location(res).searchParams.get('code') ?? ''
    const { body } = await exchange(emulator, code)
    const accessToken = body.access_token as string
    const refreshToken = body.refresh_token as string
    await exchange(emulator, code) // spent: rejected
    await refresh(emulator, refreshToken)
    await api(emulator, '/crm/v8/Leads', `Bearer ${accessToken}`)
    await api(emulator, '/crm/v8/Leads') // rejected
    await api(emulator, '/crm/v8/users?type=CurrentUser', `Bearer ${accessToken}`)
    emulator.fail('http500')
    await post(emulator, '/oauth/v2/token/revoke', { token: refreshToken })
    await fetch(new URL('/nowhere', emulator.url)) // rejected

    expect({ ...emulator.counts }).toEqual({
      consent: 1,
      approve: 1,
      exchange: 2,
      refresh: 1,
      revoke: 1,
      api: 2,
      currentUser: 1,
      rejected: 3,
      faults: 1,
      total: 10,
      refreshesByToken: { [refreshToken]: 1 },
      refreshesByUser: { 'ada@zylker.example': 1 },
      exchangesByClient: { [CLIENT.clientId]: 2 },
      // The spent code; the fault and the 404 are not refusals of the token endpoint.
      refusals: { invalid_code: 1 },
    })
    const { refusals } = emulator.counts
    emulator.resetCounts()
    expect({ ...emulator.counts }).toEqual({
      consent: 0,
      approve: 0,
      exchange: 0,
      refresh: 0,
      revoke: 0,
      api: 0,
      currentUser: 0,
      rejected: 0,
      faults: 0,
      total: 0,
      refreshesByToken: {},
      refreshesByUser: {},
      exchangesByClient: {},
      refusals: {},
    })
    // Emptied in place: a reference taken before stays the live tally.
    expect(emulator.counts.refusals).toBe(refusals)
  })
})

describe('close', () => {
  it('resolves with a hung request in flight, which then fails', async () => {
    const { emulator } = await start()
    emulator.fail('hang')
    const request = fetch(new URL('/crm/v8/Leads', emulator.url))
    void request.catch(() => undefined)
    // The request has arrived once it is counted.
    while (emulator.counts.total === 0) await new Promise((resolve) => setImmediate(resolve))
    await emulator.close()
    await expect(request).rejects.toThrow(TypeError)
    await emulator.close() // twice is fine
  })
})
