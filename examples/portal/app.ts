// The demo portal: "Login with Zoho" (authorization code flow with state and PKCE), the signed-in
// user's leads fetched through a tokenkeeper session, and the user's own token with Refresh and
// Revoke (admins also see every stored token, read-only). Tokens live in SQLite (portal.db in
// the working directory); sign-in sessions live in memory. Without configuration it runs the
// accounts emulator beside it; with ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REDIRECT_URL and
// ZOHO_DC it talks to real Zoho. See docs/web-login.md.
//
// This file assembles the app and starts and stops it; signing in is in auth.ts, the dashboard
// and the token actions in routes.ts, the pages in views.ts.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import type { Environment } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import { startKeptEmulator } from './accounts.ts'
import { addAuthRoutes } from './auth.ts'
import type { AccountsLink, PortalContext } from './context.ts'
import { describeError, problem } from './respond.ts'
import { addTokenRoutes, countRefreshes } from './routes.ts'
import { PortalSessions } from './sessions.ts'
import { adminNames, loadKey, publicOrigin, zohoSettings } from './settings.ts'

export { SCOPE } from './auth.ts'
export { SECRET_FILE } from './settings.ts'
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
  const refreshes = new Map<string, number>()
  const stopCounting = countRefreshes(refreshes)

  // Known once the server listens (the emulator's redirect URI needs the port); no request is
  // handled before.
  let link: AccountsLink | undefined
  const context: PortalContext = {
    store,
    sessions: new PortalSessions({ ttlMs, max: MAX_SESSIONS, now }),
    key,
    ttlMs,
    admins,
    refreshes,
    get link() {
      if (!link) throw new Error('the portal is not ready yet')
      return link
    },
  }
  let resolveReady!: () => void
  const ready = new Promise<void>((done) => (resolveReady = done))

  const app = new Hono()
  app.use('*', async (_c, next) => {
    await ready
    await next()
  })
  addTokenRoutes(app, context)
  addAuthRoutes(app, context)
  app.get('/favicon.ico', (c) => c.body(null, 204))
  app.notFound((c) => problem(c, 404, 'Not found', 'There is no such page.'))
  app.onError((err, c) => {
    console.error('portal: request failed:', describeError(err))
    return problem(c, 502, 'Something went wrong', describeError(err))
  })

  // From here on, a failed start (its port taken, an emulator that cannot start) releases what
  // it holds before it throws: the store, the refresh counting and the emulator it started. The
  // portal may run inside another process, which lives on after the error.
  let server: Server | undefined
  let accounts: AccountsEmulator | undefined = options.accounts
  let ownsAccounts = false
  try {
    server = await new Promise<Server>((done, fail) => {
      const s = serve({ fetch: app.fetch, port: options.port ?? 3000, hostname: host }, () =>
        done(s as Server),
      )
      s.once('error', fail)
    })
    const origin = `http://${host}:${(server.address() as AddressInfo).port}`
    let environment: Environment
    let client: AccountsLink['client']
    let publicUrl: string
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
    const secure = new URL(publicUrl).protocol === 'https:'
    link = { environment, client, origin, publicUrl, secure, accounts }
  } catch (err) {
    stopCounting()
    server?.close()
    await store.close()
    if (ownsAccounts) await accounts?.close()
    throw err
  }
  resolveReady()

  let stopping: Promise<void> | undefined
  // A const: stop() runs later, where a `let` is no longer known to be set.
  const listening = server
  return {
    url: link.origin,
    publicUrl: link.publicUrl,
    port: (listening.address() as AddressInfo).port,
    environment: link.environment,
    accounts,
    stop() {
      stopping ??= (async () => {
        stopCounting()
        await new Promise<void>((done) => {
          listening.close(() => done())
          listening.closeAllConnections()
        })
        await store.close()
        if (ownsAccounts) await accounts?.close()
      })()
      return stopping
    },
  }
}
