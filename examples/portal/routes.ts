// What a signed-in user sees and does: the dashboard (their leads through a tokenkeeper session,
// their own token, and for admins every stored token) and the token actions, Refresh and Revoke,
// allowed on the user's own token only.
import diagnostics from 'node:diagnostics_channel'
import type { Context, Hono } from 'hono'
import { Initializer, OAuthToken, SDKException, type Session } from 'tokenkeeper'
import { authorizePost, clearSessionCookie, signedIn } from './auth.ts'
import type { PortalContext } from './context.ts'
import { html, type SafeHtml } from './html.ts'
import { describeError, problem, sendPage } from './respond.ts'
import type { PortalSession } from './sessions.ts'
import { tokenEnvironment } from './settings.ts'
import { dashboardBody, leadsTable, tokenTable, welcomeBody, type TokenRowView } from './views.ts'

const REFRESHED = 'tokenkeeper:token.refreshed'

/** Counts refreshes per token id from tokenkeeper's diagnostics events; gives how to stop. */
export function countRefreshes(refreshes: Map<string, number>): () => void {
  const onRefreshed = (message: unknown): void => {
    const id = (message as { id?: unknown }).id
    if (typeof id === 'string') refreshes.set(id, (refreshes.get(id) ?? 0) + 1)
  }
  diagnostics.subscribe(REFRESHED, onRefreshed)
  return () => diagnostics.unsubscribe(REFRESHED, onRefreshed)
}

/** A session on a stored token, at the accounts server that issued it (its data center). */
const sessionFor = async (ctx: PortalContext, id: string): Promise<Session> =>
  Initializer.initialize({
    environment: tokenEnvironment(ctx.link, await ctx.store.findTokenById(id)),
    token: new OAuthToken({ id }),
    store: ctx.store,
  })

/**
 * Whether the session's token row still holds the user who signed in. A row deleted outside
 * the portal (the CLI) frees its id, which a later sign-in of someone else may get again.
 */
const holdsSignedInUser = (me: PortalSession, token: OAuthToken | null): boolean =>
  token !== null && token.userSignature?.name === me.userName

/** A POST that acts on a token: allowed on the signed-in user's own token only. */
async function authorizeTokenAction(
  ctx: PortalContext,
  c: Context,
): Promise<PortalSession | Response> {
  const me = await authorizePost(ctx, c)
  if (me instanceof Response) return me
  if (c.req.param('id') !== me.tokenId) {
    return problem(c, 403, 'Refused', 'You can only refresh or revoke your own token.')
  }
  if (!holdsSignedInUser(me, await ctx.store.findTokenById(me.tokenId))) {
    ctx.sessions.endAllOf(me.tokenId)
    clearSessionCookie(ctx, c)
    return problem(c, 403, 'Refused', 'Your token is no longer stored; sign in again.')
  }
  return me
}

/** The sample API's leads, fetched through the session: refreshed first if about to expire. */
async function fetchLeads(session: Session): Promise<SafeHtml> {
  try {
    const response = await session.fetch('/crm/v8/Leads')
    if (response.status === 204) return html`<p class="muted">No leads.</p>`
    if (!response.ok) {
      await response.body?.cancel()
      return html`<p class="error">The API answered HTTP ${response.status}.</p>`
    }
    const body = (await response.json()) as { data?: Record<string, unknown>[] }
    return leadsTable(body.data ?? [])
  } catch (err) {
    return html`<p class="error">The leads could not be fetched: ${describeError(err)}</p>`
  }
}

/** `GET /` and `POST /tokens/:id/refresh`, `POST /tokens/:id/revoke`. */
export function addTokenRoutes(app: Hono, ctx: PortalContext): void {
  const { store, sessions, refreshes } = ctx

  app.get('/', async (c) => {
    const { environment } = ctx.link
    const notice = { refreshed: 'Token refreshed.', revoked: 'Token revoked.', out: 'Signed out.' }[
      c.req.query('notice') ?? ''
    ]
    const me = signedIn(ctx, c)
    let session: Session | undefined
    let gone = false
    if (me) {
      try {
        session = await sessionFor(ctx, me.tokenId)
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
                <p class="error">${describeError(err)}</p>
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
      if (gone) clearSessionCookie(ctx, c)
      return sendPage(c, 200, 'tokenkeeper portal', () =>
        welcomeBody({ notice, gone, accountsUrl: environment.accountsUrl }),
      )
    }

    const leads = await fetchLeads(session)
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
    const isAdmin = session.userName !== undefined && ctx.admins.has(session.userName.toLowerCase())
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
          environmentName: session.environment.name,
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

  app.post('/tokens/:id/refresh', async (c) => {
    const me = await authorizeTokenAction(ctx, c)
    if (me instanceof Response) return me
    try {
      const before = (await store.findTokenById(me.tokenId))?.accessToken
      const session = await sessionFor(ctx, me.tokenId)
      // Loading refreshed a token that was due; one still valid is refreshed now, by force.
      if (session.token.accessToken === before) await session.refresh({ force: true })
    } catch (err) {
      return problem(c, 502, 'Refresh failed', describeError(err))
    }
    return c.redirect('/?notice=refreshed', 303)
  })

  app.post('/tokens/:id/revoke', async (c) => {
    const me = await authorizeTokenAction(ctx, c)
    if (me instanceof Response) return me
    try {
      const session = await sessionFor(ctx, me.tokenId)
      await session.revoke()
    } catch (err) {
      return problem(c, 502, 'Revoke failed', describeError(err))
    }
    refreshes.delete(me.tokenId)
    // The token is gone: every browser signed in with it is signed out.
    sessions.endAllOf(me.tokenId)
    clearSessionCookie(ctx, c)
    return c.redirect('/?notice=revoked', 303)
  })
}
