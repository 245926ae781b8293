// The demo portal against another visitor, over plain HTTP: a used authorization code, a cookie
// kept past sign-out, forms aimed at another user's token, a token id given to another user's
// row, and session cookies that name nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import type { Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { consent, Jar, request, signIn, startWithEmulator, stopAll } from './helpers.ts'

describe('the demo portal against another visitor', () => {
  const cwd = scratchDir('tokenkeeper-portal-attack-')
  let accounts: AccountsEmulator
  let portal: Portal
  let store: SQLiteStore

  beforeAll(async () => {
    ;({ accounts, portal, store } = await startWithEmulator(cwd, {
      users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
      clients: [{ clientId: '1000.PORTALATTACK000000000000000000', clientSecret: 'attack-secret' }],
      accessTokenLimit: false,
    }))
  })
  afterAll(() => stopAll({ portal, store, accounts }))

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
