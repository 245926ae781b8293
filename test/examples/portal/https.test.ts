// The demo portal behind a TLS-terminating proxy: Secure cookies, the consent answered to the
// public URL, sessions that expire on the server, and the public URLs it refuses at start-up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import { startPortal, type Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { hiddenFields, Jar, request, startWithEmulator, stopAll } from './helpers.ts'

describe('the demo portal reached over https (behind a proxy)', () => {
  const cwd = scratchDir('tokenkeeper-portal-https-')
  const clock = { now: Date.now() }
  let accounts: AccountsEmulator
  let portal: Portal
  let store: SQLiteStore

  beforeAll(async () => {
    ;({ accounts, portal, store } = await startWithEmulator(
      cwd,
      {
        users: [{ email: 'ada@zylker.example' }],
        clients: [
          { clientId: '1000.PORTALHTTPS0000000000000000000', clientSecret: 'https-secret' },
        ],
      },
      {
        env: { PORTAL_PUBLIC_URL: 'https://portal.example/' },
        sessionTtlMs: 3_600_000,
        now: () => clock.now,
      },
    ))
  })
  afterAll(() => stopAll({ portal, store, accounts }))

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
