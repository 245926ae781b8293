// The accounts client on its own, against small node:http servers on loopback that answer as a
// test needs (429 with Retry-After, 5xx, redirects, errors) and record when each request
// arrived. Waits are checked from the server's receive times, and only as lower bounds: a
// loaded machine can make a wait longer, never shorter.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { Environment } from '../../src/index.ts'
import { AccountsClient, CLIENT_DEFAULTS } from '../../src/oauth/client.ts'
import { SafeLog } from '../../src/log.ts'
import { needsRefresh, OAuthToken } from '../../src/token.ts'

interface Received {
  url: string
  headers: IncomingMessage['headers']
  method: string
  form: Record<string, string>
  at: number
}

type Answer = (res: ServerResponse, n: number) => void

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

/** A server answering its n-th request (from 0) with `answers[n]`, the last one from then on. */
async function serve(...answers: Answer[]) {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const n = received.length
      received.push({
        url: req.url ?? '',
        headers: req.headers,
        method: req.method ?? '',
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
        at: performance.now(),
      })
      answers[Math.min(n, answers.length - 1)]!(res, n)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return { url, received }
}

const reply =
  (status: number, body: unknown = {}, headers: Record<string, string> = {}): Answer =>
  (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
const tokens = (extra: Record<string, unknown> = {}) =>
  reply(200, { access_token: '1000.access', expires_in: 3600, ...extra })

function client(
  url: string,
  options: Partial<Record<keyof typeof CLIENT_DEFAULTS, number>> = {},
  warnings?: string[],
) {
  const environment = new Environment({ name: 'test', apiDomain: url, accountsUrl: url })
  const log = new SafeLog({
    debug: () => undefined,
    info: () => undefined,
    warn: (line) => warnings?.push(line),
    error: () => undefined,
  })
  return new AccountsClient(environment, {
    fetch: (input, init) => globalThis.fetch(input, init),
    now: () => 1_000_000,
    log,
    ...CLIENT_DEFAULTS,
    retryDelayMs: 1,
    ...options,
  })
}

const refreshOf = (c: AccountsClient) =>
  c.refresh({ clientId: 'cid', clientSecret: 'the-secret', refreshToken: '1000.refresh' })

/** The gaps between the requests a server received, in ms. */
const gaps = (received: Received[]) => received.slice(1).map((r, i) => r.at - received[i]!.at)
// libuv rounds a timer to whole milliseconds, so a wait of N ms can measure a little under N.
const TIMER_SLACK_MS = 2

describe('Retry-After', () => {
  it('is waited for before the next request: the server sees the gap', async () => {
    const server = await serve(reply(429, {}, { 'retry-after': '1' }), tokens())
    const warnings: string[] = []
    const grant = await refreshOf(client(server.url, {}, warnings))
    expect(grant.accessToken).toBe('1000.access')
    expect(server.received).toHaveLength(2)
    // The backoff alone (retryDelayMs 1) would retry within a few ms.
    expect(gaps(server.received)[0]).toBeGreaterThanOrEqual(1000 - TIMER_SLACK_MS)
    expect(warnings).toEqual([
      'accounts request retried purpose="refresh" attempt=1 waitMs=1000 reason="RATE_LIMIT_ERROR"',
    ])
  })

  it('equal to the request timeout is still waited for; longer is a RATE_LIMIT_ERROR at once', async () => {
    const server = await serve(reply(429, {}, { 'retry-after': '1' }), tokens())
    await refreshOf(client(server.url, { requestTimeoutMs: 1000 }))
    expect(server.received).toHaveLength(2)
    expect(gaps(server.received)[0]).toBeGreaterThanOrEqual(1000 - TIMER_SLACK_MS)

    const limited = await serve(reply(429, {}, { 'retry-after': '2' }))
    const err = (await refreshOf(client(limited.url, { requestTimeoutMs: 1000 })).catch(
      (e: unknown) => e,
    )) as { code: string; retryAfterMs: number; message: string }
    expect(err).toMatchObject({ code: 'RATE_LIMIT_ERROR', retryAfterMs: 2000 })
    const after = Date.parse(/try again after (\S+)$/.exec(err.message)![1]!)
    expect(after).toBeGreaterThan(Date.now())
    expect(err.message).toMatch(
      /^the accounts server limits the rate \(HTTP 429\) and asks to wait 2 s, longer than the request timeout \(1000 ms\): not waiting; try again after \d{4}-\d\d-\d\dT/,
    )
    // Not retried: the caller (and the token's lock) is not held for the wait.
    expect(limited.received).toHaveLength(1)
  })

  it('shorter than the backoff: the backoff is waited for', async () => {
    const server = await serve(reply(429, {}, { 'retry-after': '0' }), tokens())
    await refreshOf(client(server.url, { retryDelayMs: 400 }))
    // The first backoff is between half and all of retryDelayMs.
    expect(gaps(server.received)[0]).toBeGreaterThanOrEqual(200 - TIMER_SLACK_MS)
  })

  it('after the last retry, the error keeps the wait the server asked for', async () => {
    const server = await serve(reply(429, {}, { 'retry-after': '0.05' }))
    await expect(refreshOf(client(server.url, { retries: 1 }))).rejects.toMatchObject({
      code: 'RATE_LIMIT_ERROR',
      message: 'the accounts server limits the rate (HTTP 429)',
      retryAfterMs: 50,
    })
    expect(server.received).toHaveLength(2)
  })
})

describe('retries', () => {
  it('back off exponentially after 5xx, and give up after `retries` more tries', async () => {
    const server = await serve(reply(503))
    await expect(
      refreshOf(client(server.url, { retries: 2, retryDelayMs: 100 })),
    ).rejects.toMatchObject({
      code: 'SERVER_ERROR',
      status: 503,
      message: 'the accounts server failed with HTTP 503',
    })
    expect(server.received).toHaveLength(3)
    const [first, second] = gaps(server.received)
    // Waits of at least half of 100 ms, then of 200 ms.
    expect(first).toBeGreaterThanOrEqual(50 - TIMER_SLACK_MS)
    expect(second).toBeGreaterThanOrEqual(100 - TIMER_SLACK_MS)
  })

  it('none with retries 0; none after a definite answer, even a broken one', async () => {
    const failing = await serve(reply(500))
    await expect(refreshOf(client(failing.url, { retries: 0 }))).rejects.toMatchObject({
      code: 'SERVER_ERROR',
    })
    expect(failing.received).toHaveLength(1)
    for (const answer of [
      reply(400, { error: 'invalid_code' }),
      reply(200, '<html>'),
      reply(200, 'x'.repeat(70_000)),
    ]) {
      const server = await serve(answer)
      await expect(refreshOf(client(server.url, { retries: 2 }))).rejects.toMatchObject({
        code: expect.stringMatching(/^(INVALID_TOKEN_ERROR|INVALID_RESPONSE)$/) as unknown,
      })
      expect(server.received).toHaveLength(1)
    }
  })

  it('after a refused connection and a timeout: typed errors naming the server or the timeout', async () => {
    const gone = await serve(reply(200))
    await closers.pop()!()
    await expect(refreshOf(client(gone.url, { retries: 1 }))).rejects.toMatchObject({
      code: 'NETWORK_ERROR',
      message: `cannot reach the accounts server at ${gone.url}: ECONNREFUSED`,
      cause: expect.any(Error) as unknown,
    })
    // A server that never answers: the request times out, is tried once more, and times out.
    const silent = await serve(() => undefined)
    await expect(
      refreshOf(client(silent.url, { retries: 1, requestTimeoutMs: 100 })),
    ).rejects.toMatchObject({
      code: 'TIMEOUT_ERROR',
      message: 'the accounts server did not answer within 100 ms',
      cause: expect.objectContaining({ name: 'TimeoutError' }) as unknown,
    })
    expect(silent.received).toHaveLength(2)
  })
})

describe('requests', () => {
  it('post the form of each grant, with its headers, to the token and revoke endpoints', async () => {
    const server = await serve(tokens())
    const c = client(server.url)
    await refreshOf(c)
    await c.exchangeGrant({ clientId: 'cid', clientSecret: 'the-secret', grantToken: '1000.code' })
    await c.exchangeGrant({
      clientId: 'cid',
      clientSecret: 'the-secret',
      grantToken: '1000.code',
      redirectUrl: 'http://127.0.0.1/cb',
      codeVerifier: 'v'.repeat(43),
    })
    await c.revoke('1000.refresh')
    await c.revoke('1000.refresh', { clientId: 'cid', clientSecret: 'the-secret' })
    const shown = server.received.map(({ method, url, form }) => ({ method, url, form }))
    const secret = { client_id: 'cid', client_secret: 'the-secret' }
    expect(shown).toEqual([
      {
        method: 'POST',
        url: '/oauth/v2/token',
        form: { grant_type: 'refresh_token', ...secret, refresh_token: '1000.refresh' },
      },
      {
        method: 'POST',
        url: '/oauth/v2/token',
        form: { grant_type: 'authorization_code', ...secret, code: '1000.code' },
      },
      {
        method: 'POST',
        url: '/oauth/v2/token',
        form: {
          grant_type: 'authorization_code',
          ...secret,
          code: '1000.code',
          redirect_uri: 'http://127.0.0.1/cb',
          code_verifier: 'v'.repeat(43),
        },
      },
      { method: 'POST', url: '/oauth/v2/token/revoke', form: { token: '1000.refresh' } },
      { method: 'POST', url: '/oauth/v2/token/revoke', form: { token: '1000.refresh', ...secret } },
    ])
    for (const { headers } of server.received) {
      expect(headers).toMatchObject({
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      })
    }
  })

  it('never follow a redirect: the target receives nothing', async () => {
    const target = await serve(tokens())
    for (const status of [300, 302, 307]) {
      const server = await serve(reply(status, {}, { location: `${target.url}/oauth/v2/token` }))
      await expect(refreshOf(client(server.url))).rejects.toMatchObject({
        code: 'INVALID_RESPONSE',
        status,
        message: `the accounts server answered the refresh request with a redirect (HTTP ${status}), which is never followed: the client secret and tokens go to ${server.url} alone. Check the environment's accountsUrl.`,
      })
    }
    // The exchange and the revocation say which request was redirected.
    const server = await serve(reply(307, {}, { location: target.url }))
    await expect(
      client(server.url).exchangeGrant({ clientId: 'c', clientSecret: 's', grantToken: 'g' }),
    ).rejects.toThrow(/^the accounts server answered the exchange request with a redirect/)
    await expect(client(server.url).revoke('1000.refresh')).rejects.toThrow(
      /^the accounts server answered the revoke request with a redirect/,
    )
    expect(target.received).toEqual([])
  })

  it('remember the lifetime an answer gave, so a short-lived token is refreshed at half of it', async () => {
    const server = await serve(
      tokens({ access_token: `1000.short-${Math.random()}`, expires_in: 30 }),
    )
    const grant = await refreshOf(client(server.url))
    const token = new OAuthToken({ accessToken: grant.accessToken, expiryTime: grant.expiryTime })
    // A 60 s skew on a 30 s token would make it due at once; half its lifetime is 15 s.
    expect(needsRefresh(token, grant.expiryTime - 15_001, 60_000)).toBe(false)
    expect(needsRefresh(token, grant.expiryTime - 15_000, 60_000)).toBe(true)
  })

  it('keep an api_domain the environment allows, and ignore another with a warning', async () => {
    let self = ''
    const own = await serve((res) => tokens({ api_domain: `${self}/` })(res, 0))
    self = own.url
    const warnings: string[] = []
    expect((await refreshOf(client(own.url, {}, warnings))).apiDomain).toBe(`${own.url}/`)
    const none = await serve(tokens())
    expect((await refreshOf(client(none.url, {}, warnings))).apiDomain).toBeUndefined()
    expect(warnings).toEqual([])
    const foreign = await serve(tokens({ api_domain: 'https://www.zohoapis.eu/x' }))
    expect(await refreshOf(client(foreign.url, {}, warnings))).toMatchObject({
      accessToken: '1000.access',
      apiDomain: undefined,
    })
    const notUrl = await serve(tokens({ api_domain: 'not a url' }))
    expect((await refreshOf(client(notUrl.url, {}, warnings))).apiDomain).toBeUndefined()
    const ignored =
      'the accounts server named an api_domain the environment does not allow; ignored purpose="refresh" environment="test"'
    expect(warnings).toEqual([
      `${ignored} origin="https://www.zohoapis.eu"`,
      `${ignored} origin="not a URL"`,
    ])
  })
})

describe('revoke', () => {
  it('succeeds on 2xx and on a 400 invalid_token; refuses any other answer', async () => {
    for (const answer of [reply(200), reply(204, ''), reply(400, { error: 'invalid_token' })]) {
      const server = await serve(answer)
      await expect(client(server.url).revoke('1000.refresh')).resolves.toBeUndefined()
    }
    for (const [status, body] of [
      [400, { error: 'invalid_client' }],
      [401, { error: 'invalid_token' }],
      [302, {}],
    ] as const) {
      const server = await serve(reply(status, body))
      await expect(client(server.url).revoke('1000.refresh')).rejects.toMatchObject({
        code: 'INVALID_RESPONSE',
        status,
      })
    }
    const server = await serve(reply(400, { error: 'invalid_client' }))
    await expect(client(server.url).revoke('1000.refresh')).rejects.toThrow(
      'the accounts server answered HTTP 400 to the revocation',
    )
  })
})

describe('client authentication, as the environment says', () => {
  const basicClient = (url: string, clientAuth: 'client_secret_basic' | 'client_secret_post') =>
    new AccountsClient(
      new Environment({ name: 'test', apiDomain: url, accountsUrl: url, clientAuth }),
      {
        fetch: (i, init) => globalThis.fetch(i, init),
        now: () => 0,
        log: new SafeLog(undefined),
        ...CLIENT_DEFAULTS,
        retryDelayMs: 1,
      },
    )
  // RFC 6749 §2.3.1: id and secret are form-encoded before joining, so ':' cannot move the split.
  const credentials = { clientId: 'id:with space', clientSecret: 'se:cr+et/é' }
  const decoded = (header: string | undefined) => {
    const [id, secret] = Buffer.from(header!.replace(/^Basic /, ''), 'base64')
      .toString('utf8')
      .split(':')
      .map((part) => decodeURIComponent(part.replace(/\+/g, '%20')))
    return { id, secret }
  }

  it('client_secret_basic: every request carries Basic, and no body names the client', async () => {
    const server = await serve(tokens({ refresh_token: '1000.r' }), tokens(), reply(200))
    const c = basicClient(server.url, 'client_secret_basic')
    await c.exchangeGrant({
      ...credentials,
      grantToken: '1000.code',
      redirectUrl: 'https://x.example/cb',
    })
    await c.refresh({ ...credentials, refreshToken: '1000.r' })
    await c.revoke('1000.r', credentials)
    expect(server.received.map((r) => r.url)).toEqual([
      '/oauth/v2/token',
      '/oauth/v2/token',
      '/oauth/v2/token/revoke',
    ])
    for (const r of server.received) {
      expect(decoded(r.headers.authorization)).toEqual({
        id: 'id:with space',
        secret: 'se:cr+et/é',
      })
      expect(r.form).not.toHaveProperty('client_id')
      expect(r.form).not.toHaveProperty('client_secret')
    }
    expect(server.received[0]!.form).toEqual({
      grant_type: 'authorization_code',
      code: '1000.code',
      redirect_uri: 'https://x.example/cb',
    })
    expect(server.received[2]!.form).toEqual({ token: '1000.r' })
  })

  it('client_secret_post (Zoho): the client in the form, no Authorization header', async () => {
    const server = await serve(tokens())
    await basicClient(server.url, 'client_secret_post').refresh({
      ...credentials,
      refreshToken: '1000.r',
    })
    const [r] = server.received
    expect(r!.headers.authorization).toBeUndefined()
    expect(r!.form).toEqual({
      grant_type: 'refresh_token',
      refresh_token: '1000.r',
      client_id: 'id:with space',
      client_secret: 'se:cr+et/é',
    })
  })

  it('keeps the secret out of errors whichever way it was sent', async () => {
    const server = await serve(
      reply(401, { error: 'invalid_client', error_description: 'bad se:cr+et/é' }),
    )
    const err = (await basicClient(server.url, 'client_secret_basic')
      .refresh({ ...credentials, refreshToken: '1000.r' })
      .catch((e: unknown) => e)) as Error
    expect(err).toMatchObject({ code: 'INVALID_TOKEN_ERROR', serverError: 'invalid_client' })
    expect(err.message).not.toContain('se:cr+et/é')
  })
})
