// Signing in and out: "Login with Zoho" (authorization code flow with state and PKCE, the state
// and verifier in a signed cookie), the callback that starts a sign-in session, the session
// cookie, the CSRF check of every form, and sign-out.
import { createHash, createHmac, randomBytes } from 'node:crypto'
import type { Context, Hono } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import {
  Initializer,
  InvalidTokenError,
  OAuthToken,
  UnknownAccountsServerError,
  type Environment,
  type Session,
} from 'tokenkeeper'
import type { PortalContext } from './context.ts'
import { describeError, problem } from './respond.ts'
import { sameSecret, type PortalSession } from './sessions.ts'
import { callbackEnvironment } from './settings.ts'

/** What the portal asks the user to consent to: the leads, and who they are. */
export const SCOPE = 'ZohoCRM.modules.ALL,ZohoCRM.users.READ'
const SESSION_COOKIE = 'tk_session'
const OAUTH_COOKIE = 'tk_oauth'
const OAUTH_COOKIE_MAX_AGE = 600

const b64url = (bytes: Buffer): string => bytes.toString('base64url')

/** Signs the sign-in's state and PKCE verifier, kept in the browser for ten minutes. */
const mac = (ctx: PortalContext, purpose: string, value: string): string =>
  b64url(createHmac('sha256', ctx.key).update(`${purpose}\0${value}`).digest())

/** The browser's live sign-in session, if any. */
export function signedIn(ctx: PortalContext, c: Context): PortalSession | undefined {
  return ctx.sessions.get(getCookie(c, SESSION_COOKIE))
}

/** Tells the browser to forget its session cookie. */
export function clearSessionCookie(ctx: PortalContext, c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: ctx.link.secure })
}

/** A POST from the portal's pages: a live session, with that session's CSRF token. */
export async function authorizePost(
  ctx: PortalContext,
  c: Context,
): Promise<PortalSession | Response> {
  const me = signedIn(ctx, c)
  if (!me) return problem(c, 403, 'Not signed in', 'Sign in first.')
  const form = await c.req.parseBody()
  const csrf = typeof form.csrf === 'string' ? form.csrf : ''
  if (!sameSecret(csrf, me.csrf)) {
    return problem(c, 403, 'Refused', 'The form is stale or was not sent by this portal.')
  }
  return me
}

/** `GET /login`, `GET /oauth/callback` and `POST /logout`. */
export function addAuthRoutes(app: Hono, ctx: PortalContext): void {
  app.get('/login', (c) => {
    const { environment, client, origin, publicUrl, secure } = ctx.link
    // The state cookie must come back to the redirect URI's host: start there. (Behind a proxy,
    // where the request's own URL is not the public one, the public URL is configured instead.)
    const here = new URL(c.req.url)
    if (publicUrl === origin && here.origin !== origin) return c.redirect(`${origin}/login`, 302)
    const state = b64url(randomBytes(24))
    const verifier = b64url(randomBytes(32))
    const challenge = b64url(createHash('sha256').update(verifier).digest())
    const payload = `${state}.${verifier}`
    setCookie(c, OAUTH_COOKIE, `${payload}.${mac(ctx, 'oauth', payload)}`, {
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
    const { client, secure } = ctx.link
    const cookie = getCookie(c, OAUTH_COOKIE)
    deleteCookie(c, OAUTH_COOKIE, { path: '/', secure })
    const [state, verifier, tag] = cookie?.split('.') ?? []
    const given = c.req.query('state')
    if (
      !state ||
      !verifier ||
      !tag ||
      !sameSecret(tag, mac(ctx, 'oauth', `${state}.${verifier}`))
    ) {
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
    // The code is exchanged at the user's data center, which the callback names; a server that
    // is not a known accounts server never receives the client secret.
    let environment: Environment
    try {
      environment = callbackEnvironment(ctx.link, new URL(c.req.url).searchParams)
    } catch (err) {
      if (!(err instanceof UnknownAccountsServerError)) throw err
      const named = err.accountsServer === undefined ? '' : ` (${err.accountsServer})`
      return problem(
        c,
        400,
        'Sign-in refused',
        `The answer names an accounts server or a location this portal does not accept${named}, or an accounts server that disagrees with its location. The code was not exchanged and the client secret was not sent. Start again from the portal.`,
      )
    }
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
        store: ctx.store,
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
      return problem(c, 502, 'Sign-in failed', `The token exchange failed: ${describeError(err)}`)
    }
    // A new session at every sign-in; whatever this browser had before ends.
    ctx.sessions.end(getCookie(c, SESSION_COOKIE))
    const id = ctx.sessions.start(session.id!, session.userName)
    setCookie(c, SESSION_COOKIE, id, {
      httpOnly: true,
      sameSite: 'Lax',
      secure,
      path: '/',
      maxAge: Math.floor(ctx.ttlMs / 1000),
    })
    return c.redirect('/', 303)
  })

  app.post('/logout', async (c) => {
    const me = await authorizePost(ctx, c)
    if (me instanceof Response) return me
    ctx.sessions.end(getCookie(c, SESSION_COOKIE))
    clearSessionCookie(ctx, c)
    return c.redirect('/?notice=out', 303)
  })
}
