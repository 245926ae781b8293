// Where tokens go, and how far an accounts server is trusted. Every case runs real HTTP servers
// on loopback: the accounts emulator, and small node:http servers that misbehave on purpose
// (redirect, stream without end, announce a huge body, ask to wait 22 days) or that only
// record what reaches them ("collectors"). The oracle is what the collectors received: no
// secret, no request.
import Database from 'better-sqlite3'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  DataCenter,
  Environment,
  FileStore,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  type Logger,
  type Session,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { errorTexts } from '../helpers/leak-capture.ts'

const dir = scratchDir('tokenkeeper-network-')
const HOUR = 3_600_000

/** Figures measured here, printed at the end. */
const figures: string[] = []
afterAll(() => {
  if (figures.length > 0) console.log(`network trust figures:\n${figures.join('\n')}`)
})

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

interface Received {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
  at: number
}

interface TestServer {
  readonly url: string
  readonly received: Received[]
  close(): Promise<void>
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

/** A node:http server on 127.0.0.1 that records every request; `handle` answers (default 200 ok). */
async function serve(handle: Handler = (_req, res) => res.end('ok')): Promise<TestServer> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        at: performance.now(),
      })
      handle(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  closers.push(close)
  return { url: `http://127.0.0.1:${port}`, received, close }
}

/** Every byte a collector received, as one text to search for secrets. */
function everything(server: TestServer): string {
  return server.received
    .map((r) => `${r.method} ${r.url} ${JSON.stringify(r.headers)} ${r.body}`)
    .join('\n')
}

function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(value))
}

/** A token answer as Zoho writes one, for a small accounts server of a test's own. */
function tokenAnswer(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    access_token: `1000.${'a'.repeat(32)}.${'b'.repeat(32)}`,
    api_domain: 'https://www.zohoapis.com',
    token_type: 'Bearer',
    expires_in: 3600,
    ...overrides,
  }
}

const emulators: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()))
})

async function emulator(options: Parameters<typeof startAccountsEmulator>[0] = {}) {
  const clock = { now: Date.now() }
  const started = await startAccountsEmulator({ ...options, now: () => clock.now })
  emulators.push(started)
  return { emulator: started, clock, client: started.clients[0]! }
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  }
}

interface Settled {
  /** The error, when the call failed. */
  err: (Error & Record<string, unknown>) | undefined
  ms: number
  /** One line for the figures: the error's name and code, "succeeded" or "still waiting". */
  shown: string
}

/** How a call ends (within `withinMs`), with how long it took, never throwing. */
async function settle(run: () => Promise<unknown>, withinMs = 20_000): Promise<Settled> {
  const started = performance.now()
  let timer: NodeJS.Timeout | undefined
  const stall = new Promise<'stalled'>((resolve) => {
    timer = setTimeout(() => resolve('stalled'), withinMs)
  })
  const outcome = await Promise.race([
    run().then(
      () => 'resolved' as const,
      (err: unknown) => ({ err: err as Error & Record<string, unknown> }),
    ),
    stall,
  ])
  clearTimeout(timer)
  const ms = performance.now() - started
  if (outcome === 'resolved') return { err: undefined, ms, shown: 'succeeded' }
  if (outcome === 'stalled') {
    return { err: undefined, ms, shown: `still waiting after ${withinMs} ms` }
  }
  const { err } = outcome
  const code = typeof err.code === 'string' ? ` ${err.code}` : ''
  return { err, ms, shown: `${err.name}${code} after ${Math.round(ms)} ms` }
}

/** The failure of a call (the test fails if it succeeds or stalls), with how long it took. */
async function failure(run: () => Promise<unknown>, withinMs = 20_000) {
  const settled = await settle(run, withinMs)
  if (settled.err === undefined) throw new Error(`expected a failure, but ${settled.shown}`)
  return { err: settled.err, ms: settled.ms }
}

/** The error of a settled call, failing the test with what happened instead. */
function failed(settled: Settled): Error & Record<string, unknown> {
  if (settled.err === undefined) throw new Error(`expected a failure, but ${settled.shown}`)
  return settled.err
}

/** Which of `secrets` a collector received, by name, for the figures. */
function leaked(server: TestServer, secrets: Record<string, string>): string {
  const all = everything(server)
  const names = Object.entries(secrets)
    .filter(([, value]) => all.includes(value))
    .map(([name]) => name)
  return names.length === 0 ? 'no secret' : names.join(' + ')
}

function expectNoSecret(err: unknown, secrets: readonly string[]): void {
  const texts = errorTexts(err).join('\n')
  for (const secret of secrets) expect(texts).not.toContain(secret)
}

// ---------------------------------------------------------------------------------------------
// Where the access token goes
// ---------------------------------------------------------------------------------------------

describe('session.fetch sends the token only to origins the environment allows', () => {
  /** Rewrites one stored row's columns behind the store's back, as a writer of the backend can. */
  const tamper: Record<
    string,
    (path: string, set: { access_token: 'refresh_token'; api_domain: string }) => void
  > = {
    SQLiteStore: (path, set) => {
      const db = new Database(path)
      db.prepare('UPDATE oauthtoken SET access_token = refresh_token, api_domain = ?').run(
        set.api_domain,
      )
      db.close()
    },
    FileStore: (path, set) => {
      const [header, ...rows] = readFileSync(path, 'utf8').trimEnd().split('\n')
      const columns = header!.split(',')
      const at = (name: string) => columns.indexOf(name)
      const edited = rows.map((row) => {
        const cells = row.split(',')
        cells[at('access_token')] = cells[at('refresh_token')]!
        cells[at('api_domain')] = set.api_domain
        return cells.join(',')
      })
      writeFileSync(path, `${[header, ...edited].join('\n')}\n`)
    },
  }

  for (const kind of ['SQLiteStore', 'FileStore'] as const) {
    it(`a row rewritten in the backend (${kind}: refresh token copied into access_token, api_domain pointed at another server) sends that server nothing`, async () => {
      const { emulator: accounts, client } = await emulator()
      const collector = await serve()
      const path = scratchPath(dir, kind === 'SQLiteStore' ? 'tokens.db' : 'tokens.txt')
      const open = (): TokenStore =>
        kind === 'SQLiteStore' ? new SQLiteStore({ path }) : new FileStore(path)
      const store = open()
      const session = await Initializer.initialize({
        environment: accounts.environment,
        store,
        token: new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          grantToken: accounts.issueGrantCode(),
        }),
      })
      expect((await session.fetch('/crm/v8/Leads')).status).toBe(200)
      const refreshToken = session.token.refreshToken!
      await store.close?.()

      tamper[kind]!(path, { access_token: 'refresh_token', api_domain: collector.url })

      const reopened = open()
      const victim = await Initializer.initialize({
        environment: accounts.environment,
        store: reopened,
        token: new OAuthToken({ id: session.id }),
      })
      expect(victim.token.apiDomain).toBe(collector.url) // the tampered row was loaded
      const settled = await settle(() => victim.fetch('/crm/v8/Leads'))
      await reopened.close?.()
      figures.push(
        `tampered api_domain [${kind}]: fetch ${settled.shown}; the other server received ` +
          `${collector.received.length} request(s) carrying ${leaked(collector, { 'the refresh token': refreshToken })}`,
      )
      expect(collector.received).toHaveLength(0)
      const err = failed(settled)
      expect(err.code).toBe('UNTRUSTED_ORIGIN')
      expect(err.origin).toBe(collector.url)
      expect(err.environment).toBe('emulator')
      expect(err.message).toContain(collector.url)
      expect(err.message).toContain('allowedApiOrigins')
      expectNoSecret(err, [refreshToken, client.clientSecret])
    })
  }

  it("DataCenter environments allow that data center's API hosts over https, and nothing else", () => {
    const tlds = {
      US: 'com',
      EU: 'eu',
      IN: 'in',
      CN: 'com.cn',
      JP: 'jp',
      AU: 'com.au',
      CA: 'ca',
      SA: 'sa',
    }
    let checked = 0
    for (const [code, tld] of Object.entries(tlds)) {
      const dc = DataCenter[code as keyof typeof DataCenter]
      for (const env of [dc.PRODUCTION, dc.SANDBOX, dc.DEVELOPER]) {
        for (const host of ['www', 'sandbox', 'developer', 'content']) {
          expect(env.allowsApiOrigin(`https://${host}.zohoapis.${tld}/crm/v8/Leads`)).toBe(true)
        }
        expect(env.allowsApiOrigin(`https://zohoapis.${tld}`)).toBe(true)
        const refused = [
          `http://www.zohoapis.${tld}`,
          `https://www.zohoapis.${tld}:8443`,
          `https://www.zohoapis.${tld}.evil.example`,
          `https://evil.example/www.zohoapis.${tld}`,
          `https://user:pass@www.zohoapis.${tld}`,
          `https://accounts.zoho.${tld}`,
          'not a url',
          ...Object.values(tlds)
            .filter((other) => other !== tld)
            .map((other) => `https://www.zohoapis.${other}`),
        ]
        for (const url of refused) {
          expect(env.allowsApiOrigin(url), `${env.name} must refuse ${url}`).toBe(false)
          checked += 1
        }
      }
    }
    figures.push(
      `DataCenter allow-lists: ${checked} foreign origins refused across 24 environments`,
    )
  })

  it('a DataCenter session refuses a row naming another data center or plain http, and sends to its own hosts', async () => {
    const sent: string[] = []
    const store = new MemoryStore()
    const start = async (apiDomain: string) => {
      const token = new OAuthToken({
        userSignature: new UserSignature(`user-${sent.length}-${Math.random()}`),
        accessToken: '1000.dc-access-token',
        expiryTime: Date.now() + HOUR,
        apiDomain,
      })
      await store.saveToken(token)
      return Initializer.initialize({
        environment: DataCenter.US.PRODUCTION,
        store,
        token: new OAuthToken({ id: token.id }),
        // A capturing fetch: these hosts are not reachable from a test, what matters is the URL.
        config: {
          fetch: async (input) => (
            sent.push(input instanceof Request ? input.url : input.toString()),
            new Response('{}')
          ),
        },
      })
    }
    for (const apiDomain of [
      'https://www.zohoapis.eu',
      'http://www.zohoapis.com',
      'https://www.zohoapis.com.evil.example',
    ]) {
      const { err } = await failure(async () => (await start(apiDomain)).fetch('/crm/v8/Leads'))
      expect(err.code).toBe('UNTRUSTED_ORIGIN')
      expect(err.origin).toBe(new URL(apiDomain).origin)
    }
    expect(sent).toEqual([])
    const session = await start('https://www.zohoapis.com')
    await session.fetch('/crm/v8/Leads')
    await session.fetch('https://content.zohoapis.com/crm/v8/files')
    expect(sent).toEqual([
      'https://www.zohoapis.com/crm/v8/Leads',
      'https://content.zohoapis.com/crm/v8/files',
    ])
    // A path leading elsewhere is the caller's mistake: an INVALID_ARGUMENT naming path.
    for (const path of [
      'https://www.zohoapis.eu/crm/v8/Leads',
      '//evil.example/x',
      'http://www.zohoapis.com/x',
    ]) {
      const { err } = await failure(() => session.fetch(path))
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'path' })
    }
    expect(sent).toHaveLength(2)
  })

  it('a custom environment allows its apiDomain and its allowedApiOrigins, plain http only to loopback', async () => {
    const { emulator: accounts, client } = await emulator()
    const second = await serve((_req, res) => json(res, 200, { data: [] }))
    const environment = new Environment({
      name: 'two-apis',
      apiDomain: accounts.url,
      accountsUrl: accounts.url,
      allowedApiOrigins: [`${second.url}/`],
    })
    expect(environment.allowedApiOrigins).toEqual([accounts.url, second.url])
    const session = await Initializer.initialize({
      environment,
      store: new MemoryStore(),
      token: new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: accounts.issueGrantCode(),
      }),
    })
    expect((await session.fetch(`${second.url}/crm/v8/Leads`)).status).toBe(200)
    expect(second.received).toHaveLength(1)
    expect(second.received[0]!.headers.authorization).toBe(
      `Zoho-oauthtoken ${await session.getAccessToken()}`,
    )

    const make = (init: Record<string, unknown>) => () =>
      new Environment({
        name: 'x',
        apiDomain: 'https://api.example',
        accountsUrl: 'https://accounts.example',
        ...init,
      })
    for (const ok of [
      'http://localhost:1',
      'http://127.5.6.7:8',
      'http://[::1]:9',
      'https://api.example:8443',
    ]) {
      expect(make({ apiDomain: ok })).not.toThrow()
      expect(make({ allowedApiOrigins: [ok] })).not.toThrow()
    }
    const refused: [Record<string, unknown>, string, RegExp][] = [
      [
        { apiDomain: 'http://api.example' },
        'apiDomain',
        /plain http is allowed only to this machine/,
      ],
      [{ accountsUrl: 'http://accounts.example' }, 'accountsUrl', /plain http/],
      [{ apiDomain: 'http://0.0.0.0:4000' }, 'apiDomain', /plain http/],
      [{ apiDomain: 'https://user:secret@api.example' }, 'apiDomain', /user name or password/],
      [{ allowedApiOrigins: ['http://10.0.0.5'] }, 'allowedApiOrigins[0]', /plain http/],
      [{ allowedApiOrigins: ['https://b.example/api'] }, 'allowedApiOrigins[0]', /without a path/],
      [{ allowedApiOrigins: 'https://b.example' }, 'allowedApiOrigins', /array/],
      [{ allowedApiOrigin: ['https://b.example'] }, 'allowedApiOrigin', /no option/],
    ]
    for (const [init, argument, message] of refused) {
      expect(make(init)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', argument }) as Error,
      )
      expect(make(init)).toThrow(message)
    }
  })

  it('an emulator listening on every interface names itself by loopback, which an http environment may use', async () => {
    const wide = await startAccountsEmulator({ host: '0.0.0.0' })
    emulators.push(wide)
    expect(wide.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const { clientId, clientSecret } = wide.clients[0]!
    const session = await Initializer.initialize({
      environment: wide.environment,
      store: new MemoryStore(),
      token: new OAuthToken({ clientId, clientSecret, grantToken: wide.issueGrantCode() }),
    })
    expect((await session.fetch('/crm/v8/Leads')).status).toBe(200)
  })

  it("an answer naming an api_domain the environment does not allow is ignored: the token keeps the environment's", async () => {
    const collector = await serve()
    const accounts = await serve((req, res) => {
      if (req.url === '/oauth/v2/token') json(res, 200, tokenAnswer({ api_domain: collector.url }))
      else json(res, 200, { data: [] })
    })
    const logger = recordingLogger()
    const environment = new Environment({
      name: 'hostile-answer',
      apiDomain: accounts.url,
      accountsUrl: accounts.url,
    })
    const store = new MemoryStore()
    const session = await Initializer.initialize({
      environment,
      store,
      logger,
      token: new OAuthToken({
        clientId: 'c',
        clientSecret: 'answer-secret',
        refreshToken: '1000.answer-refresh',
      }),
    })
    const stored = (await store.findTokenById(session.id!))!.apiDomain
    await settle(() => session.fetch('/crm/v8/Leads'))
    figures.push(
      `an answer naming api_domain=<another server>: stored api_domain is ${stored === collector.url ? 'the other server' : "the environment's"}; ` +
        `the other server received ${collector.received.length} request(s) carrying ${leaked(collector, { 'the access token': String(tokenAnswer().access_token) })}`,
    )
    expect(stored).toBe(accounts.url)
    expect(session.token.apiDomain).toBe(accounts.url)
    expect(collector.received).toHaveLength(0)
    expect(accounts.received.map((r) => r.url)).toEqual(['/oauth/v2/token', '/crm/v8/Leads'])
    expect(logger.lines.join('\n')).toMatch(
      /api_domain the environment does not allow; ignored .*origin="http:\/\/127\.0\.0\.1:\d+"/,
    )
  })

  it('an API redirect to another origin does not carry the token (fetch drops authorization across origins)', async () => {
    const collector = await serve()
    const api = await serve((_req, res) => {
      res.writeHead(307, { location: `${collector.url}/stolen` })
      res.end()
    })
    const store = new MemoryStore()
    const token = new OAuthToken({
      userSignature: new UserSignature('ada'),
      accessToken: '1000.redirected-access-token',
      expiryTime: Date.now() + HOUR,
      apiDomain: api.url,
    })
    await store.saveToken(token)
    const session = await Initializer.initialize({
      environment: new Environment({
        name: 'redirecting-api',
        apiDomain: api.url,
        accountsUrl: api.url,
      }),
      store,
      token: new OAuthToken({ id: token.id }),
    })
    await session.fetch('/crm/v8/Leads')
    expect(api.received[0]!.headers.authorization).toBe(`Zoho-oauthtoken ${token.accessToken}`)
    expect(collector.received).toHaveLength(1)
    expect(everything(collector)).not.toContain(token.accessToken)
  })
})

// ---------------------------------------------------------------------------------------------
// Redirects from the accounts server
// ---------------------------------------------------------------------------------------------

describe('token and revoke requests never follow a redirect', () => {
  const CLIENT_SECRET = 'redirect-test-client-secret'
  const REFRESH = '1000.redirect-test-refresh-token'

  for (const status of [301, 302, 303, 307, 308]) {
    it(`HTTP ${status} from the token endpoint is an INVALID_RESPONSE; the target receives nothing`, async () => {
      const collector = await serve((_req, res) => json(res, 200, tokenAnswer()))
      const accounts = await serve((_req, res) => {
        res.writeHead(status, {
          location: `${collector.url}/oauth/v2/token`,
          'content-type': 'text/plain',
        })
        res.end(`moved to ${collector.url}`)
      })
      const settled = await settle(() =>
        Initializer.initialize({
          environment: new Environment({
            name: 'redirecting',
            apiDomain: accounts.url,
            accountsUrl: accounts.url,
          }),
          store: new MemoryStore(),
          token: new OAuthToken({
            clientId: 'c',
            clientSecret: CLIENT_SECRET,
            refreshToken: REFRESH,
          }),
          config: { retryDelayMs: 1 },
        }),
      )
      figures.push(
        `redirect ${status} at the token endpoint: ${settled.shown}; the redirect target received ` +
          `${collector.received.length} request(s) carrying ${leaked(collector, { 'the client secret': CLIENT_SECRET, 'the refresh token': REFRESH })}`,
      )
      const err = failed(settled)
      expect(collector.received).toHaveLength(0)
      expect(accounts.received).toHaveLength(1) // a definite answer: not retried
      expect(err).toMatchObject({ code: 'INVALID_RESPONSE', status })
      expect(err.message).toContain(`HTTP ${status}`)
      expect(err.message).not.toContain(collector.url) // neither the Location nor the body
      expectNoSecret(err, [CLIENT_SECRET, REFRESH])
    })
  }

  it('a 307 from the revocation endpoint is refused; the target receives nothing and the row stays', async () => {
    const collector = await serve((_req, res) => res.end())
    const accounts = await serve((_req, res) => {
      res.writeHead(307, { location: `${collector.url}/oauth/v2/token/revoke` })
      res.end()
    })
    const store = new MemoryStore()
    const token = new OAuthToken({
      userSignature: new UserSignature('ada'),
      clientId: 'c',
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH,
      accessToken: '1000.revoke-access',
      expiryTime: Date.now() + HOUR,
    })
    await store.saveToken(token)
    const session = await Initializer.initialize({
      environment: new Environment({
        name: 'redirecting',
        apiDomain: accounts.url,
        accountsUrl: accounts.url,
      }),
      store,
      token: new OAuthToken({ id: token.id }),
    })
    const settled = await settle(() => session.revoke())
    figures.push(
      `redirect 307 at the revocation endpoint: ${settled.shown}; the target received ` +
        `${collector.received.length} request(s) carrying ${leaked(collector, { 'the client secret': CLIENT_SECRET, 'the refresh token': REFRESH })}; ` +
        `row ${(await store.findTokenById(token.id!)) ? 'kept' : 'deleted'}`,
    )
    const err = failed(settled)
    expect(collector.received).toHaveLength(0)
    expect(err).toMatchObject({ code: 'INVALID_RESPONSE', status: 307 })
    expect(await store.findTokenById(token.id!)).not.toBeNull()
    expectNoSecret(err, [CLIENT_SECRET, REFRESH])
  })
})

// ---------------------------------------------------------------------------------------------
// Answer size
// ---------------------------------------------------------------------------------------------

describe('accounts answers are read up to 64 KB', () => {
  const refreshing = (accountsUrl: string, config: Record<string, unknown> = {}) =>
    Initializer.initialize({
      environment: new Environment({ name: 'big-answers', apiDomain: accountsUrl, accountsUrl }),
      store: new MemoryStore(),
      token: new OAuthToken({
        clientId: 'c',
        clientSecret: 'size-secret',
        refreshToken: '1000.size-refresh',
      }),
      config: { retries: 0, ...config },
    })

  it('an endless body: reading stops past the cap, the connection is dropped, memory stays flat', async () => {
    const CEILING = 64 * 1024 * 1024 // the server gives up here, so that the old code ends too
    let written = 0
    let closedAfter = -1
    const chunk = Buffer.alloc(16 * 1024, 0x20)
    const accounts = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"access_token":"')
      res.on('close', () => {
        if (closedAfter < 0) closedAfter = written
      })
      const pump = () => {
        while (!res.destroyed && written < CEILING) {
          written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        if (!res.destroyed) res.end('"}')
      }
      pump()
    })
    global.gc?.()
    const before = process.memoryUsage()
    const settled = await settle(() => refreshing(accounts.url, { requestTimeoutMs: 15_000 }))
    const after = process.memoryUsage()
    await new Promise((resolve) => setTimeout(resolve, 50))
    const sent = closedAfter < 0 ? written : closedAfter
    const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`
    figures.push(
      `endless body: ${settled.shown}; the server wrote ${mb(sent)} before the client ${closedAfter < 0 ? 'read it all' : 'hung up'}; ` +
        `client rss +${mb(after.rss - before.rss)}, heap +${mb(after.heapUsed - before.heapUsed)}`,
    )
    const err = failed(settled)
    expect(err).toMatchObject({ code: 'INVALID_RESPONSE', status: 200 })
    expect(err.message).toContain('65536-byte limit')
    expect(sent).toBeLessThan(8 * 1024 * 1024)
    expect(closedAfter).toBeGreaterThanOrEqual(0)
  })

  it('a content-length over the cap is refused before reading, without waiting for the body', async () => {
    const accounts = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(10 * 1024 ** 3),
      })
      res.write('{"access_token":"') // and nothing more: a reader waits until the timeout
    })
    const settled = await settle(() => refreshing(accounts.url, { requestTimeoutMs: 3_000 }))
    figures.push(`content-length 10 GiB, body never ends: ${settled.shown}`)
    // Refused on the header: a client that read on would end in a TIMEOUT_ERROR instead.
    const err = failed(settled)
    expect(err).toMatchObject({ code: 'INVALID_RESPONSE', status: 200 })
    expect(err.message).toContain('10737418240 bytes')
    expect(err.message).toContain('it was not read')
  })

  it('an answer just under the cap is read', async () => {
    const padded = JSON.stringify(tokenAnswer({ api_domain: undefined })).replace(
      '{',
      `{${' '.repeat(60 * 1024)}`,
    )
    expect(Buffer.byteLength(padded)).toBeLessThan(64 * 1024)
    const accounts = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(padded)
    })
    const session = await refreshing(accounts.url)
    expect(await session.getAccessToken()).toBe(tokenAnswer().access_token)
  })
})

// ---------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------

describe('Retry-After', () => {
  for (const [form, header] of [
    ['seconds', () => '1900000'],
    ['an HTTP date', () => new Date(Date.now() + 1_900_000_000).toUTCString()],
  ] as const) {
    it(`longer than the request timeout (${form}, 22 days): RATE_LIMIT_ERROR at once with retryAfterMs, the token's lock free`, async () => {
      const accounts = await serve((_req, res) =>
        json(res, 429, { error: 'slow down' }, { 'retry-after': header() }),
      )
      const store = new FileStore(scratchPath(dir, 'rate-limited.txt'))
      const stale = new OAuthToken({
        userSignature: new UserSignature('ada'),
        clientId: 'c',
        clientSecret: 'rate-secret',
        refreshToken: '1000.rate-refresh',
        accessToken: '1000.rate-access-expired',
        expiryTime: Date.now() - HOUR,
      })
      await store.saveToken(stale)
      // The refresh runs under the FileStore's lock on the token (initialize finds it expired).
      const settled = await settle(() =>
        Initializer.initialize({
          environment: new Environment({
            name: 'rate-limited',
            apiDomain: accounts.url,
            accountsUrl: accounts.url,
          }),
          store,
          token: new OAuthToken({ id: stale.id }),
          config: { retries: 2, retryDelayMs: 1, requestTimeoutMs: 5_000 },
        }),
      )
      // Another process that needs the token now: is its lock free?
      const other = await settle(async () =>
        (await store.lockToken(stale.id!, { timeoutMs: 200 })).release(),
      )
      figures.push(
        `Retry-After 1900000 s (${form}): ${settled.shown}, retryAfterMs=${String(settled.err?.retryAfterMs)}, ` +
          `${accounts.received.length} request(s); the token's lock ${other.err === undefined ? 'free' : `held (${other.shown})`}`,
      )
      // At once: one request, and the refusal says it does not wait (a client that waited
      // would stall settle, one that retried would send more).
      const err = failed(settled)
      expect(other.err).toBeUndefined()
      expect(err.code).toBe('RATE_LIMIT_ERROR')
      expect(err.retryAfterMs as number).toBeGreaterThan(1_899_990_000)
      expect(err.retryAfterMs as number).toBeLessThanOrEqual(1_900_000_000)
      expect(accounts.received).toHaveLength(1)
      expect(err.message).toMatch(/longer than the request timeout \(5000 ms\): not waiting/)
      expect((await store.findTokenById(stale.id!))!.refreshToken).toBe(stale.refreshToken)
    })
  }

  it('within the request timeout it is waited for, really (the server sees the gap)', async () => {
    let calls = 0
    const accounts = await serve((_req, res) => {
      calls += 1
      if (calls === 1) json(res, 429, { error: 'slow down' }, { 'retry-after': '1' })
      else json(res, 200, tokenAnswer({ api_domain: undefined }))
    })
    const started = performance.now()
    const session = await Initializer.initialize({
      environment: new Environment({
        name: 'rate-limited-once',
        apiDomain: accounts.url,
        accountsUrl: accounts.url,
      }),
      store: new MemoryStore(),
      token: new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: '1000.r' }),
      // The backoff alone would wait 1 ms: any longer wait is the server's Retry-After.
      config: { retries: 2, retryDelayMs: 1, requestTimeoutMs: 5_000 },
    })
    const elapsed = performance.now() - started
    const gap = accounts.received[1]!.at - accounts.received[0]!.at
    figures.push(
      `Retry-After 1 s within a 5 s timeout: retried after a gap of ${Math.round(gap)} ms (${Math.round(elapsed)} ms in all)`,
    )
    expect(await session.getAccessToken()).toBe(tokenAnswer().access_token)
    expect(accounts.received).toHaveLength(2)
    // A lower bound only: a loaded machine can lengthen the wait, never shorten it.
    expect(gap).toBeGreaterThanOrEqual(990)
  })
})

// ---------------------------------------------------------------------------------------------
// Token answers: lifetimes and types
// ---------------------------------------------------------------------------------------------

describe('token lifetimes', () => {
  it('a 30 s token under a 60 s refresh skew: many calls, one refresh per half-lifetime, not one per call', async () => {
    const {
      emulator: accounts,
      clock,
      client,
    } = await emulator({ accessTokenLifetimeSec: 30, accessTokenLimit: false })
    const store = new SQLiteStore({ path: scratchPath(dir, 'short.db') })
    const config = { now: () => clock.now, retryDelayMs: 1 } // refreshSkewMs: the default 60 s
    const session = await Initializer.initialize({
      environment: accounts.environment,
      store,
      token: new OAuthToken({
        userSignature: new UserSignature('ada@zylker.example'),
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: accounts.issueGrantCode(),
      }),
      config,
    })
    const calls = async (s: Session, n: number) => {
      for (let i = 0; i < n; i += 1) {
        if (i % 5 === 0) expect((await s.fetch('/crm/v8/Leads')).status).toBe(200)
        else expect(accounts.isValid(await s.getAccessToken())).toBe(true)
      }
    }
    await calls(session, 50)
    const fresh = accounts.counts.refresh
    clock.now += 16_000 // past half the lifetime: one refresh, then the new token serves
    await calls(session, 50)
    const afterHalf = accounts.counts.refresh
    // Another session on the same row (a store read, not this session's memory) agrees.
    const other = await Initializer.initialize({
      environment: accounts.environment,
      store,
      token: new OAuthToken({ id: session.id }),
      config,
    })
    await calls(other, 20)
    figures.push(
      `expires_in=30, skew 60 s: refreshes after 50 calls ${fresh}, after 16 s and 50 more ${afterHalf}, after 20 on a second session ${accounts.counts.refresh}`,
    )
    await store.close()
    expect(fresh).toBe(0)
    expect(afterHalf).toBe(1)
    expect(accounts.counts.refresh).toBe(1)
  })

  it('expires_in of 1e306 is clamped to a year; an unusable one is INVALID_RESPONSE and nothing is stored', async () => {
    let answer = ''
    const accounts = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(answer)
    })
    let store = new MemoryStore()
    const start = () =>
      Initializer.initialize({
        environment: new Environment({
          name: 'lifetimes',
          apiDomain: accounts.url,
          accountsUrl: accounts.url,
        }),
        store,
        token: new OAuthToken({
          clientId: 'c',
          clientSecret: 's',
          refreshToken: '1000.life-refresh',
        }),
        config: { retries: 0 },
      })
    answer = JSON.stringify(tokenAnswer({ api_domain: undefined, expires_in: 1e306 }))
    const before = Date.now()
    const huge = await settle(start)
    const stored = (await store.getTokens())[0]?.expiryTime
    figures.push(
      `expires_in=1e306: initialize ${huge.shown}; stored expiry ${stored === undefined ? 'none' : new Date(stored).toISOString()}`,
    )
    expect(huge.err).toBeUndefined()
    const expiry = stored!
    expect(expiry).toBeGreaterThanOrEqual(before + 365 * 24 * HOUR)
    expect(expiry).toBeLessThanOrEqual(Date.now() + 365 * 24 * HOUR)

    for (const wire of ['1e400', '-5', '"soon"', '{}', '"NaN"']) {
      store = new MemoryStore()
      answer = `{"access_token":"1000.x","token_type":"Bearer","expires_in":${wire}}`
      const settled = await settle(start)
      const rows = await store.getTokens()
      figures.push(
        `expires_in=${wire}: ${settled.shown}` +
          (rows[0]
            ? `, stored with a lifetime of ${Math.round((rows[0].expiryTime! - Date.now()) / 1000)} s`
            : ''),
      )
      const err = failed(settled)
      expect(err).toMatchObject({ code: 'INVALID_RESPONSE' })
      expect(err.message).toContain('expires_in')
      expect(await store.getTokens()).toEqual([])
    }
  })

  it("an unknown token_type is refused; Bearer (any case), Zoho's own and none are used", async () => {
    let type: unknown
    const accounts = await serve((_req, res) =>
      json(res, 200, tokenAnswer({ api_domain: undefined, token_type: type })),
    )
    const start = () =>
      Initializer.initialize({
        environment: new Environment({
          name: 'types',
          apiDomain: accounts.url,
          accountsUrl: accounts.url,
        }),
        store: new MemoryStore(),
        token: new OAuthToken({
          clientId: 'c',
          clientSecret: 's',
          refreshToken: '1000.type-refresh',
        }),
        config: { retries: 0 },
      })
    for (const refused of ['mac', 'DPoP', 'N_A']) {
      type = refused
      const settled = await settle(start)
      figures.push(`token_type '${refused}': ${settled.shown}`)
      const err = failed(settled)
      expect(err).toMatchObject({ code: 'INVALID_RESPONSE' })
      expect(err.message).toContain(`'${refused}'`)
    }
    for (const accepted of ['Bearer', 'bearer', 'BEARER', 'Zoho-oauthtoken', undefined]) {
      type = accepted
      expect(await (await start()).getAccessToken()).toBe(tokenAnswer().access_token)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Header values
// ---------------------------------------------------------------------------------------------

describe('a token that cannot be a header value', () => {
  for (const [what, access] of [
    ['a line break', '1000.access-token-secret-\r\nX-Injected: yes'],
    ['a control character', '1000.access-token-secret-\u0001-more'],
    ['a non-Latin-1 character', '1000.access-token-secret-\u03a9-more'],
  ] as const) {
    it(`${what} in a stored access token: INVALID_HEADER without the token, nothing sent`, async () => {
      const api = await serve()
      const path = scratchPath(dir, 'header.db')
      const store = new SQLiteStore({ path })
      const token = new OAuthToken({
        userSignature: new UserSignature('ada'),
        accessToken: '1000.placeholder',
        expiryTime: Date.now() + HOUR,
        apiDomain: api.url,
      })
      await store.saveToken(token)
      await store.close()
      const db = new Database(path)
      db.prepare('UPDATE oauthtoken SET access_token = ?').run(access)
      db.close()
      const reopened = new SQLiteStore({ path })
      const session = await Initializer.initialize({
        environment: new Environment({ name: 'headers', apiDomain: api.url, accountsUrl: api.url }),
        store: reopened,
        token: new OAuthToken({ id: token.id }),
      })
      const settled = await settle(() => session.fetch('/crm/v8/Leads'))
      await reopened.close()
      const shows = settled.err !== undefined && errorTexts(settled.err).join('\n').includes(access)
      figures.push(
        `${what} in the access token: fetch ${settled.shown}; ${api.received.length} request(s) sent; ` +
          `the error ${shows ? 'shows' : 'does not show'} the token`,
      )
      const err = failed(settled)
      expect(err).toMatchObject({ code: 'INVALID_HEADER', header: 'authorization' })
      expect(api.received).toHaveLength(0)
      expectNoSecret(err, [access, 'access-token-secret'])
    })
  }

  it("a bad value in the caller's own headers is INVALID_HEADER naming init.headers, without the value", async () => {
    const api = await serve()
    const store = new MemoryStore()
    const token = new OAuthToken({
      userSignature: new UserSignature('ada'),
      accessToken: '1000.fine',
      expiryTime: Date.now() + HOUR,
      apiDomain: api.url,
    })
    await store.saveToken(token)
    const session = await Initializer.initialize({
      environment: new Environment({ name: 'headers', apiDomain: api.url, accountsUrl: api.url }),
      store,
      token: new OAuthToken({ id: token.id }),
    })
    const { err } = await failure(() =>
      session.fetch('/x', { headers: { 'x-api-key': 'caller-secret\r\nInjected: 1' } }),
    )
    expect(err).toMatchObject({ code: 'INVALID_HEADER', header: 'init.headers' })
    expectNoSecret(err, ['caller-secret'])
    expect(api.received).toHaveLength(0)
  })
})
