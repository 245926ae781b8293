// The demo portal over plain HTTP: fetch with a hand-kept cookie jar and redirect: 'manual', so
// every hop of the sign-in (portal, consent page, callback) is seen and checked.
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuthToken } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { startAccountsEmulator, type AccountsEmulator } from 'tokenkeeper/testing'
import { SECRET_FILE, startPortal, type Portal } from '../examples/portal/app.ts'
import { EMULATOR_FILE } from '../examples/portal/accounts.ts'
import { PortalSessions } from '../examples/portal/sessions.ts'
import { scratchDir } from './helpers.ts'

/** Cookies by name, as a browser on 127.0.0.1 would keep them (ports do not matter). */
class Jar {
  readonly cookies = new Map<string, string>()
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
}

/** Every page body seen, to check at the end that no secret was ever shown. */
const pages: string[] = []
/** Every authorization code the consent page gave; none is stored now, but none may be shown. */
const codes = new Set<string>()

async function request(
  jar: Jar,
  url: string,
  init: { method?: string; form?: Record<string, string> } = {},
): Promise<{ status: number; location: string | null; body: string; response: Response }> {
  const headers: Record<string, string> = {}
  if (jar.cookies.size > 0) headers.cookie = jar.header()
  const response = await fetch(url, {
    method: init.method ?? (init.form ? 'POST' : 'GET'),
    headers,
    redirect: 'manual',
    ...(init.form ? { body: new URLSearchParams(init.form) } : {}),
  })
  jar.take(response)
  const body = await response.text()
  pages.push(body)
  return { status: response.status, location: response.headers.get('location'), body, response }
}

function hiddenFields(body: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const match of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[match[1]!] = match[2]!.replaceAll('&amp;', '&').replaceAll('&quot;', '"')
  }
  return fields
}

/** The portal's /login, then the emulator's consent page, then its approve form. */
async function consent(portal: Portal, jar: Jar, user: string): Promise<URL> {
  const login = await request(jar, `${portal.url}/login`)
  expect(login.status).toBe(302)
  const consentUrl = new URL(login.location!)
  const page = await request(jar, consentUrl.href)
  expect(page.status).toBe(200)
  const approve = await request(jar, new URL('/oauth/v2/auth/approve', consentUrl).href, {
    form: { ...hiddenFields(page.body), user, decision: 'accept' },
  })
  expect(approve.status).toBe(302)
  const callback = new URL(approve.location!)
  const code = callback.searchParams.get('code')
  if (code) codes.add(code)
  return callback
}

async function signIn(portal: Portal, jar: Jar, user: string): Promise<void> {
  const callback = await consent(portal, jar, user)
  const done = await request(jar, callback.href)
  expect(done.status).toBe(303)
  expect(done.location).toBe('/')
  expect(jar.cookies.has('tk_session')).toBe(true)
}

/** One token's row of the dashboard. */
function tokenRow(body: string, id: string): { refreshes: number; expiry: number; csrf: string } {
  const row = new RegExp(`<tr data-token-id="${id}">([\\s\\S]*?)</tr>`).exec(body)?.[1]
  if (!row) throw new Error(`no dashboard row for token ${id}`)
  return {
    refreshes: Number(/<td class="refreshes"[^>]*>\s*(\d+)\s*<\/td>/.exec(row)![1]),
    expiry: Number(/data-expiry="(\d+)"/.exec(row)![1]),
    csrf: /name="csrf" value="([^"]+)"/.exec(row)![1]!,
  }
}

describe('the demo portal', () => {
  const cwd = scratchDir('tokenkeeper-portal-')
  const users = [
    { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
    { email: 'grace@zylker.example', fullName: 'Grace Hopper' },
  ]
  const clientSecret = `portal-test-secret-${randomBytes(8).toString('hex')}`
  let accounts: AccountsEmulator
  let portal: Portal
  let store: SQLiteStore
  const ada = new Jar()
  const grace = new Jar()
  /** Every secret the store held at some point. */
  const secrets = new Set<string>([clientSecret])

  const remember = async (): Promise<OAuthToken[]> => {
    const tokens = await store.getTokens()
    for (const token of tokens) {
      for (const value of [
        token.clientSecret,
        token.refreshToken,
        token.accessToken,
        token.grantToken,
      ]) {
        if (value) secrets.add(value)
      }
    }
    return tokens
  }
  const rowOf = async (user: string): Promise<OAuthToken> => {
    const token = (await remember()).find((t) => t.userSignature?.name === user)
    if (!token) throw new Error(`no stored token for ${user}`)
    return token
  }

  beforeAll(async () => {
    // The test's own emulator, so that it outlives a portal restart (its tokens live in memory).
    accounts = await startAccountsEmulator({
      users,
      clients: [{ clientId: '1000.PORTALTEST00000000000000000000', clientSecret }],
      accessTokenLimit: false,
    })
    portal = await startPortal({ port: 0, cwd, accounts, admins: ['Grace@zylker.example'] })
    store = new SQLiteStore({ path: join(cwd, 'portal.db') })
  })
  afterAll(async () => {
    await portal?.stop()
    await store?.close()
    await accounts?.close()
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
    expect(home.response.headers.get('content-security-policy')).toMatch(/img-src data:[;\s]/)
  })

  it('signs in through the consent page: the dashboard shows the user, the leads and their own token, masked', async () => {
    const exchangesBefore = accounts.counts.exchange
    await signIn(portal, ada, 'ada@zylker.example')
    expect(accounts.counts.exchange).toBe(exchangesBefore + 1)
    await signIn(portal, grace, 'grace@zylker.example')

    const home = await request(ada, `${portal.url}/`)
    expect(home.status).toBe(200)
    expect(home.body).toContain('Signed in as <strong id="user">ada@zylker.example</strong>')
    for (const lead of ['Hopper', 'Turing', 'Noether', 'emmy@erlangen.example']) {
      expect(home.body).toContain(lead)
    }
    const adaToken = await rowOf('ada@zylker.example')
    const graceToken = await rowOf('grace@zylker.example')
    expect(adaToken.refreshToken).toBeDefined()
    expect(graceToken.id).not.toBe(adaToken.id)
    // The code came from a browser: it was exchanged, and is not kept in the row.
    expect(adaToken.grantToken).toBeUndefined()
    // Ada sees her own token, masked, with its actions; nobody else's.
    expect(home.body).toContain(`<tr data-token-id="${adaToken.id}">`)
    expect(home.body).not.toContain(`data-token-id="${graceToken.id}"`)
    const own = /<table id="tokens"[^>]*>([\s\S]*?)<\/table>/.exec(home.body)![1]!
    expect(own).toContain('<td data-label="User">ada@zylker.example</td>')
    expect(own).not.toContain('grace@zylker.example')
    expect(home.body).not.toContain('id="all-tokens"')
    expect(home.body).toContain('[redacted]')
    expect(home.body).toContain('1000.PORT…0000')
    expect(home.body).not.toContain('1000.PORTALTEST00000000000000000000')
    const row = tokenRow(home.body, adaToken.id!)
    expect(row.refreshes).toBe(0)
    expect(row.expiry).toBe(adaToken.expiryTime)
    expect(home.body).toMatch(/<script nonce="[\w-]+">[\s\S]*setInterval\(tick, 1000\)/)

    // The session cookie is a random id kept by the server: a made-up or altered one is nobody.
    const cookie = ada.cookies.get('tk_session')!
    // The altered cookie changes its last character to one it is not (a fixed 'A' equals the
    // real cookie one time in 64).
    const altered = `${cookie.slice(0, -1)}${cookie.endsWith('A') ? 'B' : 'A'}`
    for (const forged of [`${graceToken.id}`, altered, `${adaToken.id}.x`]) {
      const tampered = new Jar()
      tampered.cookies.set('tk_session', forged)
      expect((await request(tampered, `${portal.url}/`)).body).toContain('Login with Zoho')
    }

    // Signing in again as the same user updates the same row, found by the user's name.
    await signIn(portal, new Jar(), 'ada@zylker.example')
    expect((await rowOf('ada@zylker.example')).id).toBe(adaToken.id)
    expect(await store.getTokens()).toHaveLength(2)
  })

  it('an admin also sees every stored token, read-only', async () => {
    const home = await request(grace, `${portal.url}/`)
    const all = /<table id="all-tokens"[^>]*>([\s\S]*?)<\/table>/.exec(home.body)?.[1]
    expect(all).toBeDefined()
    for (const user of ['ada@zylker.example', 'grace@zylker.example']) {
      const token = await rowOf(user)
      expect(all).toContain(`<tr data-token-id="${token.id}">`)
      expect(all).toContain(user)
    }
    // No form, no button, no CSRF token in the admin view: it cannot act on anyone's token.
    expect(all).not.toMatch(/<form|<button|csrf/)
    // Her own token's actions are in her own table, and only there.
    const own = /<table id="tokens"[^>]*>([\s\S]*?)<\/table>/.exec(home.body)![1]!
    expect(own.match(/<form/g)).toHaveLength(2)
    expect(own).not.toContain('ada@zylker.example')
  })

  it('Refresh refreshes the user’s own token now: the count goes up and the expiry changes', async () => {
    const before = await rowOf('grace@zylker.example')
    const home = await request(grace, `${portal.url}/`)
    const row = tokenRow(home.body, before.id!)
    await new Promise((done) => setTimeout(done, 20))

    const refreshesBefore = accounts.counts.refresh
    const posted = await request(grace, `${portal.url}/tokens/${before.id}/refresh`, {
      form: { csrf: row.csrf },
    })
    expect(posted.status).toBe(303)
    expect(posted.location).toBe('/?notice=refreshed')
    expect(accounts.counts.refresh).toBe(refreshesBefore + 1)

    const after = await rowOf('grace@zylker.example')
    expect(after.accessToken).not.toBe(before.accessToken)
    expect(after.expiryTime).toBeGreaterThan(before.expiryTime!)
    const again = await request(grace, `${portal.url}/?notice=refreshed`)
    expect(again.body).toContain('Token refreshed.')
    const updated = tokenRow(again.body, before.id!)
    expect(updated.refreshes).toBe(1)
    expect(updated.expiry).toBe(after.expiryTime)
    expect(updated.expiry).not.toBe(row.expiry)

    // Without the session's CSRF token, with another session's, or signed out, nothing happens.
    const adaCsrf = /name="csrf" value="([^"]+)"/.exec(
      (await request(ada, `${portal.url}/`)).body,
    )![1]!
    for (const csrf of ['forged', adaCsrf]) {
      const forged = await request(grace, `${portal.url}/tokens/${before.id}/refresh`, {
        form: { csrf },
      })
      expect(forged.status).toBe(403)
    }
    const anonymous = await request(new Jar(), `${portal.url}/tokens/${before.id}/refresh`, {
      form: { csrf: row.csrf },
    })
    expect(anonymous.status).toBe(403)
    expect(accounts.counts.refresh).toBe(refreshesBefore + 1)
  })

  it('a restart ends every sign-in, keeps the tokens, and signing in again finds the same row', async () => {
    const adaId = (await rowOf('ada@zylker.example')).id
    const oldCookie = ada.cookies.get('tk_session')!
    await portal.stop()
    portal = await startPortal({ port: 0, cwd, accounts, admins: ['grace@zylker.example'] })
    // Sessions live in the portal's memory: the old cookie is nobody now.
    expect(ada.cookies.get('tk_session')).toBe(oldCookie)
    expect((await request(ada, `${portal.url}/`)).body).toContain('Login with Zoho')
    expect(await store.getTokens()).toHaveLength(2)

    const exchanges = accounts.counts.exchange
    await signIn(portal, ada, 'ada@zylker.example')
    await signIn(portal, grace, 'grace@zylker.example')
    expect(accounts.counts.exchange).toBe(exchanges + 2)
    const home = await request(ada, `${portal.url}/`)
    expect(home.status).toBe(200)
    expect(home.body).toContain('Signed in as <strong id="user">ada@zylker.example</strong>')
    expect(home.body).toContain('Noether')
    expect((await rowOf('ada@zylker.example')).id).toBe(adaId)
    // The key that signs the sign-in's state cookie is kept, readable by its owner only.
    const mode = statSync(join(cwd, SECRET_FILE)).mode & 0o777
    expect(mode).toBe(0o600)
  })

  it('Revoke revokes the user’s own token at the accounts server, removes its row and signs out', async () => {
    // Ada signed in from a second browser too: revoking signs both out.
    const laptop = new Jar()
    await signIn(portal, laptop, 'ada@zylker.example')
    const token = await rowOf('ada@zylker.example')
    const home = await request(ada, `${portal.url}/`)
    const { csrf } = tokenRow(home.body, token.id!)
    expect(accounts.isValid(token.refreshToken!)).toBe(true)
    const revokesBefore = accounts.counts.revoke

    const posted = await request(ada, `${portal.url}/tokens/${token.id}/revoke`, {
      form: { csrf },
    })
    expect(posted.status).toBe(303)
    expect(accounts.counts.revoke).toBe(revokesBefore + 1)
    expect(await store.findTokenById(token.id!)).toBeNull()
    expect(accounts.isValid(token.refreshToken!)).toBe(false)
    expect(accounts.isValid(token.accessToken!)).toBe(false)
    const leads = await fetch(`${accounts.url}/crm/v8/Leads`, {
      headers: { authorization: `Zoho-oauthtoken ${token.accessToken}` },
    })
    expect(leads.status).toBe(401)

    // Revoking one's own token signs out, in every browser.
    expect(ada.cookies.has('tk_session')).toBe(false)
    const after = await request(ada, `${portal.url}${posted.location}`)
    expect(after.body).toContain('Token revoked.')
    expect(after.body).toContain('Login with Zoho')
    expect((await request(laptop, `${portal.url}/`)).body).toContain('Login with Zoho')
    // Grace is still signed in, and her row is the only one left.
    const graceHome = await request(grace, `${portal.url}/`)
    expect(graceHome.body).toContain('grace@zylker.example</strong>')
    expect(graceHome.body).not.toContain(`data-token-id="${token.id}"`)
    expect(await store.getTokens()).toHaveLength(1)
  })

  it('escapes what it renders and shows no secret in any page', async () => {
    // A row with markup in every field it shows.
    const hostile = new OAuthToken({
      clientId: '<script>alert(1)</script>',
      clientSecret: 'hostile-secret-<b>',
      refreshToken: 'hostile-refresh-"x"',
    })
    await store.saveToken(hostile)
    const home = await request(grace, `${portal.url}/`)
    expect(home.body).not.toContain('<script>alert(1)')
    expect(home.body).toContain('&lt;script&gt;')
    await store.deleteToken(hostile.id!)
    secrets.add('hostile-secret-<b>').add('hostile-refresh-"x"')

    await remember()
    for (const code of codes) secrets.add(code)
    expect(pages.length).toBeGreaterThan(20)
    expect(secrets.size).toBeGreaterThan(6)
    expect(codes.size).toBeGreaterThan(3)
    for (const body of pages) {
      for (const value of secrets) expect(body).not.toContain(value)
    }
  })
})

describe('the demo portal against another visitor', () => {
  const cwd = scratchDir('tokenkeeper-portal-attack-')
  let accounts: AccountsEmulator
  let portal: Portal
  let store: SQLiteStore

  beforeAll(async () => {
    accounts = await startAccountsEmulator({
      users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
      clients: [{ clientId: '1000.PORTALATTACK000000000000000000', clientSecret: 'attack-secret' }],
      accessTokenLimit: false,
    })
    portal = await startPortal({ port: 0, cwd, accounts })
    store = new SQLiteStore({ path: join(cwd, 'portal.db') })
  })
  afterAll(async () => {
    await portal?.stop()
    await store?.close()
    await accounts?.close()
  })

  const csrfOf = (body: string): string => {
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1]
    if (!csrf) throw new Error('no CSRF field on the page')
    return csrf
  }
  const rows = async () =>
    (await store.getTokens()).map((t) => ({
      id: t.id,
      user: t.userSignature?.name,
      refreshToken: t.refreshToken,
      accessToken: t.accessToken,
    }))

  it("a used authorization code signs nobody in, even with the attacker's own valid state", async () => {
    const ada = new Jar()
    const callback = await consent(portal, ada, 'ada@zylker.example')
    expect((await request(ada, callback.href)).status).toBe(303)
    const code = callback.searchParams.get('code')!
    const before = await rows()
    expect(before.map((r) => r.user)).toEqual(['ada@zylker.example'])

    // A fresh browser starts its own sign-in, so its state cookie and state parameter match,
    // and then comes back with Ada's earlier code (from her history, a log, a Referer).
    const attacker = new Jar()
    const login = await request(attacker, `${portal.url}/login`)
    const state = new URL(login.location!).searchParams.get('state')!
    const forged = new URL(`${portal.url}/oauth/callback`)
    forged.search = new URLSearchParams({ code, state }).toString()
    const answer = await request(attacker, forged.href)
    expect(answer.status).toBe(400)
    expect(answer.body).toContain('Sign-in failed')
    expect(attacker.cookies.has('tk_session')).toBe(false)
    const home = await request(attacker, `${portal.url}/`)
    expect(home.body).toContain('Login with Zoho')
    expect(home.body).not.toContain('ada@zylker.example')
    expect(await rows()).toEqual(before)
  })

  it('sign-out ends the session: the old cookie no longer works', async () => {
    const grace = new Jar()
    await signIn(portal, grace, 'grace@zylker.example')
    const cookie = grace.cookies.get('tk_session')!
    const home = await request(grace, `${portal.url}/`)
    expect(home.body).toContain('grace@zylker.example</strong>')
    const out = await request(grace, `${portal.url}/logout`, { form: { csrf: csrfOf(home.body) } })
    expect(out.status).toBe(303)
    expect(grace.cookies.has('tk_session')).toBe(false)

    // The cookie as it was before sign-out (kept by a thief, or by a shared computer).
    const replayed = new Jar()
    replayed.cookies.set('tk_session', cookie)
    const after = await request(replayed, `${portal.url}/`)
    expect(after.body).toContain('Login with Zoho')
    expect(after.body).not.toContain('grace@zylker.example')
    // Nor can it act: a form needs a live session.
    const row = (await store.getTokens()).find(
      (t) => t.userSignature?.name === 'grace@zylker.example',
    )!
    const refreshes = accounts.counts.refresh
    const posted = await request(replayed, `${portal.url}/tokens/${row.id}/refresh`, {
      form: { csrf: csrfOf(home.body) },
    })
    expect(posted.status).toBe(403)
    expect(accounts.counts.refresh).toBe(refreshes)
  })

  it("a signed-in user cannot refresh or revoke another user's token (403)", async () => {
    const ada = new Jar()
    const grace = new Jar()
    await signIn(portal, ada, 'ada@zylker.example')
    await signIn(portal, grace, 'grace@zylker.example')
    const adaRow = (await store.getTokens()).find(
      (t) => t.userSignature?.name === 'ada@zylker.example',
    )!
    const csrf = csrfOf((await request(grace, `${portal.url}/`)).body)
    const before = await rows()
    const { refresh, revoke } = accounts.counts

    for (const action of ['refresh', 'revoke']) {
      const posted = await request(grace, `${portal.url}/tokens/${adaRow.id}/${action}`, {
        form: { csrf },
      })
      expect(posted.status).toBe(403)
      expect(posted.body).toContain('your own token')
    }
    expect(accounts.counts.refresh).toBe(refresh)
    expect(accounts.counts.revoke).toBe(revoke)
    expect(await rows()).toEqual(before)
    expect(accounts.isValid(adaRow.refreshToken!)).toBe(true)
    // Ada is still signed in.
    expect((await request(ada, `${portal.url}/`)).body).toContain('ada@zylker.example</strong>')
  })

  it("a session does not follow its token id to another user's row", async () => {
    const ada = new Jar()
    await signIn(portal, ada, 'ada@zylker.example')
    const home = await request(ada, `${portal.url}/`)
    const adaRow = (await store.getTokens()).find(
      (t) => t.userSignature?.name === 'ada@zylker.example',
    )!
    // Ada's row is deleted outside the portal (the CLI), and its id is given to Grace's token.
    await store.deleteToken(adaRow.id!)
    const graceRow = (await store.getTokens()).find(
      (t) => t.userSignature?.name === 'grace@zylker.example',
    )!
    await store.deleteToken(graceRow.id!)
    const moved = graceRow.clone()
    moved.id = adaRow.id
    await store.saveToken(moved)
    const before = await rows()
    const refreshes = accounts.counts.refresh

    const posted = await request(ada, `${portal.url}/tokens/${adaRow.id}/refresh`, {
      form: { csrf: csrfOf(home.body) },
    })
    expect(posted.status).toBe(403)
    expect(accounts.counts.refresh).toBe(refreshes)
    const after = await request(ada, `${portal.url}/`)
    expect(after.body).toContain('Login with Zoho')
    expect(after.body).not.toContain('grace@zylker.example')
    expect(await rows()).toEqual(before)
  })

  it('session cookies are random ids that name no token, new at every sign-in', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 3; i += 1) {
      const jar = new Jar()
      await signIn(portal, jar, 'ada@zylker.example')
      seen.add(jar.cookies.get('tk_session')!)
    }
    expect(seen.size).toBe(3)
    const ids = (await store.getTokens()).map((t) => t.id!)
    for (const cookie of seen) {
      // 32 random bytes, base64url: 256 bits. One user's token, three different cookies: nothing
      // in them is derived from its id (a short numbered id may occur in random text by chance).
      expect(cookie).toMatch(/^[\w-]{43}$/)
      expect(Buffer.from(cookie, 'base64url')).toHaveLength(32)
      for (const id of ids) expect(cookie).not.toBe(id)
    }
  })
})

describe('the demo portal reached over https (behind a proxy)', () => {
  const cwd = scratchDir('tokenkeeper-portal-https-')
  const clock = { now: Date.now() }
  let accounts: AccountsEmulator
  let portal: Portal

  beforeAll(async () => {
    accounts = await startAccountsEmulator({
      users: [{ email: 'ada@zylker.example' }],
      clients: [{ clientId: '1000.PORTALHTTPS0000000000000000000', clientSecret: 'https-secret' }],
    })
    portal = await startPortal({
      port: 0,
      cwd,
      accounts,
      env: { PORTAL_PUBLIC_URL: 'https://portal.example/' },
      sessionTtlMs: 3_600_000,
      now: () => clock.now,
    })
  })
  afterAll(async () => {
    await portal?.stop()
    await accounts?.close()
  })

  /** The consent's answer goes to the public URL; the proxy would pass it here. */
  const viaProxy = (url: URL): string => `${portal.url}${url.pathname}${url.search}`

  it('marks its cookies Secure, HttpOnly and SameSite=Lax, and sends the consent back to the public URL', async () => {
    expect(portal.publicUrl).toBe('https://portal.example')
    const jar = new Jar()
    const login = await request(jar, `${portal.url}/login`)
    expect(login.status).toBe(302)
    expect(new URL(login.location!).searchParams.get('redirect_uri')).toBe(
      'https://portal.example/oauth/callback',
    )
    const oauthCookie = login.response.headers.getSetCookie().join('\n')
    expect(oauthCookie).toMatch(/^tk_oauth=.*; HttpOnly; Secure; SameSite=Lax$/m)

    const page = await request(jar, login.location!)
    const approve = await request(jar, new URL('/oauth/v2/auth/approve', login.location!).href, {
      form: { ...hiddenFields(page.body), user: 'ada@zylker.example', decision: 'accept' },
    })
    const callback = new URL(approve.location!)
    expect(callback.origin).toBe('https://portal.example')
    const done = await request(jar, viaProxy(callback))
    expect(done.status).toBe(303)
    const sessionCookie = done.response.headers
      .getSetCookie()
      .find((line) => line.startsWith('tk_session='))!
    expect(sessionCookie).toMatch(/; Max-Age=3600; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
    expect((await request(jar, `${portal.url}/`)).body).toContain('ada@zylker.example</strong>')
  })

  it('ends a session when it expires: the cookie stops working on the server, whatever the browser keeps', async () => {
    const jar = new Jar()
    const login = await request(jar, `${portal.url}/login`)
    const page = await request(jar, login.location!)
    const approve = await request(jar, new URL('/oauth/v2/auth/approve', login.location!).href, {
      form: { ...hiddenFields(page.body), user: 'ada@zylker.example', decision: 'accept' },
    })
    await request(jar, viaProxy(new URL(approve.location!)))
    clock.now += 3_600_000 - 1000
    expect((await request(jar, `${portal.url}/`)).body).toContain('ada@zylker.example</strong>')
    clock.now += 1000
    const home = await request(jar, `${portal.url}/`)
    expect(home.body).toContain('Login with Zoho')
    expect(home.body).not.toContain('ada@zylker.example</strong>')
  })

  it('refuses a public URL it cannot use, or one that disagrees with ZOHO_REDIRECT_URL', async () => {
    await expect(
      startPortal({ port: 0, cwd, accounts, publicUrl: 'portal.example' }),
    ).rejects.toThrow(/PORTAL_PUBLIC_URL must be a URL/)
    await expect(
      startPortal({ port: 0, cwd, accounts, publicUrl: 'ftp://portal.example' }),
    ).rejects.toThrow(/http or https/)
    for (const publicUrl of ['https://portal.example/sub', 'https://me:pw@portal.example']) {
      const refused = startPortal({ port: 0, cwd, accounts, publicUrl })
      await expect(refused).rejects.toThrow(/origin only/)
      await expect(refused).rejects.not.toThrow(/pw/)
    }
    await expect(
      startPortal({
        port: 0,
        cwd,
        env: {
          ZOHO_CLIENT_ID: '1000.X',
          ZOHO_CLIENT_SECRET: 'x',
          ZOHO_REDIRECT_URL: 'https://portal.example/oauth/callback',
          ZOHO_DC: 'US',
          PORTAL_PUBLIC_URL: 'https://elsewhere.example',
        },
      }),
    ).rejects.toThrow(/same origin/)
  })
})

describe('PortalSessions', () => {
  it('keeps sessions until they end, expire, or are pushed out by the newest', () => {
    const clock = { now: 1_000_000 }
    const sessions = new PortalSessions({ ttlMs: 1000, max: 3, now: () => clock.now })
    const a = sessions.start('t1', 'ada')
    const b = sessions.start('t1', 'ada')
    const c = sessions.start('t2', 'grace')
    expect(sessions.get(a)).toMatchObject({ tokenId: 't1', userName: 'ada' })
    expect(sessions.get(a)!.csrf).not.toBe(sessions.get(b)!.csrf)
    for (const bad of [undefined, '', 'x', a.toUpperCase(), `${a}x`, 'a'.repeat(10_000)]) {
      expect(sessions.get(bad)).toBeUndefined()
    }
    // A fourth pushes out the oldest.
    const d = sessions.start('t3', 'alan')
    expect(sessions.size).toBe(3)
    expect(sessions.get(a)).toBeUndefined()
    expect(sessions.get(b)).toBeDefined()
    // Revoking a token ends every session on it; sign-out ends one.
    expect(sessions.endAllOf('t1')).toBe(1)
    expect(sessions.get(b)).toBeUndefined()
    sessions.end(c)
    expect(sessions.get(c)).toBeUndefined()
    // Expiry: valid up to the last millisecond, then gone.
    clock.now += 999
    expect(sessions.get(d)).toBeDefined()
    clock.now += 1
    expect(sessions.get(d)).toBeUndefined()
    expect(sessions.size).toBe(0)
  })
})

describe("the demo portal's own accounts emulator across restarts", () => {
  const cwd = scratchDir('tokenkeeper-portal-restart-')

  it('comes back on the same port with the same client, so stored rows and sign-ins stay valid', async () => {
    const clientOf = async (portal: Portal): Promise<string | null> => {
      const login = await request(new Jar(), `${portal.url}/login`)
      return new URL(login.location!).searchParams.get('client_id')
    }
    const first = await startPortal({ port: 0, cwd, env: {} })
    const accountsUrl = first.environment.accountsUrl
    const clientId = await clientOf(first)
    expect(clientId).toMatch(/^1000\.PORTALDEMO[0-9A-F]{22}$/)
    await first.stop()

    const second = await startPortal({ port: 0, cwd, env: {} })
    try {
      expect(second.environment.accountsUrl).toBe(accountsUrl)
      expect(await clientOf(second)).toBe(clientId)
      // Signing in works against the restarted emulator with the kept client and secret.
      const jar = new Jar()
      const callback = await consent(second, jar, 'ada@zylker.example')
      const done = await request(jar, callback.href)
      expect(done.status).toBe(303)
      expect((await request(jar, `${second.url}/`)).body).toContain('ada@zylker.example')
    } finally {
      await second.stop()
    }
    // The kept client secret is readable by its owner only.
    expect(statSync(join(cwd, EMULATOR_FILE)).mode & 0o777).toBe(0o600)
  })

  it('moves to a new port, kept from then on, when its port is taken; the client stays', async () => {
    const dir = scratchDir('tokenkeeper-portal-taken-')
    const first = await startPortal({ port: 0, cwd: dir, env: {} })
    const port = Number(new URL(first.environment.accountsUrl).port)
    const kept = JSON.parse(readFileSync(join(dir, EMULATOR_FILE), 'utf8')) as {
      port: number
      clientId: string
    }
    expect(kept.port).toBe(port)
    await first.stop()

    const squatter = createServer()
    await new Promise<void>((done) => squatter.listen(port, '127.0.0.1', done))
    try {
      const second = await startPortal({ port: 0, cwd: dir, env: {} })
      const moved = Number(new URL(second.environment.accountsUrl).port)
      await second.stop()
      expect(moved).not.toBe(port)
      const now = JSON.parse(readFileSync(join(dir, EMULATOR_FILE), 'utf8')) as typeof kept
      expect(now).toEqual({ ...kept, port: moved })
    } finally {
      await new Promise((done) => squatter.close(done))
    }
  })
})
