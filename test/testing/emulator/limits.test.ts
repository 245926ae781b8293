// What the emulator enforces for a keeper to respect, over HTTP: the exchange limit per client,
// grants revoked (refused with invalid_code or invalid_grant), short lifetimes on a compressed
// clock, the tallies a test reads, and the admin endpoints for an emulator in another process.
import { afterEach, describe, expect, it } from 'vitest'
import {
  InvalidArgumentError,
  InvalidTokenError,
  ReauthRequiredError,
} from '../../../src/errors.ts'
import { Initializer, MemoryStore, OAuthToken } from '../../../src/index.ts'
import {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
} from '../../../src/testing/index.ts'

const CLIENT = { clientId: '1000.LIMITS', clientSecret: 'limits-secret' }
const OTHER = { clientId: '1000.OTHERCLIENT', clientSecret: 'other-secret' }
const USERS = [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }]
const ACCESS_DENIED = {
  status: 400,
  body: {
    error: 'Access Denied',
    error_description:
      'You have made too many requests continuously. Please try again after some time.',
  },
}
const MINUTE = 60_000

const running: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((emulator) => emulator.close()))
})

/** A started emulator, closed after the test, on a clock the test moves. */
async function start(options: AccountsEmulatorOptions = {}) {
  const clock = { now: 1_800_000_000_000 }
  const emulator = await startAccountsEmulator({
    clients: [CLIENT, OTHER],
    users: USERS,
    now: () => clock.now,
    ...options,
  })
  running.push(emulator)
  return { emulator, clock }
}

type Json = Record<string, unknown>
type Client = typeof CLIENT

async function token(emulator: AccountsEmulator, params: Record<string, string>) {
  const res = await fetch(emulator.environment.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams(params),
  })
  return { status: res.status, body: (await res.json()) as Json }
}

function exchange(emulator: AccountsEmulator, code: string, client: Client = CLIENT) {
  return token(emulator, {
    grant_type: 'authorization_code',
    client_id: client.clientId,
    client_secret: client.clientSecret,
    code,
  })
}

function refresh(emulator: AccountsEmulator, refreshToken: string, client: Client = CLIENT) {
  return token(emulator, {
    grant_type: 'refresh_token',
    client_id: client.clientId,
    client_secret: client.clientSecret,
    refresh_token: refreshToken,
  })
}

/** A grant of `user` for `client`: its access and refresh tokens. */
async function grant(emulator: AccountsEmulator, user = 'ada@zylker.example', client = CLIENT) {
  const code = emulator.issueGrantCode({ clientId: client.clientId, user })
  const { status, body } = await exchange(emulator, code, client)
  expect(status).toBe(200)
  return { accessToken: body.access_token as string, refreshToken: body.refresh_token as string }
}

async function leads(emulator: AccountsEmulator, accessToken: string): Promise<number> {
  const res = await fetch(new URL('/crm/v8/Leads', emulator.url), {
    headers: { authorization: `Zoho-oauthtoken ${accessToken}` },
  })
  await res.body?.cancel()
  return res.status
}

function basic(client: Client): string {
  return `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`
}

describe('the exchange limit per client', () => {
  it("is off by default; `true` is Zoho's 10 per client per 10 minutes, answered as Zoho", async () => {
    const free = (await start()).emulator
    for (let i = 0; i < 12; i += 1) await grant(free)

    // Codes that outlive the window, to present the refused one again once it has passed.
    const { emulator, clock } = await start({ exchangeLimit: true, grantCodeLifetimeSec: 3600 })
    const start0 = clock.now
    for (let i = 0; i < 10; i += 1) {
      clock.now = start0 + i * 1000
      await grant(emulator)
    }
    const code = emulator.issueGrantCode({ clientId: CLIENT.clientId })
    expect(await exchange(emulator, code)).toEqual(ACCESS_DENIED)
    // Per client: the other client's exchanges are not limited by this one's.
    await grant(emulator, 'ada@zylker.example', OTHER)
    // The window slides from each exchange; a refused code was not spent.
    clock.now = start0 + 10 * MINUTE - 1
    expect(await exchange(emulator, code)).toEqual(ACCESS_DENIED)
    clock.now = start0 + 10 * MINUTE
    expect((await exchange(emulator, code)).status).toBe(200)
    expect(emulator.counts.refusals).toEqual({ exchange_limit: 2 })
    expect(emulator.counts.exchangesByClient).toEqual({
      [CLIENT.clientId]: 13,
      [OTHER.clientId]: 1,
    })
  })

  it('takes a count and a window, and counts only exchanges that would succeed', async () => {
    const { emulator, clock } = await start({ exchangeLimit: { count: 2, windowMs: MINUTE } })
    const spent = emulator.issueGrantCode({ clientId: CLIENT.clientId })
    await exchange(emulator, spent)
    expect((await exchange(emulator, spent)).body).toEqual({ error: 'invalid_code' })
    await grant(emulator)
    expect(await exchange(emulator, emulator.issueGrantCode())).toEqual(ACCESS_DENIED)
    clock.now += MINUTE
    await grant(emulator)
  })

  it('refuses a bad limit', async () => {
    await expect(start({ exchangeLimit: { count: 0, windowMs: MINUTE } })).rejects.toThrow(
      InvalidArgumentError,
    )
    await expect(start({ exchangeLimit: 'yes' as unknown as boolean })).rejects.toThrow(
      /exchangeLimit must be true, false or \{ count, windowMs \}/,
    )
  })
})

describe('revoked grants', () => {
  it('revokeGrants by user: every grant of the user, refused with invalid_code; others live', async () => {
    const { emulator } = await start()
    const one = await grant(emulator)
    const two = await grant(emulator)
    const grace = await grant(emulator, 'grace@zylker.example')
    expect(emulator.revokeGrants({ user: 'ada@zylker.example' })).toBe(2)
    for (const revoked of [one, two]) {
      expect(await refresh(emulator, revoked.refreshToken)).toEqual({
        status: 200,
        body: { error: 'invalid_code' },
      })
      expect(await leads(emulator, revoked.accessToken)).toBe(401)
    }
    expect((await refresh(emulator, grace.refreshToken)).status).toBe(200)
    expect(await leads(emulator, grace.accessToken)).toBe(200)
    expect(emulator.counts.refusals).toEqual({ invalid_code: 2 })
    // Already revoked: none more.
    expect(emulator.revokeGrants({ user: 'ada@zylker.example' })).toBe(0)
  })

  it('revokeGrants by refresh token, refused with invalid_grant (400 in the oauth2 style)', async () => {
    const { emulator } = await start({ errorStyle: 'oauth2', rotateRefreshTokens: true })
    const target = await grant(emulator)
    const kept = await grant(emulator)
    const rotated = (await refresh(emulator, target.refreshToken)).body.refresh_token as string
    // The first of the chain names the grant: the rotated token is revoked with it.
    expect(
      emulator.revokeGrants({ refreshToken: target.refreshToken, error: 'invalid_grant' }),
    ).toBe(1)
    for (const presented of [rotated, rotated]) {
      expect(await refresh(emulator, presented)).toMatchObject({
        status: 400,
        body: { error: 'invalid_grant' },
      })
    }
    expect((await refresh(emulator, kept.refreshToken)).status).toBe(200)
    expect(emulator.counts.refusals).toEqual({ invalid_grant: 2 })
    expect(emulator.counts.refreshesByToken).toEqual({
      [target.refreshToken]: 1,
      [rotated]: 2,
      [kept.refreshToken]: 1,
    })
    expect(emulator.counts.refreshesByUser).toEqual({ 'ada@zylker.example': 4 })
  })

  it('revokeGrants for one client leaves the grants of another', async () => {
    const { emulator } = await start()
    const mine = await grant(emulator)
    const theirs = await grant(emulator, 'ada@zylker.example', OTHER)
    expect(emulator.revokeGrants({ user: 'ada@zylker.example', clientId: OTHER.clientId })).toBe(1)
    expect((await refresh(emulator, mine.refreshToken)).status).toBe(200)
    expect((await refresh(emulator, theirs.refreshToken, OTHER)).body).toEqual({
      error: 'invalid_code',
    })
  })

  it('revokeGrants refuses what names nothing, an unknown user, error or option', async () => {
    const { emulator } = await start()
    for (const [options, message] of [
      [{}, /give a user or a refreshToken/],
      [{ user: 'eve@zylker.example' }, /unknown user/],
      [{ user: 'ada@zylker.example', error: 'access_denied' }, /'invalid_code' or 'invalid_grant'/],
      [{ user: 'ada@zylker.example', users: [] }, /users/],
    ] as const) {
      expect(() => emulator.revokeGrants(options as never)).toThrow(InvalidArgumentError)
      expect(() => emulator.revokeGrants(options as never)).toThrow(message)
    }
  })
})

describe('short lifetimes on a compressed clock', () => {
  it('secondMs scales lifetimes, expires_in (real seconds) and the windows', async () => {
    // One emulator second lasts 10 ms: an hour's token lives 36 s, the 10-minute window 6 s.
    const { emulator, clock } = await start({ secondMs: 10 })
    const code = emulator.issueGrantCode()
    const { body } = await exchange(emulator, code)
    expect(body.expires_in).toBe(36)
    const accessToken = body.access_token as string
    const refreshToken = body.refresh_token as string
    const start0 = clock.now
    clock.now = start0 + 36_000 - 1
    expect(await leads(emulator, accessToken)).toBe(200)
    clock.now = start0 + 36_000
    expect(await leads(emulator, accessToken)).toBe(401)

    clock.now = start0
    for (let i = 0; i < 10; i += 1) expect((await refresh(emulator, refreshToken)).status).toBe(200)
    expect(await refresh(emulator, refreshToken)).toEqual(ACCESS_DENIED)
    clock.now = start0 + 6000
    expect((await refresh(emulator, refreshToken)).status).toBe(200)
    expect(emulator.counts.refusals).toEqual({ access_token_limit: 1 })

    // Grant codes: 180 emulator seconds, 1.8 s.
    const late = emulator.issueGrantCode()
    clock.now += 1800
    expect((await exchange(emulator, late)).body).toEqual({ error: 'invalid_code' })
  })

  it('with the real clock: a token of 1000 emulator seconds at 1 ms each dies in 1 s', async () => {
    const emulator = await startAccountsEmulator({
      clients: [CLIENT],
      accessTokenLifetimeSec: 1000,
      secondMs: 1,
    })
    running.push(emulator)
    const { body } = await exchange(emulator, emulator.issueGrantCode())
    expect(body.expires_in).toBe(1)
    const accessToken = body.access_token as string
    expect(await leads(emulator, accessToken)).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(await leads(emulator, accessToken)).toBe(401)
  })

  it('accessTokenLifetimeSec alone shortens the answer and the token', async () => {
    const { emulator, clock } = await start({ accessTokenLifetimeSec: 5 })
    const { body } = await exchange(emulator, emulator.issueGrantCode())
    expect(body.expires_in).toBe(5)
    clock.now += 5000
    expect(await leads(emulator, body.access_token as string)).toBe(401)
  })

  it('refuses an unknown option rather than leave a default in force', async () => {
    const error = await start({ exchangeLimt: true } as AccountsEmulatorOptions).catch(
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect(error).toMatchObject({ argument: 'exchangeLimt' })
    expect((error as Error).message).toMatch(/startAccountsEmulator has no option 'exchangeLimt'/)
  })

  it('refuses a bad secondMs', async () => {
    for (const secondMs of [0, -1, Number.NaN]) {
      await expect(start({ secondMs })).rejects.toThrow(/secondMs must be a number of at least 1/)
    }
  })
})

describe('admin endpoints', () => {
  it('GET /emulator/counts: the counts without the refresh tokens, for a registered client', async () => {
    const { emulator } = await start()
    const { refreshToken } = await grant(emulator)
    await refresh(emulator, refreshToken)
    const url = new URL('/emulator/counts', emulator.url)
    for (const authorization of [
      undefined,
      basic({ ...CLIENT, clientSecret: 'wrong' }),
      'Basic !!',
      `Bearer ${refreshToken}`,
    ]) {
      const res = await fetch(
        url,
        authorization === undefined ? {} : { headers: { authorization } },
      )
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="emulator"')
      expect(await res.json()).toMatchObject({ error: 'invalid_client' })
    }
    emulator.fail('http500', { on: 'any' })
    const res = await fetch(url, { headers: { authorization: basic(OTHER) } })
    const text = await res.text()
    expect(res.status).toBe(200)
    expect(text).not.toContain(refreshToken)
    expect(JSON.parse(text)).toEqual({
      ...Object.fromEntries(
        Object.entries(emulator.counts).filter(([name]) => name !== 'refreshesByToken'),
      ),
    })
    expect(JSON.parse(text)).toMatchObject({
      exchange: 1,
      refresh: 1,
      total: 2,
      refreshesByUser: { 'ada@zylker.example': 1 },
      exchangesByClient: { [CLIENT.clientId]: 1 },
    })
    // Neither counted nor faulted: the fault waits for the next real request.
    expect(emulator.counts.total).toBe(2)
    expect(emulator.counts.faults).toBe(0)
  })

  it('POST /emulator/revoke: a client revokes its own grants, by user or refresh token', async () => {
    const { emulator } = await start()
    const ada = await grant(emulator)
    const grace = await grant(emulator, 'grace@zylker.example')
    const theirs = await grant(emulator, 'ada@zylker.example', OTHER)
    const revoke = async (params: Record<string, string>, client = CLIENT) => {
      const res = await fetch(new URL('/emulator/revoke', emulator.url), {
        method: 'POST',
        headers: { authorization: basic(client) },
        body: new URLSearchParams(params),
      })
      return { status: res.status, body: (await res.json()) as Json }
    }
    expect(await revoke({ user: 'ada@zylker.example', error: 'invalid_grant' })).toEqual({
      status: 200,
      body: { revoked: 1 },
    })
    expect((await refresh(emulator, ada.refreshToken)).body).toEqual({ error: 'invalid_grant' })
    expect((await refresh(emulator, theirs.refreshToken, OTHER)).status).toBe(200)
    expect(await revoke({ refresh_token: grace.refreshToken })).toEqual({
      status: 200,
      body: { revoked: 1 },
    })
    expect((await refresh(emulator, grace.refreshToken)).body).toEqual({ error: 'invalid_code' })
    // Another client's token: not this client's to revoke.
    expect(await revoke({ refresh_token: theirs.refreshToken })).toEqual({
      status: 200,
      body: { revoked: 0 },
    })
    for (const params of [{}, { user: 'ada@zylker.example', error: 'access_denied' }]) {
      expect(await revoke(params)).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      })
    }
    const anonymous = await fetch(new URL('/emulator/revoke', emulator.url), {
      method: 'POST',
      body: new URLSearchParams({ user: 'ada@zylker.example' }),
    })
    expect(anonymous.status).toBe(401)
    await anonymous.body?.cancel()
    expect((await refresh(emulator, theirs.refreshToken, OTHER)).status).toBe(200)
  })
})

describe('with a tokenkeeper session', () => {
  it('a compressed lifetime makes it refresh; a revoked grant is refused with the chosen error', async () => {
    // 300 emulator seconds at 10 ms: a 3 s token, due 2 s later under a 1 s skew.
    const { emulator, clock } = await start({ secondMs: 10, accessTokenLifetimeSec: 300 })
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store: new MemoryStore(),
      token: new OAuthToken({ ...CLIENT, grantToken: emulator.issueGrantCode() }),
      config: { now: () => clock.now, refreshSkewMs: 1000 },
    })
    const first = await session.getAccessToken()
    expect(emulator.counts.refresh).toBe(0)
    clock.now += 2000 // 1 s left: within the skew, so due

    const second = await session.getAccessToken()
    expect(second).not.toBe(first)
    expect(emulator.counts.refreshesByUser).toEqual({ 'ada@zylker.example': 1 })

    emulator.revokeGrants({ user: 'ada@zylker.example', error: 'invalid_grant' })
    clock.now += 2000
    const error = await session.getAccessToken().catch((e: unknown) => e)
    // Refused for good: the session says the user must sign in again, the answer as its cause.
    expect(error).toBeInstanceOf(ReauthRequiredError)
    expect((error as ReauthRequiredError).cause).toBeInstanceOf(InvalidTokenError)
    expect((error as ReauthRequiredError).cause).toMatchObject({ serverError: 'invalid_grant' })
    expect(emulator.counts.refusals).toEqual({ invalid_grant: 1 })
  })
})
