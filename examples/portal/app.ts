// The demo portal: "Login with Zoho" (authorization code flow with state and PKCE), the signed-in
// user's leads fetched through a tokenkeeper session, and the user's own token with Refresh and
// Revoke (admins also see every stored token, read-only). Tokens live in SQLite (portal.db in
// the working directory); sign-in sessions live in memory. Without configuration it runs the
// accounts emulator beside it; with ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REDIRECT_URL and
// ZOHO_DC it talks to real Zoho. See docs/web-login.md.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { serve } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { Environment } from 'tokenkeeper'
import { Initializer, InvalidTokenError, OAuthToken, SDKException, type Session } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import { startKeptEmulator } from './accounts.ts'
import { PortalSessions, sameSecret, type PortalSession } from './sessions.ts'
import { adminNames, loadKey, publicOrigin, zohoSettings, type Client } from './settings.ts'
import {
  dashboardBody,
  html,
  leadsTable,
  page,
  tokenTable,
  welcomeBody,
  type SafeHtml,
  type TokenRowView,
} from './views.ts'

/** What the portal asks the user to consent to: the leads, and who they are. */
export const SCOPE = 'ZohoCRM.modules.ALL,ZohoCRM.users.READ'
export { SECRET_FILE } from './settings.ts'
const SESSION_COOKIE = 'tk_session'
const OAUTH_COOKIE = 'tk_oauth'
const OAUTH_COOKIE_MAX_AGE = 600
/** How long a sign-in lasts by default: a working day. */
const SESSION_TTL_MS = 12 * 3600 * 1000
/** The most sign-in sessions kept in memory; beyond it the oldest is ended. */
const MAX_SESSIONS = 10_000

/** How {@link startPortal} runs; everything has a default, so `npm start` needs no configuration. */
export interface PortalOptions {
  /** Default 3000 (`PORT` is read by main.ts); 0 picks a free port. */
  port?: number
  /** Default 127.0.0.1. */
  host?: string
  /** Where portal.db and the cookie key live; default the process's working directory. */
  cwd?: string
  /** Where ZOHO_* and PORTAL_* settings are read from; default process.env. */
  env?: Record<string, string | undefined>
  /** Use this running emulator instead of starting one (it is not closed by stop()). */
  accounts?: AccountsEmulator
  /**
   * The URL browsers use, when it is not where the portal listens (behind a reverse proxy), for
   * example `https://portal.example.com`; default `PORTAL_PUBLIC_URL`. With real Zoho it must
   * agree with `ZOHO_REDIRECT_URL`. Cookies are `Secure` when it is https.
   */
  publicUrl?: string
  /** User names (e-mails) who also see every stored token, read-only; default `PORTAL_ADMINS` (comma-separated). */
  admins?: readonly string[]
  /** How long a sign-in lasts (ms); default 12 hours. */
  sessionTtlMs?: number
  /** The clock of sign-in sessions, epoch ms; default `Date.now`. */
  now?: () => number
}

/** A running portal, from {@link startPortal}. */
export interface Portal {
  /** Where it listens, for example http://127.0.0.1:3000 */
  readonly url: string
  /** The URL browsers use: {@link PortalOptions.publicUrl}, the redirect URL's origin, or {@link url}. */
  readonly publicUrl: string
  readonly port: number
  /** The accounts server the portal signs in with. */
  readonly environment: Environment
  /** The emulator, when the portal talks to one. */
  readonly accounts: AccountsEmulator | undefined
  /** Closes the server, the store and the emulator it started. */
  stop(): Promise<void>
}

const b64url = (bytes: Buffer): string => bytes.toString('base64url')

/**
 * Starts the portal: listens, then (without ZOHO_* settings) starts the accounts emulator whose
 * redirect URI needs the port.
 */
export async function startPortal(options: PortalOptions = {}): Promise<Portal> {
  const cwd = resolve(options.cwd ?? process.cwd())
  const host = options.host ?? '127.0.0.1'
  const env = options.env ?? process.env
  const real = options.accounts ? undefined : zohoSettings(env)
  const configuredOrigin = publicOrigin(options.publicUrl ?? env.PORTAL_PUBLIC_URL)
  if (real && configuredOrigin && configuredOrigin !== new URL(real.client.redirectUrl).origin) {
    throw new Error(
      `PORTAL_PUBLIC_URL (${configuredOrigin}) and ZOHO_REDIRECT_URL must have the same origin`,
    )
  }
  const admins = adminNames(options.admins ?? env.PORTAL_ADMINS)
  const now = options.now ?? (() => Date.now())
  const ttlMs = options.sessionTtlMs ?? SESSION_TTL_MS
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) {
    throw new Error(`sessionTtlMs must be at least 1000 ms, got ${ttlMs}`)
  }
  const key = loadKey(cwd)
  const store = new SQLiteStore({ path: join(cwd, 'portal.db') })
  const sessions = new PortalSessions({ ttlMs, max: MAX_SESSIONS, now })

  /** Signs the sign-in's state and PKCE verifier, kept in the browser for ten minutes. */
  const mac = (purpose: string, value: string): string =>
    b64url(createHmac('sha256', key).update(`${purpose}\0${value}`).digest())

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
  /** Where the portal listens. */
  let origin = ''
  /** Where browsers reach it. */
  let publicUrl = ''
  let resolveReady!: () => void
  const ready = new Promise<void>((done) => (resolveReady = done))

  const sessionFor = (id: string): Promise<Session> =>
    Initializer.initialize({ environment, token: new OAuthToken({ id }), store })

  /** The browser's live sign-in session, if any. */
  const signedIn = (c: Context): PortalSession | undefined =>
    sessions.get(getCookie(c, SESSION_COOKIE))
  const clearSessionCookie = (c: Context): void => {
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure })
  }
  /**
   * Whether the session's token row still holds the user who signed in. A row deleted outside
   * the portal (the CLI) frees its id, which a later sign-in of someone else may get again.
   */
  const holdsSignedInUser = (me: PortalSession, token: OAuthToken | null): boolean =>
    token !== null && token.userSignature?.name === me.userName
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
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
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
    const me = signedIn(c)
    let session: Session | undefined
    let gone = false
    if (me) {
      try {
        session = await sessionFor(me.tokenId)
        if (!holdsSignedInUser(me, session.token)) {
          session = undefined
          gone = true
          sessions.endAllOf(me.tokenId)
        }
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
                  <input type="hidden" name="csrf" value="${me.csrf}" /><button type="submit">
                    Sign out
                  </button>
                </form>`,
          )
        }
        // The row was deleted elsewhere (the CLI, another portal): no session acts on it.
        sessions.endAllOf(me.tokenId)
        gone = true
      }
    }
    if (!me || !session) {
      if (gone) clearSessionCookie(c)
      return sendPage(c, 200, 'tokenkeeper portal', () =>
        welcomeBody({ notice, gone, accountsUrl: environment.accountsUrl }),
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
        leads = leadsTable(body.data ?? [])
      }
    } catch (err) {
      leads = html`<p class="error">The leads could not be fetched: ${describe(err)}</p>`
    }

    const view = (token: OAuthToken): TokenRowView => ({
      id: token.id ?? '',
      userName: token.userSignature?.name,
      clientId: token.clientId,
      clientSecret: token.clientSecret,
      refreshToken: token.refreshToken,
      accessToken: token.accessToken,
      expiryTime: token.expiryTime,
      refreshes: refreshes.get(token.id ?? '') ?? 0,
    })
    const shown = { now: Date.now(), you: me.tokenId }
    // Admins see every token, read-only: actions stay with each token's own user.
    const isAdmin = session.userName !== undefined && admins.has(session.userName.toLowerCase())
    const everyone = isAdmin ? (await store.getTokens()).map(view) : undefined
    return sendPage(
      c,
      200,
      'tokenkeeper portal',
      () =>
        dashboardBody({
          notice,
          csrf: me.csrf,
          userName: session.userName,
          tokenId: session.id ?? '',
          environmentName: environment.name,
          leads,
          own: tokenTable('tokens', [view(session.token)], {
            ...shown,
            actions: { csrf: me.csrf },
          }),
          everyone: everyone && tokenTable('all-tokens', everyone, shown),
        }),
      true,
    )
  })

  app.get('/login', (c) => {
    // The state cookie must come back to the redirect URI's host: start there. (Behind a proxy,
    // where the request's own URL is not the public one, the public URL is configured instead.)
    const here = new URL(c.req.url)
    if (publicUrl === origin && here.origin !== origin) return c.redirect(`${origin}/login`, 302)
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
    deleteCookie(c, OAUTH_COOKIE, { path: '/', secure })
    const [state, verifier, tag] = cookie?.split('.') ?? []
    const given = c.req.query('state')
    if (!state || !verifier || !tag || !sameSecret(tag, mac('oauth', `${state}.${verifier}`))) {
      return problem(
        c,
        400,
        'Sign-in refused',
        'This sign-in was not started here, or took longer than 10 minutes (no state cookie). Start again from the portal.',
      )
    }
    if (!given || !sameSecret(given, state)) {
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
        // The code comes from a browser: always exchange it, so that a code seen in a URL, a
        // history or a log (already used) signs nobody in; the row is found by the user's name.
        exchange: 'always',
        config: { findUser: true },
      })
    } catch (err) {
      if (err instanceof InvalidTokenError) {
        return problem(
          c,
          400,
          'Sign-in failed',
          `The accounts server refused the authorization code (${err.serverError}): it was already used, has expired, or belongs to another sign-in. Start again from the portal.`,
        )
      }
      return problem(c, 502, 'Sign-in failed', `The token exchange failed: ${describe(err)}`)
    }
    // A new session at every sign-in; whatever this browser had before ends.
    sessions.end(getCookie(c, SESSION_COOKIE))
    const id = sessions.start(session.id!, session.userName)
    setCookie(c, SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: 'Lax',
      secure,
      path: '/',
      maxAge: Math.floor(ttlMs / 1000),
    })
    return c.redirect('/', 303)
  })

  /** A POST from the portal's pages: a live session, with that session's CSRF token. */
  const authorizePost = async (c: Context): Promise<PortalSession | Response> => {
    const me = signedIn(c)
    if (!me) return problem(c, 403, 'Not signed in', 'Sign in first.')
    const form = await c.req.parseBody()
    const csrf = typeof form.csrf === 'string' ? form.csrf : ''
    if (!sameSecret(csrf, me.csrf)) {
      return problem(c, 403, 'Refused', 'The form is stale or was not sent by this portal.')
    }
    return me
  }

  /** A POST that acts on a token: allowed on the signed-in user's own token only. */
  const authorizeTokenAction = async (c: Context): Promise<PortalSession | Response> => {
    const me = await authorizePost(c)
    if (me instanceof Response) return me
    if (c.req.param('id') !== me.tokenId) {
      return problem(c, 403, 'Refused', 'You can only refresh or revoke your own token.')
    }
    if (!holdsSignedInUser(me, await store.findTokenById(me.tokenId))) {
      sessions.endAllOf(me.tokenId)
      clearSessionCookie(c)
      return problem(c, 403, 'Refused', 'Your token is no longer stored; sign in again.')
    }
    return me
  }

  app.post('/tokens/:id/refresh', async (c) => {
    const me = await authorizeTokenAction(c)
    if (me instanceof Response) return me
    try {
      const before = (await store.findTokenById(me.tokenId))?.accessToken
      const session = await sessionFor(me.tokenId)
      // Loading refreshed a token that was due; one still valid is refreshed now, by force.
      if (session.token.accessToken === before) await session.refresh({ force: true })
    } catch (err) {
      return problem(c, 502, 'Refresh failed', describe(err))
    }
    return c.redirect('/?notice=refreshed', 303)
  })

  app.post('/tokens/:id/revoke', async (c) => {
    const me = await authorizeTokenAction(c)
    if (me instanceof Response) return me
    try {
      const session = await sessionFor(me.tokenId)
      await session.revoke()
    } catch (err) {
      return problem(c, 502, 'Revoke failed', describe(err))
    }
    refreshes.delete(me.tokenId)
    // The token is gone: every browser signed in with it is signed out.
    sessions.endAllOf(me.tokenId)
    clearSessionCookie(c)
    return c.redirect('/?notice=revoked', 303)
  })

  app.post('/logout', async (c) => {
    const me = await authorizePost(c)
    if (me instanceof Response) return me
    sessions.end(getCookie(c, SESSION_COOKIE))
    clearSessionCookie(c)
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
      publicUrl = new URL(client.redirectUrl).origin
    } else {
      publicUrl = configuredOrigin ?? origin
      const redirectUrl = `${publicUrl}/oauth/callback`
      if (!accounts) {
        accounts = await startKeptEmulator(cwd, redirectUrl)
        ownsAccounts = true
      }
      environment = accounts.environment
      const registered = accounts.clients[0]!
      client = { clientId: registered.clientId, clientSecret: registered.clientSecret, redirectUrl }
    }
    // Secure whenever browsers reach the portal over https. The portal never reads
    // X-Forwarded-Proto: any client that reaches its port directly could send one.
    secure = new URL(publicUrl).protocol === 'https:'
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
    publicUrl,
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
