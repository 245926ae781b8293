// The demo portal signed in, over plain HTTP: the dashboard (the user, the leads, their own
// token masked; every token, read-only, for an admin), Refresh and Revoke on one's own token, a
// restart, and no secret on any page. The tests run in order on one portal and its emulator.
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuthToken } from 'tokenkeeper'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import { SECRET_FILE, startPortal, type Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { codes, Jar, pages, request, signIn, startDemo, stopAll, tokenRow } from './helpers.ts'

describe('the demo portal: dashboard and token actions', () => {
  const cwd = scratchDir('tokenkeeper-portal-')
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
    ;({ accounts, portal, store } = await startDemo(cwd, clientSecret))
  })
  afterAll(() => stopAll({ portal, store, accounts }))

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
