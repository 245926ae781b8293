// The demo portal and Zoho's multi-data-center sign-in, against an emulator serving two data
// centers: a user of the other one (EU) is sent back with location=eu and the EU listener's
// accounts-server, and the portal exchanges the code there, refreshes and revokes there; a
// callback naming an accounts server the portal does not know is refused before the client
// secret goes anywhere (a local server that records every request receives none); nor does a
// callback with a location alone reach Zoho: the portal on the emulator accepts only the
// emulator's data centers.
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator, EmulatorDataCenter } from 'tokenkeeper/testing'
import type { Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import {
  codes,
  consent,
  Jar,
  pages,
  request,
  signIn,
  startWithEmulator,
  stopAll,
  tokenRow,
} from './helpers.ts'

const LISE = 'lise@zylker.example'

/**
 * Lise's consent, its callback's location and accounts-server replaced by `forged`, followed:
 * the answer, and the browser's cookies after it.
 */
async function followForged(
  portal: Portal,
  forged: Record<string, string>,
): Promise<{ answer: Awaited<ReturnType<typeof request>>; jar: Jar }> {
  const jar = new Jar()
  const callback = await consent(portal, jar, LISE)
  callback.searchParams.delete('location')
  callback.searchParams.delete('accounts-server')
  for (const [name, value] of Object.entries(forged)) callback.searchParams.set(name, value)
  return { answer: await request(jar, callback.href), jar }
}
const ADA = 'ada@zylker.example'

/**
 * Runs `run` with a fetch that reaches this machine only: a request for any other host (Zoho's)
 * is recorded in `remote` and refused before anything is sent. The portal runs in this process,
 * and the library calls the global fetch, so this sees every request the sign-in makes.
 */
async function loopbackOnly(remote: string[], run: () => Promise<void>): Promise<void> {
  const real = globalThis.fetch
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    if (url.hostname === '127.0.0.1') return real(input, init)
    remote.push(url.origin)
    return Promise.reject(new TypeError(`this test sends nothing off this machine (${url.origin})`))
  }
  try {
    await run()
  } finally {
    globalThis.fetch = real
  }
}

describe('the demo portal: a user of another data center', () => {
  const cwd = scratchDir('tokenkeeper-portal-dc-')
  const clientSecret = `portal-test-secret-${randomBytes(8).toString('hex')}`
  let accounts: AccountsEmulator
  let eu: EmulatorDataCenter
  let portal: Portal
  let store: SQLiteStore
  /** A server that is no accounts server: it records every request, and answers nothing useful. */
  let recorder: Server
  let recorderUrl: string
  const recorded: string[] = []

  beforeAll(async () => {
    ;({ accounts, portal, store } = await startWithEmulator(cwd, {
      users: [
        { email: ADA, fullName: 'Ada Lovelace' },
        { email: LISE, fullName: 'Lise Meitner', dataCenter: 'eu' },
      ],
      dataCenters: ['eu'],
      clients: [{ clientId: '1000.PORTALDCTEST000000000000000000', clientSecret }],
      accessTokenLimit: false,
    }))
    eu = accounts.dataCenter('eu')
    // Only the method and path are kept: a body would hold the client secret.
    recorder = createServer((req, res) => {
      recorded.push(`${req.method} ${req.url}`)
      req.resume()
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'))
    })
    await new Promise<void>((done) => recorder.listen(0, '127.0.0.1', done))
    recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    // No page showed a secret: the client's, a code, or a stored token's.
    const secrets = new Set([clientSecret, ...codes])
    for (const token of (await store?.getTokens()) ?? []) {
      for (const value of [token.refreshToken, token.accessToken]) if (value) secrets.add(value)
    }
    try {
      for (const body of pages) for (const value of secrets) expect(body).not.toContain(value)
    } finally {
      await new Promise((done) => recorder?.close(done))
      await stopAll({ portal, store, accounts })
    }
  })

  it('exchanges the code at the data center the callback names, and the dashboard works there', async () => {
    accounts.resetCounts()
    eu.resetCounts()
    const jar = new Jar()
    const callback = await consent(portal, jar, LISE)
    expect(callback.searchParams.get('location')).toBe('eu')
    expect(callback.searchParams.get('accounts-server')).toBe(eu.url)
    const done = await request(jar, callback.href)
    expect(done.status).toBe(303)
    expect(jar.cookies.has('tk_session')).toBe(true)
    // Counted at the EU data center's listener; the main one saw no exchange.
    expect(eu.counts.exchange).toBe(1)
    expect(eu.counts.exchangesByClient).toEqual({ '1000.PORTALDCTEST000000000000000000': 1 })
    expect(accounts.counts.exchange).toBe(0)
    const [token] = await store.getTokens()
    expect(token?.userSignature?.name).toBe(LISE)
    expect(token?.apiDomain).toBe(eu.url)

    const home = await request(jar, `${portal.url}/`)
    expect(home.status).toBe(200)
    expect(home.body).toContain(`Signed in as <strong id="user">${LISE}</strong>`)
    expect(home.body).toContain('emulator-eu')
    // The leads came from the EU data center's API, with its access token.
    expect(home.body).toContain('emmy@erlangen.example')
    expect(eu.counts.api).toBe(1)
    expect(accounts.counts.api).toBe(0)

    // Refresh goes to the EU data center, and only there.
    const row = tokenRow(home.body, token!.id!)
    const refreshed = await request(jar, `${portal.url}/tokens/${token!.id}/refresh`, {
      form: { csrf: row.csrf },
    })
    expect(refreshed.status).toBe(303)
    expect(refreshed.location).toBe('/?notice=refreshed')
    expect(eu.counts.refresh).toBe(1)
    expect(eu.counts.refusals).toEqual({})
    expect(accounts.counts.refresh).toBe(0)
    expect((await store.findTokenById(token!.id!))?.accessToken).not.toBe(token!.accessToken)

    // So does Revoke: the refresh token is dead at its data center.
    const revoked = await request(jar, `${portal.url}/tokens/${token!.id}/revoke`, {
      form: { csrf: row.csrf },
    })
    expect(revoked.status).toBe(303)
    expect(revoked.location).toBe('/?notice=revoked')
    expect(eu.counts.revoke).toBe(1)
    expect(accounts.counts.revoke).toBe(0)
    expect(accounts.isValid(token!.refreshToken!)).toBe(false)
  })

  it('signs a user of the main data center in at the main one, beside', async () => {
    accounts.resetCounts()
    eu.resetCounts()
    await signIn(portal, new Jar(), ADA)
    expect(accounts.counts.exchange).toBe(1)
    expect(eu.counts.exchange).toBe(0)
  })

  it('refuses a callback naming an unknown accounts server: the client secret is never sent', async () => {
    accounts.resetCounts()
    eu.resetCounts()
    const tokensBefore = (await store.getTokens()).length
    const forgeries: Array<Record<string, string>> = [
      // The recorder instead of the EU data center, as a tampered redirect would name it.
      { location: 'eu', 'accounts-server': recorderUrl },
      { location: 'us', 'accounts-server': recorderUrl },
      // The recorder with a path, credentials, or as the only parameter.
      { location: 'eu', 'accounts-server': `${recorderUrl}/oauth/v2/token` },
      { 'accounts-server': recorderUrl.replace('http://', 'http://user:pw@') },
      // A Zoho accounts server that disagrees with the location, and a location Zoho has not.
      { location: 'us', 'accounts-server': 'https://accounts.zoho.eu' },
      { location: 'xx', 'accounts-server': eu.url },
    ]
    for (const forged of forgeries) {
      const { answer, jar } = await followForged(portal, forged)
      // Counted, not shown: what the recorder received would be the client secret.
      expect(
        recorded.length,
        `requests the recorder received after ${JSON.stringify(forged)}`,
      ).toBe(0)
      expect(answer.status, JSON.stringify(forged)).toBe(400)
      expect(answer.body).toContain('Sign-in refused')
      expect(answer.body).toContain('The code was not exchanged and the client secret was not sent')
      expect(jar.cookies.has('tk_session')).toBe(false)
    }
    expect(recorded).toEqual([])
    expect(accounts.counts.exchange + eu.counts.exchange).toBe(0)
    expect(await store.getTokens()).toHaveLength(tokensBefore)
  })

  it("maps a location alone to the emulator's data center, and refuses one it does not serve: nothing goes to Zoho", async () => {
    accounts.resetCounts()
    eu.resetCounts()
    const remote: string[] = []
    await loopbackOnly(remote, async () => {
      // Lise's callback without its accounts-server: the emulator's EU data center, not Zoho's.
      const jar = new Jar()
      const callback = await consent(portal, jar, LISE)
      callback.searchParams.delete('accounts-server')
      const done = await request(jar, callback.href)
      expect(remote, 'requests for hosts off this machine').toEqual([])
      expect(done.status).toBe(303)
      expect(eu.counts.exchange).toBe(1)
      expect(accounts.counts.exchange).toBe(0)

      // A forged location of a data center the emulator does not serve, alone or with Zoho's
      // own accounts server that agrees with it: refused before the exchange.
      const forgeries: Array<Record<string, string>> = [
        { location: 'in' },
        { location: 'jp' },
        { location: 'eu', 'accounts-server': 'https://accounts.zoho.eu' },
      ]
      for (const forged of forgeries) {
        const { answer, jar } = await followForged(portal, forged)
        expect(
          remote,
          `requests for hosts off this machine after ${JSON.stringify(forged)}`,
        ).toEqual([])
        expect(answer.status, JSON.stringify(forged)).toBe(400)
        expect(answer.body).toContain('Sign-in refused')
        expect(answer.body).toContain(
          'The code was not exchanged and the client secret was not sent',
        )
        expect(jar.cookies.has('tk_session')).toBe(false)
      }
    })
    expect(eu.counts.exchange).toBe(1)
    expect(accounts.counts.exchange).toBe(0)
    expect(recorded).toEqual([])
  })
})
