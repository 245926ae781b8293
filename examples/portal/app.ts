// The demo portal: "Login with Zoho" (authorization code flow with state and PKCE), the signed-in
// user's leads fetched through a tokenkeeper session, and a dashboard of every stored token with
// Refresh and Revoke. Tokens live in SQLite (zohooauth.db in the working directory). Without
// configuration it runs the accounts emulator beside it; with ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET,
// ZOHO_REDIRECT_URL and ZOHO_DC it talks to real Zoho.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { serve } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { Environment } from 'tokenkeeper'
import {
  DataCenter,
  Initializer,
  OAuthToken,
  SDKException,
  type DataCenterCode,
  type SessionConfig,
  type Session,
} from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { startAccountsEmulator, type AccountsEmulator } from 'tokenkeeper/testing'
import { formatRemaining, html, maskClientId, page, secret, type SafeHtml } from './views.ts'

export const SCOPE = 'ZohoCRM.modules.ALL,ZohoCRM.users.READ'
/** The file, in the working directory, holding the key that signs the portal's cookies. */
export const SECRET_FILE = '.tokenkeeper-portal-secret'
const SESSION_COOKIE = 'tk_session'
const OAUTH_COOKIE = 'tk_oauth'
const OAUTH_COOKIE_MAX_AGE = 600
const SESSION_MAX_AGE = 30 * 24 * 3600
/** Forces a refresh: every token is "about to expire" under this much skew (about 100 years). */
const FORCE_REFRESH_SKEW_MS = 100 * 365 * 24 * 3600 * 1000

export interface PortalOptions {
  /** Default 3000 (`PORT` is read by main.ts); 0 picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Where zohooauth.db and the cookie key live; default the process's working directory. */
  cwd?: string
  /** Where ZOHO_* settings are read from; default process.env. */
  env?: Record<string, string | undefined>
  /** Use this running emulator instead of starting one (it is not closed by stop()). */
  accounts?: AccountsEmulator
}

export interface Portal {
  /** For example http://127.0.0.1:3000 */
  readonly url: string
  readonly port: number
  /** The accounts server the portal signs in with. */
  readonly environment: Environment
  /** The emulator, when the portal talks to one. */
  readonly accounts: AccountsEmulator | undefined
  /** Closes the server, the store and the emulator it started. */
  stop(): Promise<void>
}

interface Client {
  clientId: string
  clientSecret: string
  redirectUrl: string
}

/** Real Zoho from ZOHO_* settings, or undefined when none is set. */
function zohoSettings(
  env: Record<string, string | undefined>,
):
  | { client: Omit<Client, 'redirectUrl'> & { redirectUrl: string }; environment: Environment }
  | undefined {
  const names = ['ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET', 'ZOHO_REDIRECT_URL', 'ZOHO_DC'] as const
  const set = names.filter((name) => env[name])
  if (set.length === 0) return undefined
  if (set.length < names.length) {
    const missing = names.filter((name) => !env[name])
    throw new Error(`to use real Zoho, also set ${missing.join(', ')} (or unset ${set.join(', ')})`)
  }
  const dc = env.ZOHO_DC!.toUpperCase()
  if (!(dc in DataCenter)) {
    throw new Error(`ZOHO_DC must be one of ${Object.keys(DataCenter).join(', ')}, got ${dc}`)
  }
  return {
    client: {
      clientId: env.ZOHO_CLIENT_ID!,
      clientSecret: env.ZOHO_CLIENT_SECRET!,
      redirectUrl: env.ZOHO_REDIRECT_URL!,
    },
    environment: DataCenter[dc as DataCenterCode].PRODUCTION,
  }
}

/** The cookie key: 32 random bytes, created once with mode 0600 and kept across restarts. */
function loadKey(cwd: string): Buffer {
  const path = join(cwd, SECRET_FILE)
  try {
    writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  chmodSync(path, 0o600)
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex')
  if (key.length < 32) throw new Error(`${path} does not hold a 32-byte hex key; delete it`)
  return key
}

const b64url = (bytes: Buffer): string => bytes.toString('base64url')

export async function startPortal(options: PortalOptions = {}): Promise<Portal> {
  const cwd = resolve(options.cwd ?? process.cwd())
  const host = options.host ?? '127.0.0.1'
  const real = options.accounts ? undefined : zohoSettings(options.env ?? process.env)
  const key = loadKey(cwd)
  const store = new SQLiteStore({ path: join(cwd, 'zohooauth.db') })

  const mac = (purpose: string, value: string): string =>
    b64url(createHmac('sha256', key).update(`${purpose}\0${value}`).digest())
  const sameMac = (a: string, b: string): boolean => {
    const x = Buffer.from(a)
    const y = Buffer.from(b)
    return x.length === y.length && timingSafeEqual(x, y)
  }

  // Refreshes per token id, counted from tokenkeeper's diagnostics events.
  const refreshes = new Map<string, number>()
  const onRefreshed = (message: unknown): void => {
    const id = (message as { id?: unknown }).id
    if (typeof id === 'string') refreshes.set(id, (refreshes.get(id) ?? 0) + 1)
  }
  diagnostics.subscribe('tokenkeeper:token.refreshed', onRefreshed)

  // Filled in once the server listens (the emulator's redirect URI needs the port).
  let environment: Environment
  let client: Client
  let accounts: AccountsEmulator | undefined = options.accounts
  let ownsAccounts = false
  let secure = false
  let origin = ''
  let resolveReady!: () => void
  const ready = new Promise<void>((done) => (resolveReady = done))

  const sessionFor = (id: string, config: Partial<SessionConfig> = {}): Promise<Session> =>
    Initializer.initialize({ environment, token: new OAuthToken({ id }), store, config })

  /** The signed-in token id, from a cookie whose HMAC checks out. */
  const signedIn = (c: Context): string | undefined => {
    const value = getCookie(c, SESSION_COOKIE)
    const [id, tag] = value?.split('.') ?? []
    if (!id || !tag || !sameMac(tag, mac('session', id))) return undefined
    return id
  }
  const csrfFor = (id: string): string => mac('csrf', id)
  const sendPage = (
    c: Context,
    status: 200 | 400 | 403 | 404 | 502,
    title: string,
    body: (nonce: string) => SafeHtml,
    script = false,
  ) => {
    const nonce = b64url(randomBytes(16))
    c.header(
      'content-security-policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    )
    c.header('cache-control', 'no-store')
    c.header('referrer-policy', 'no-referrer')
    c.header('x-content-type-options', 'nosniff')
    return c.html(page(title, nonce, body(nonce), { script }), status)
  }
  const problem = (c: Context, status: 400 | 403 | 404 | 502, title: string, detail: string) =>
    sendPage(
      c,
      status,
      title,
      () =>
        html`<h1>${title}</h1>
          <p class="error">${detail}</p>
          <p><a href="/">Back to the portal</a></p>`,
    )
  const describe = (err: unknown): string =>
    err instanceof SDKException
      ? `${err.code}: ${err.message}`
      : 'an unexpected error (see the server log)'

  const app = new Hono()
  app.use('*', async (_c, next) => {
    await ready
    await next()
  })

  app.get('/', async (c) => {
    const notice = { refreshed: 'Token refreshed.', revoked: 'Token revoked.', out: 'Signed out.' }[
      c.req.query('notice') ?? ''
    ]
    const id = signedIn(c)
    let session: Session | undefined
    let gone = false
    if (id) {
      try {
        session = await sessionFor(id)
      } catch (err) {
        if (!(err instanceof SDKException)) throw err
        if (err.code !== 'TOKEN_NOT_FOUND') {
          return sendPage(
            c,
            502,
            'Token unusable',
            () =>
              html`<h1>Your token cannot be used</h1>
                <p class="error">${describe(err)}</p>
                <form method="post" action="/logout">
                  <input type="hidden" name="csrf" value="${csrfFor(id)}" /><button type="submit">
                    Sign out
                  </button>
                </form>`,
          )
        }
        gone = true
      }
    }
    if (!session) {
      if (gone) deleteCookie(c, SESSION_COOKIE, { path: '/' })
      return sendPage(
        c,
        200,
        'tokenkeeper portal',
        () =>
          html` <h1>tokenkeeper portal</h1>
            ${notice ? html`<p class="notice">${notice}</p>` : ''}
            ${gone ? html`<p class="notice">Your token is no longer stored; sign in again.</p>` : ''}
            <p>
              Sign in with your Zoho account: the portal keeps your OAuth tokens in SQLite with
              tokenkeeper, refreshes them before they expire, and lets you revoke them.
            </p>
            <p><a class="button" href="/login">Login with Zoho</a></p>
            <p class="muted">Accounts server: <code>${environment.accountsUrl}</code></p>`,
      )
    }

    // The sample API, through the session: refreshed first if the token is about to expire.
    let leads: SafeHtml
    try {
      const response = await session.fetch('/crm/v8/Leads')
      if (response.status === 204) {
        leads = html`<p class="muted">No leads.</p>`
      } else if (!response.ok) {
        await response.body?.cancel()
        leads = html`<p class="error">The API answered HTTP ${response.status}.</p>`
      } else {
        const body = (await response.json()) as { data?: Record<string, unknown>[] }
        const text = (value: unknown): string =>
          typeof value === 'string' || typeof value === 'number' ? String(value) : ''
        const rows = (body.data ?? []).map(
          (lead) =>
            html`<tr>
              <td>${text(lead.Last_Name)}</td>
              <td>${text(lead.Company)}</td>
              <td>${text(lead.Email)}</td>
            </tr>`,
        )
        leads = html`<table id="leads">
          <thead>
            <tr>
              <th>Last name</th>
              <th>Company</th>
              <th>E-mail</th>
            </tr>
          </thead>
          <tbody>
            ${rows}
          </tbody>
        </table>`
      }
    } catch (err) {
      leads = html`<p class="error">The leads could not be fetched: ${describe(err)}</p>`
    }

    const tokens = await store.getTokens()
    const now = Date.now()
    const csrf = csrfFor(session.id!)
    const rows = tokens.map((token) => {
      const tid = token.id ?? ''
      const expiry = token.expiryTime
      return html`<tr data-token-id="${tid}">
        <td>
          <code>${tid}</code>${tid === session.id ? html` <span class="muted">(you)</span>` : ''}
        </td>
        <td>${token.userSignature?.name ?? '—'}</td>
        <td><code>${maskClientId(token.clientId)}</code></td>
        <td>${secret(token.clientSecret)}</td>
        <td>${secret(token.refreshToken)}</td>
        <td>${secret(token.accessToken)}</td>
        <td>
          ${expiry === undefined ? '—' : html`<span class="countdown" data-expiry="${expiry}">${formatRemaining(expiry - now)}</span><br /><span class="muted">${new Date(expiry).toISOString()}</span>`}
        </td>
        <td class="refreshes">${refreshes.get(tid) ?? 0}</td>
        <td>
          <form class="inline" method="post" action="/tokens/${encodeURIComponent(tid)}/refresh">
            <input type="hidden" name="csrf" value="${csrf}" /><button type="submit">
              Refresh
            </button>
          </form>
          <form class="inline" method="post" action="/tokens/${encodeURIComponent(tid)}/revoke">
            <input type="hidden" name="csrf" value="${csrf}" /><button type="submit" class="danger">
              Revoke
            </button>
          </form>
        </td>
      </tr>`
    })
    return sendPage(
      c,
      200,
      'tokenkeeper portal',
      () =>
        html` <header>
            <h1>tokenkeeper portal</h1>
            <form class="inline" method="post" action="/logout">
              <input type="hidden" name="csrf" value="${csrf}" /><button
                type="submit"
                class="plain"
              >
                Sign out
              </button>
            </form>
          </header>
          ${notice ? html`<p class="notice">${notice}</p>` : ''}
          <p>
            Signed in as <strong id="user">${session.userName ?? '(unknown user)'}</strong>
            <span class="muted">(token <code>${session.id}</code>, ${environment.name})</span>
          </p>
          <h2>Leads</h2>
          <p class="muted">GET /crm/v8/Leads through <code>session.fetch</code></p>
          ${leads}
          <h2>Stored tokens</h2>
          <table id="tokens">
            <thead>
              <tr>
                <th>Id</th>
                <th>User</th>
                <th>Client id</th>
                <th>Client secret</th>
                <th>Refresh token</th>
                <th>Access token</th>
                <th>Expires in</th>
                <th>Refreshes</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>`,
      true,
    )
  })

  app.get('/login', (c) => {
    // The state cookie must come back to the redirect URI's host: start there.
    const here = new URL(c.req.url)
    if (here.origin !== origin && !real) return c.redirect(`${origin}/login`, 302)
    const state = b64url(randomBytes(24))
    const verifier = b64url(randomBytes(32))
    const challenge = b64url(createHash('sha256').update(verifier).digest())
    const payload = `${state}.${verifier}`
    setCookie(c, OAUTH_COOKIE, `${payload}.${mac('oauth', payload)}`, {
      httpOnly: true,
      sameSite: 'Lax',
      secure,
      path: '/',
      maxAge: OAUTH_COOKIE_MAX_AGE,
    })
    const consent = new URL(environment.authorizeUrl)
    consent.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.clientId,
      scope: SCOPE,
      redirect_uri: client.redirectUrl,
      access_type: 'offline',
      prompt: 'consent',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString()
    c.header('cache-control', 'no-store')
    return c.redirect(consent.href, 302)
  })

  app.get('/oauth/callback', async (c) => {
    const cookie = getCookie(c, OAUTH_COOKIE)
    deleteCookie(c, OAUTH_COOKIE, { path: '/' })
    const [state, verifier, tag] = cookie?.split('.') ?? []
    const given = c.req.query('state')
    if (!state || !verifier || !tag || !sameMac(tag, mac('oauth', `${state}.${verifier}`))) {
      return problem(
        c,
        400,
        'Sign-in refused',
        'This sign-in was not started here, or took longer than 10 minutes (no state cookie). Start again from the portal.',
      )
    }
    if (!given || !sameMac(given, state)) {
      return problem(
        c,
        400,
        'Sign-in refused',
        'The state parameter does not match the one this browser was given: the answer may be forged. Start again from the portal.',
      )
    }
    const error = c.req.query('error')
    if (error) {
      return problem(c, 400, 'Sign-in cancelled', `The accounts server answered: ${error}.`)
    }
    const code = c.req.query('code')
    if (!code) return problem(c, 400, 'Sign-in refused', 'The answer has no authorization code.')
    let session: Session
    try {
      session = await Initializer.initialize({
        environment,
        token: new OAuthToken({
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          grantToken: code,
          redirectUrl: client.redirectUrl,
        }),
        store,
        codeVerifier: verifier,
        config: { findUser: true },
      })
    } catch (err) {
      return problem(c, 502, 'Sign-in failed', `The token exchange failed: ${describe(err)}`)
    }
    const id = session.id!
    setCookie(c, SESSION_COOKIE, `${id}.${mac('session', id)}`, {
      httpOnly: true,
      sameSite: 'Lax',
      secure,
      path: '/',
      maxAge: SESSION_MAX_AGE,
    })
    return c.redirect('/', 303)
  })

  /** A POST from the dashboard: signed in, with the page's CSRF token. */
  const authorizePost = async (c: Context): Promise<string | Response> => {
    const id = signedIn(c)
    if (!id) return problem(c, 403, 'Not signed in', 'Sign in first.')
    const form = await c.req.parseBody()
    const csrf = typeof form.csrf === 'string' ? form.csrf : ''
    if (!sameMac(csrf, csrfFor(id))) {
      return problem(c, 403, 'Refused', 'The form is stale or was not sent by this portal.')
    }
    return id
  }

  app.post('/tokens/:id/refresh', async (c) => {
    const me = await authorizePost(c)
    if (typeof me !== 'string') return me
    try {
      // Under this skew every token is due, so initializing the session refreshes it now.
      await sessionFor(c.req.param('id'), { refreshSkewMs: FORCE_REFRESH_SKEW_MS })
    } catch (err) {
      return problem(c, 502, 'Refresh failed', describe(err))
    }
    return c.redirect('/?notice=refreshed', 303)
  })

  app.post('/tokens/:id/revoke', async (c) => {
    const me = await authorizePost(c)
    if (typeof me !== 'string') return me
    const id = c.req.param('id')
    try {
      const session = await sessionFor(id)
      await session.revoke()
    } catch (err) {
      return problem(c, 502, 'Revoke failed', describe(err))
    }
    refreshes.delete(id)
    if (id === me) deleteCookie(c, SESSION_COOKIE, { path: '/' })
    return c.redirect('/?notice=revoked', 303)
  })

  app.post('/logout', async (c) => {
    const me = await authorizePost(c)
    if (typeof me !== 'string') return me
    deleteCookie(c, SESSION_COOKIE, { path: '/' })
    return c.redirect('/?notice=out', 303)
  })

  app.get('/favicon.ico', (c) => c.body(null, 204))
  app.notFound((c) => problem(c, 404, 'Not found', 'There is no such page.'))
  app.onError((err, c) => {
    console.error('portal: request failed:', describe(err))
    return problem(c, 502, 'Something went wrong', describe(err))
  })

  const server = await new Promise<Server>((done, fail) => {
    const s = serve({ fetch: app.fetch, port: options.port ?? 3000, hostname: host }, () =>
      done(s as Server),
    )
    s.once('error', fail)
  })
  const port = (server.address() as AddressInfo).port
  origin = `http://${host}:${port}`
  try {
    if (real) {
      environment = real.environment
      client = real.client
    } else {
      const redirectUrl = `${origin}/oauth/callback`
      if (!accounts) {
        accounts = await startAccountsEmulator({
          clients: [
            {
              clientId: '1000.PORTALDEMO' + randomBytes(11).toString('hex').toUpperCase(),
              clientSecret: randomBytes(20).toString('hex'),
              redirectUris: [redirectUrl],
            },
          ],
          users: [
            { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
            { email: 'grace@zylker.example', fullName: 'Grace Hopper' },
          ],
        })
        ownsAccounts = true
      }
      environment = accounts.environment
      const registered = accounts.clients[0]!
      client = { clientId: registered.clientId, clientSecret: registered.clientSecret, redirectUrl }
    }
    secure = new URL(client.redirectUrl).protocol === 'https:'
  } catch (err) {
    server.close()
    await store.close()
    diagnostics.unsubscribe('tokenkeeper:token.refreshed', onRefreshed)
    throw err
  }
  resolveReady()

  let stopping: Promise<void> | undefined
  return {
    url: origin,
    port,
    environment,
    accounts,
    stop() {
      stopping ??= (async () => {
        diagnostics.unsubscribe('tokenkeeper:token.refreshed', onRefreshed)
        await new Promise<void>((done) => {
          server.close(() => done())
          server.closeAllConnections()
        })
        await store.close()
        if (ownsAccounts) await accounts?.close()
      })()
      return stopping
    },
  }
}
