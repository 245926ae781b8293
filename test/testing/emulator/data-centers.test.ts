// The emulator's data centers: a user of another data center consents on the main page, the
// callback names that data center (location, accounts-server), and the code, the refresh token,
// the revocation and the access token work at that data center's own listener only, as Zoho's
// data centers each know their own users' tokens alone.
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../../src/errors.ts'
import {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
  type EmulatorDataCenter,
} from '../../../src/testing/index.ts'

const REDIRECT = 'https://app.example/callback'
const CLIENT = { clientId: '1000.DCCLIENT', clientSecret: 'dc-secret', redirectUris: [REDIRECT] }
const USERS = [
  { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
  { email: 'lise@zylker.example', fullName: 'Lise Meitner', dataCenter: 'eu' },
]

const running: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.close()))
})

async function start(options: AccountsEmulatorOptions = {}): Promise<AccountsEmulator> {
  const emulator = await startAccountsEmulator({
    clients: [CLIENT],
    users: USERS,
    dataCenters: ['eu'],
    ...options,
  })
  running.push(emulator)
  return emulator
}

type Json = Record<string, unknown>

async function token(at: { url: string }, params: Record<string, string>): Promise<Json> {
  const res = await fetch(`${at.url}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      ...params,
    }),
  })
  return (await res.json()) as Json
}

const exchange = (at: { url: string }, code: string): Promise<Json> =>
  token(at, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT })
const refresh = (at: { url: string }, refreshToken: string): Promise<Json> =>
  token(at, { grant_type: 'refresh_token', refresh_token: refreshToken })

async function currentUser(at: { url: string }, accessToken: string): Promise<number> {
  const res = await fetch(`${at.url}/crm/v8/users?type=CurrentUser`, {
    headers: { authorization: `Zoho-oauthtoken ${accessToken}` },
  })
  await res.body?.cancel()
  return res.status
}

/** The consent form approved for `user`, on the main page: the callback URL it redirects to. */
async function approve(emulator: AccountsEmulator, user: string): Promise<URL> {
  const res = await fetch(`${emulator.url}/oauth/v2/auth/approve`, {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams({
      client_id: CLIENT.clientId,
      redirect_uri: REDIRECT,
      scope: 'ZohoCRM.modules.ALL',
      state: 'st-1',
      user,
      decision: 'accept',
    }),
  })
  expect(res.status).toBe(302)
  return new URL(res.headers.get('location') ?? '')
}

describe('emulator: data centers', () => {
  it('serves each data center on a listener of its own, with its own environment', async () => {
    const emulator = await start()
    const [us, eu] = emulator.dataCenters as [EmulatorDataCenter, EmulatorDataCenter]
    expect(emulator.dataCenters.map((dc) => dc.location)).toEqual(['us', 'eu'])
    expect(us.url).toBe(emulator.url)
    expect(us.environment).toBe(emulator.environment)
    expect(us.counts).toBe(emulator.counts)
    expect(emulator.dataCenter('eu')).toBe(eu)
    expect(eu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(eu.url).not.toBe(emulator.url)
    expect(eu.environment.name).toBe('emulator-eu')
    expect(eu.environment.accountsUrl).toBe(eu.url)
    expect(eu.environment.apiDomain).toBe(eu.url)
    expect(() => emulator.dataCenter('in')).toThrow(InvalidArgumentError)
  })

  it('has the main data center alone by default, as before', async () => {
    const emulator = await startAccountsEmulator()
    running.push(emulator)
    expect(emulator.dataCenters.map((dc) => [dc.location, dc.url])).toEqual([['us', emulator.url]])
  })

  it("sends a user of another data center back with that data center's location and accounts-server", async () => {
    const emulator = await start()
    const eu = emulator.dataCenter('eu')
    const lise = await approve(emulator, 'lise@zylker.example')
    expect(lise.searchParams.get('location')).toBe('eu')
    expect(lise.searchParams.get('accounts-server')).toBe(eu.url)
    const ada = await approve(emulator, 'ada@zylker.example')
    expect(ada.searchParams.get('location')).toBe('us')
    expect(ada.searchParams.get('accounts-server')).toBe(emulator.url)
    // The consent page says where each account lives.
    const query = new URLSearchParams({
      client_id: CLIENT.clientId,
      redirect_uri: REDIRECT,
      scope: 'ZohoCRM.modules.ALL',
    })
    const page = await fetch(`${emulator.url}/oauth/v2/auth?${query.toString()}`).then((res) =>
      res.text(),
    )
    expect(page).toContain('Lise Meitner &lt;lise@zylker.example&gt; (EU)</option>')
    expect(page).toContain('Ada Lovelace &lt;ada@zylker.example&gt;</option>')
  })

  it("exchanges the code at the user's data center only; elsewhere it is invalid_code and not spent", async () => {
    const emulator = await start()
    const eu = emulator.dataCenter('eu')
    const code = (await approve(emulator, 'lise@zylker.example')).searchParams.get('code')!
    expect(await exchange(emulator, code)).toEqual({ error: 'invalid_code' })
    expect(emulator.counts.refusals).toEqual({ invalid_code: 1 })
    const issued = await exchange(eu, code)
    expect(issued.api_domain).toBe(eu.url)
    expect(issued.access_token).toEqual(expect.any(String))
    expect(eu.counts.exchange).toBe(1)
    expect(eu.counts.exchangesByClient).toEqual({ [CLIENT.clientId]: 1 })
    expect(emulator.counts.exchange).toBe(1) // the refused attempt above, nothing more
    // And a main data center user's code is unknown at the other one.
    const adaCode = emulator.issueGrantCode({ user: 'ada@zylker.example', redirectUri: REDIRECT })
    expect(await exchange(eu, adaCode)).toEqual({ error: 'invalid_code' })
    expect((await exchange(emulator, adaCode)).api_domain).toBe(emulator.url)
  })

  it('refreshes, serves the API and revokes at that data center only', async () => {
    const emulator = await start()
    const eu = emulator.dataCenter('eu')
    const code = emulator.issueGrantCode({ user: 'lise@zylker.example', redirectUri: REDIRECT })
    const issued = await exchange(eu, code)
    const refreshToken = String(issued.refresh_token)
    const accessToken = String(issued.access_token)

    expect(await refresh(emulator, refreshToken)).toEqual({ error: 'invalid_code' })
    expect(emulator.counts.refreshesByUser).toEqual({ 'lise@zylker.example': 1 })
    const renewed = await refresh(eu, refreshToken)
    expect(renewed.api_domain).toBe(eu.url)
    expect(eu.counts.refresh).toBe(1)

    expect(await currentUser(emulator, accessToken)).toBe(401)
    expect(await currentUser(eu, accessToken)).toBe(200)

    // Revoked at the wrong data center: answered success, as Zoho answers an unknown token,
    // and the token still works.
    const revoke = (at: { url: string }) =>
      fetch(`${at.url}/oauth/v2/token/revoke`, {
        method: 'POST',
        body: new URLSearchParams({ token: refreshToken }),
      }).then((res) => res.json())
    expect(await revoke(emulator)).toEqual({ status: 'success' })
    expect(emulator.isValid(refreshToken)).toBe(true)
    expect(await revoke(eu)).toEqual({ status: 'success' })
    expect(emulator.isValid(refreshToken)).toBe(false)
    expect(eu.counts.revoke).toBe(1)
  })

  it("keeps each data center's faults and counters to itself", async () => {
    const emulator = await start()
    const eu = emulator.dataCenter('eu')
    eu.fail('http503', { on: 'token' })
    const code = emulator.issueGrantCode({ user: 'ada@zylker.example', redirectUri: REDIRECT })
    expect((await exchange(emulator, code)).access_token).toEqual(expect.any(String))
    const res = await fetch(`${eu.url}/oauth/v2/token`, { method: 'POST' })
    expect(res.status).toBe(503)
    await res.body?.cancel()
    expect(eu.counts.faults).toBe(1)
    expect(emulator.counts.faults).toBe(0)
    eu.resetCounts()
    expect(eu.counts.total).toBe(0)
    expect(emulator.counts.total).toBe(1)
  })

  it('listens on the port given for a data center, and closes every listener', async () => {
    const probe = await startAccountsEmulator()
    const free = Number(new URL(probe.url).port)
    await probe.close()
    const emulator = await start({ dataCenters: [{ location: 'eu', port: free }] })
    expect(emulator.dataCenter('eu').url).toBe(`http://127.0.0.1:${free}`)
    await emulator.close()
    await expect(fetch(`http://127.0.0.1:${free}/oauth/v2/token`)).rejects.toThrow()
  })

  it("refuses a data center that is not Zoho's, one given twice, and a user of one it does not serve", async () => {
    for (const dataCenters of [
      ['xx'],
      ['us'],
      ['eu', 'eu'],
      'eu',
      [{ location: 'eu', port: -1 }],
    ]) {
      await expect(
        startAccountsEmulator({ dataCenters: dataCenters as never }),
      ).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(
      startAccountsEmulator({ users: [{ email: 'lise@zylker.example', dataCenter: 'eu' }] }),
    ).rejects.toThrow(/dataCenter must be one the emulator serves: us/)
  })

  it('closes the listeners it opened when a later one cannot listen', async () => {
    const taken = await startAccountsEmulator()
    running.push(taken)
    const probe = await startAccountsEmulator()
    const free = Number(new URL(probe.url).port)
    await probe.close()
    await expect(
      start({
        port: free,
        dataCenters: [{ location: 'eu', port: Number(new URL(taken.url).port) }],
      }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' })
    // The main listener, opened first, was closed: its port can be listened on again.
    const again = await startAccountsEmulator({ port: free })
    running.push(again)
    expect(again.url).toBe(`http://127.0.0.1:${free}`)
  })
})
