// Signing in to the demo portal over plain HTTP: the Login with Zoho button and the consent
// request it leads to (state and PKCE), a forged or unstarted callback, a denied consent, and the
// look the portal shares with the emulator's pages.
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { EMULATOR_ICON, EMULATOR_PAGE_STYLE, type AccountsEmulator } from 'tokenkeeper/testing'
import type { Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { codes, consent, hiddenFields, Jar, pages, request, startDemo, stopAll } from './helpers.ts'

describe('the demo portal: sign-in', () => {
  const cwd = scratchDir('tokenkeeper-portal-sign-in-')
  const clientSecret = `portal-test-secret-${randomBytes(8).toString('hex')}`
  let accounts: AccountsEmulator
  let portal: Portal
  let store: SQLiteStore

  beforeAll(async () => {
    ;({ accounts, portal, store } = await startDemo(cwd, clientSecret))
  })
  afterAll(async () => {
    // No page of these sign-ins shows a secret: the client's, a stored token's, or a code (the
    // dashboard tests check their own pages in "escapes what it renders and shows no secret").
    const secrets = new Set([clientSecret, ...codes])
    for (const token of (await store?.getTokens()) ?? []) {
      for (const value of [token.clientSecret, token.refreshToken, token.accessToken]) {
        if (value) secrets.add(value)
      }
    }
    try {
      expect(codes.size).toBeGreaterThan(0)
      for (const body of pages) {
        for (const value of secrets) expect(body).not.toContain(value)
      }
    } finally {
      await stopAll({ portal, store, accounts })
    }
  })

  it('shows a Login with Zoho button to a visitor, leading to the consent page with state and PKCE', async () => {
    const jar = new Jar()
    const home = await request(jar, `${portal.url}/`)
    expect(home.status).toBe(200)
    expect(home.body).toContain('Login with Zoho')
    expect(home.response.headers.get('content-security-policy')).toContain("default-src 'none'")

    const login = await request(jar, `${portal.url}/login`)
    expect(login.status).toBe(302)
    const url = new URL(login.location!)
    expect(url.origin + url.pathname).toBe(`${accounts.url}/oauth/v2/auth`)
    const q = url.searchParams
    expect(q.get('response_type')).toBe('code')
    expect(q.get('client_id')).toBe('1000.PORTALTEST00000000000000000000')
    expect(q.get('scope')).toBe('ZohoCRM.modules.ALL,ZohoCRM.users.READ')
    expect(q.get('redirect_uri')).toBe(`${portal.url}/oauth/callback`)
    expect(q.get('access_type')).toBe('offline')
    expect(q.get('prompt')).toBe('consent')
    expect(q.get('state')).toMatch(/^[\w-]{32}$/)
    expect(q.get('code_challenge')).toMatch(/^[\w-]{43}$/)
    expect(q.get('code_challenge_method')).toBe('S256')
    const setCookie = login.response.headers.getSetCookie().join('\n')
    expect(setCookie).toMatch(/tk_oauth=[^;]+;.*HttpOnly/)
    expect(setCookie).toMatch(/SameSite=Lax/)
    expect(setCookie).not.toMatch(/Secure/) // plain http here: see the https test below
    // The state is not in the cookie in the clear alone: it is signed with the verifier.
    expect(jar.cookies.get('tk_oauth')!.split('.')).toHaveLength(3)
  })

  it('refuses a callback with a wrong state, or without the state cookie', async () => {
    const jar = new Jar()
    const callback = await consent(portal, jar, 'ada@zylker.example')
    const forged = new URL(callback)
    forged.searchParams.set('state', 'forged-state-value')
    const wrong = await request(jar, forged.href)
    expect(wrong.status).toBe(400)
    expect(wrong.body).toContain('Sign-in refused')
    expect(wrong.body).toContain('state parameter does not match')
    expect(jar.cookies.has('tk_session')).toBe(false)

    // The right code and state, but from a browser that never started this sign-in.
    const stranger = new Jar()
    const missing = await request(stranger, callback.href)
    expect(missing.status).toBe(400)
    expect(missing.body).toContain('no state cookie')
    expect(stranger.cookies.has('tk_session')).toBe(false)
    expect(await store.getTokens()).toHaveLength(0)
  })

  it('refuses a denied consent with a clear page', async () => {
    const jar = new Jar()
    const login = await request(jar, `${portal.url}/login`)
    const page = await request(jar, login.location!)
    const deny = await request(jar, new URL('/oauth/v2/auth/approve', login.location!).href, {
      form: { ...hiddenFields(page.body), user: 'ada@zylker.example', decision: 'deny' },
    })
    const back = await request(jar, deny.location!)
    expect(back.status).toBe(400)
    expect(back.body).toContain('access_denied')
  })

  it('speaks one visual language with the emulator: same font and colours, and a favicon on every page', async () => {
    const jar = new Jar()
    const home = await request(jar, `${portal.url}/`)
    const login = await request(jar, `${portal.url}/login`)
    const consentPage = await request(jar, login.location!)
    expect(consentPage.status).toBe(200)
    const invalid = await request(jar, `${accounts.url}/oauth/v2/auth?client_id=nobody`)
    expect(invalid.status).toBe(400)
    const notFound = await request(jar, `${portal.url}/no-such-page`)
    expect(notFound.status).toBe(404)

    /** The body rule's font and text colour, and the link buttons share. */
    const look = (
      body: string,
    ): { font: string | undefined; color: string | undefined; button: string | undefined } => {
      const rule = /(?:^|[\s}])body\s*\{([^}]*)\}/.exec(body)?.[1] ?? ''
      const buttonRule = /(?:^|[\s,}])button\s*(?:,[^{]*)?\{([^}]*)\}/.exec(body)?.[1] ?? ''
      return {
        font: /(?:^|;)\s*font:\s*([^;]+)/.exec(rule)?.[1]?.trim(),
        color: /(?:^|;)\s*color:\s*([^;]+)/.exec(rule)?.[1]?.trim(),
        button: /background:\s*([^;]+)/.exec(buttonRule)?.[1]?.trim(),
      }
    }
    const portalLook = look(home.body)
    expect(portalLook.font).toContain('system-ui')
    expect(portalLook.color).toMatch(/^#[0-9a-f]{3,6}$/i)
    expect(portalLook.button).toMatch(/^#[0-9a-f]{3,6}$/i)
    for (const other of [consentPage, invalid, notFound])
      expect(look(other.body)).toEqual(portalLook)

    // An inline SVG icon, allowed by the portal's CSP, so the browser asks for no /favicon.ico.
    const icon = (body: string): string | undefined =>
      /<link rel="icon" [^>]*href="(data:image\/svg\+xml,[^"]+)"/.exec(body)?.[1]
    for (const each of [home, consentPage, invalid, notFound]) {
      expect(icon(each.body)).toMatch(/^data:image\/svg\+xml,.*%3Csvg/)
    }
    expect(icon(home.body)).toBe(icon(consentPage.body))
    // One source for both: the look and icon that tokenkeeper/testing exports.
    for (const each of [home, consentPage, invalid, notFound]) {
      expect(each.body).toContain(EMULATOR_PAGE_STYLE)
      expect(icon(each.body)).toBe(EMULATOR_ICON)
    }
    expect(home.response.headers.get('content-security-policy')).toMatch(/img-src data:[;\s]/)
  })
})
