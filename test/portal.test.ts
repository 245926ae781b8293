// The demo portal over plain HTTP: fetch with a hand-kept cookie jar and redirect: 'manual', so
// every hop of the sign-in (portal, consent page, callback) is seen and checked.
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuthToken } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { startAccountsEmulator, type AccountsEmulator } from 'tokenkeeper/testing'
import { SECRET_FILE, startPortal, type Portal } from '../examples/portal/app.ts'
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
  return new URL(approve.location!)
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
    refreshes: Number(/<td class="refreshes">\s*(\d+)\s*<\/td>/.exec(row)![1]),
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
    portal = await startPortal({ port: 0, cwd, accounts })
    store = new SQLiteStore({ path: join(cwd, 'zohooauth.db') })
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

  it('signs in through the consent page: the dashboard shows the user, the leads and the masked tokens', async () => {
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
    // Every stored token is listed, masked.
    for (const token of [adaToken, graceToken]) {
      expect(home.body).toContain(`<tr data-token-id="${token.id}">`)
      expect(home.body).toContain(token.userSignature!.name)
    }
    expect(home.body).toContain('[redacted]')
    expect(home.body).toContain('1000.PORT…0000')
    expect(home.body).not.toContain('1000.PORTALTEST00000000000000000000')
    const row = tokenRow(home.body, adaToken.id!)
    expect(row.refreshes).toBe(0)
    expect(row.expiry).toBe(adaToken.expiryTime)
    expect(home.body).toMatch(/<script nonce="[\w-]+">[\s\S]*setInterval\(tick, 1000\)/)

    // The session cookie is the token id with an HMAC: changing either signs out.
    const cookie = ada.cookies.get('tk_session')!
    expect(cookie.startsWith(`${adaToken.id}.`)).toBe(true)
    const tampered = new Jar()
    tampered.cookies.set('tk_session', `${graceToken.id}.${cookie.split('.')[1]}`)
    expect((await request(tampered, `${portal.url}/`)).body).toContain('Login with Zoho')

    // Signing in again as the same user updates the same row.
    await signIn(portal, new Jar(), 'ada@zylker.example')
    expect((await rowOf('ada@zylker.example')).id).toBe(adaToken.id)
    expect(await store.getTokens()).toHaveLength(2)
  })

  it('Refresh refreshes that token now: the count goes up and the expiry changes', async () => {
    const before = await rowOf('grace@zylker.example')
    const home = await request(ada, `${portal.url}/`)
    const row = tokenRow(home.body, before.id!)
    await new Promise((done) => setTimeout(done, 20))

    const refreshesBefore = accounts.counts.refresh
    const posted = await request(ada, `${portal.url}/tokens/${before.id}/refresh`, {
      form: { csrf: row.csrf },
    })
    expect(posted.status).toBe(303)
    expect(posted.location).toBe('/?notice=refreshed')
    expect(accounts.counts.refresh).toBe(refreshesBefore + 1)

    const after = await rowOf('grace@zylker.example')
    expect(after.accessToken).not.toBe(before.accessToken)
    expect(after.expiryTime).toBeGreaterThan(before.expiryTime!)
    const again = await request(ada, `${portal.url}/?notice=refreshed`)
    expect(again.body).toContain('Token refreshed.')
    const updated = tokenRow(again.body, before.id!)
    expect(updated.refreshes).toBe(1)
    expect(updated.expiry).toBe(after.expiryTime)
    expect(updated.expiry).not.toBe(row.expiry)

    // Without the page's CSRF token, or signed out, nothing happens.
    const forged = await request(ada, `${portal.url}/tokens/${before.id}/refresh`, {
      form: { csrf: 'forged' },
    })
    expect(forged.status).toBe(403)
    const anonymous = await request(new Jar(), `${portal.url}/tokens/${before.id}/refresh`, {
      form: { csrf: row.csrf },
    })
    expect(anonymous.status).toBe(403)
    expect(accounts.counts.refresh).toBe(refreshesBefore + 1)
  })

  it('keeps the user signed in across a restart of the portal', async () => {
    await portal.stop()
    portal = await startPortal({ port: 0, cwd, accounts })
    const home = await request(ada, `${portal.url}/`)
    expect(home.status).toBe(200)
    expect(home.body).toContain('Signed in as <strong id="user">ada@zylker.example</strong>')
    expect(home.body).toContain('Noether')
    const mode = statSync(join(cwd, SECRET_FILE)).mode & 0o777
    expect(mode).toBe(0o600)
  })

  it('Revoke revokes the token at the accounts server and removes its row', async () => {
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

    // Revoking one's own token signs out.
    expect(ada.cookies.has('tk_session')).toBe(false)
    const after = await request(ada, `${portal.url}${posted.location}`)
    expect(after.body).toContain('Token revoked.')
    expect(after.body).toContain('Login with Zoho')
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
    expect(pages.length).toBeGreaterThan(20)
    expect(secrets.size).toBeGreaterThan(6)
    for (const body of pages) {
      for (const value of secrets) expect(body).not.toContain(value)
    }
  })
})
