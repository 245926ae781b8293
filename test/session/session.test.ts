// The SDK flow against the accounts emulator: real HTTP, real stores, an injected clock.
import { execFile } from 'node:child_process'
import { chmodSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import {
  FileStore,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  type Logger,
  type Session,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
} from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../children/session-reuse.ts', import.meta.url))

const emulators: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()))
})

/** An emulator and a clock that both it and the sessions read. */
async function setup(options: AccountsEmulatorOptions = {}) {
  const clock = { now: Date.now() }
  const emulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
    ...options,
    now: () => clock.now,
  })
  emulators.push(emulator)
  const client = emulator.clients[0]!
  const lines: string[] = []
  const logger: Logger = {
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  }
  const grantFor = (
    user: string,
    extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {},
  ) =>
    new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: emulator.issueGrantCode({ user }),
      redirectUrl: 'http://127.0.0.1/callback',
      ...extra,
    })
  const initialize = (token: OAuthToken, store: TokenStore, config: Record<string, unknown> = {}) =>
    Initializer.initialize({
      environment: emulator.environment,
      token,
      store,
      logger,
      config: { now: () => clock.now, retryDelayMs: 1, ...config },
    })
  return { emulator, clock, client, lines, grantFor, initialize }
}

describe('Initializer and Session with the accounts emulator', () => {
  it('exchanges a grant code, saves the token, and fetches the sample API with it', async () => {
    const { emulator, grantFor, initialize, lines } = await setup()
    const store = new SQLiteStore({ path: scratchPath(dir, 'flow.db') })
    const session = await initialize(
      grantFor('ada@zylker.example', { userSignature: new UserSignature('ada@zylker.example') }),
      store,
    )
    expect(emulator.counts.exchange).toBe(1)
    const stored = (await store.findTokenById(session.id!))!
    expect(stored.userSignature?.name).toBe('ada@zylker.example')
    expect(stored.refreshToken).toMatch(/^1000\.[0-9a-f]{32}\.[0-9a-f]{32}$/)
    expect(stored.grantToken).toBeDefined() // kept, so the same code finds the row again
    expect(stored.apiDomain).toBe(emulator.url)
    const response = await session.fetch('/crm/v8/Leads')
    expect(response.status).toBe(200)
    const body = (await response.json()) as { data: unknown[] }
    expect(body.data.length).toBeGreaterThan(0)
    expect(lines.some((l) => l.startsWith('info grant code exchanged'))).toBe(true)
    await store.close()
  })

  it('a new process finds the saved token and does not log in again', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const path = scratchPath(dir, 'restart.txt')
    const token = grantFor('ada@zylker.example', {
      userSignature: new UserSignature('ada@zylker.example'),
    })
    const session = await initialize(token, new FileStore(path))
    const access = await session.getAccessToken()
    const client = emulator.clients[0]!
    // The same initialization again, in another process, with the same (now spent) code.
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      CHILD,
      emulator.url,
      path,
      client.clientId,
      client.clientSecret,
      token.grantToken!,
      'ada@zylker.example',
    ])
    const child = JSON.parse(stdout) as { id: string; leads: number; accessTokenMatches: boolean }
    expect(child.id).toBe(session.id)
    expect(child.leads).toBe(200)
    expect(emulator.counts.exchange).toBe(1)
    expect(emulator.counts.refresh).toBe(0)
    expect(access).toBeTruthy()
  })

  it('initializing again with the same code finds the row instead of spending the code', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    const token = grantFor('ada@zylker.example')
    const first = await initialize(token, store)
    const second = await initialize(token.clone(), store)
    expect(second.id).toBe(first.id)
    expect(emulator.counts.exchange).toBe(1)
    expect((await store.getTokens()).length).toBe(1)
  })

  it('refreshes ahead of expiry, saves the new token, and keeps a refresh token the server did not replace', async () => {
    const { emulator, clock, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    const first = await session.getAccessToken()
    const { refreshToken } = (await store.findTokenById(session.id!))!
    clock.now += 3_600_000 - 59_000 // less than refreshSkewMs (60 s) left
    const second = await session.getAccessToken()
    expect(second).not.toBe(first)
    expect(emulator.counts.refresh).toBe(1)
    const stored = (await store.findTokenById(session.id!))!
    expect(stored.accessToken).toBe(second)
    expect(stored.refreshToken).toBe(refreshToken)
    expect(stored.expiryTime).toBe(clock.now + 3_600_000)
    // Valid tokens come from memory: no more requests.
    await Promise.all(Array.from({ length: 50 }, () => session.getAccessToken()))
    expect(emulator.counts.refresh).toBe(1)
  })

  for (const rotateRefreshTokens of [false, true]) {
    it(`100 concurrent callers of an expired token cause exactly one refresh (rotation ${rotateRefreshTokens ? 'on' : 'off'})`, async () => {
      const { emulator, clock, grantFor, initialize } = await setup({ rotateRefreshTokens })
      const store = new SQLiteStore({ path: scratchPath(dir, 'concurrent.db') })
      const session = await initialize(grantFor('ada@zylker.example'), store)
      // A second and third session on the same token share the refresh too.
      const others = await Promise.all(
        [1, 2].map(() => initialize(new OAuthToken({ id: session.id! }), store)),
      )
      const before = (await store.findTokenById(session.id!))!
      clock.now += 2 * 3_600_000
      const sessions: Session[] = [session, ...others]
      const tokens = await Promise.all(
        Array.from({ length: 100 }, (_, i) => sessions[i % 3]!.getAccessToken()),
      )
      expect(emulator.counts.refresh).toBe(1)
      expect(new Set(tokens).size).toBe(1)
      expect(emulator.isValid(tokens[0]!)).toBe(true)
      const after = (await store.findTokenById(session.id!))!
      expect(after.accessToken).toBe(tokens[0])
      if (rotateRefreshTokens) {
        expect(after.refreshToken).not.toBe(before.refreshToken)
        expect(emulator.isValid(after.refreshToken!)).toBe(true)
      } else {
        expect(after.refreshToken).toBe(before.refreshToken)
      }
      await store.close()
    })
  }

  it('on a 401 refreshes once and retries once', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const session = await initialize(grantFor('ada@zylker.example'), new MemoryStore())
    const stale = await session.getAccessToken()
    await fetch(`${emulator.url}/oauth/v2/token/revoke?token=${stale}`, { method: 'POST' })
    expect(emulator.isValid(stale)).toBe(false)
    const response = await session.fetch('/crm/v8/Leads')
    expect(response.status).toBe(200)
    expect(emulator.counts.refresh).toBe(1)
    expect(emulator.counts.api).toBe(2)
  })

  it('revoke really revokes at the accounts server, then deletes the row', async () => {
    const { emulator, grantFor, initialize, lines } = await setup()
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    const { refreshToken, accessToken } = (await store.findTokenById(session.id!))!
    await session.revoke()
    expect(emulator.counts.revoke).toBe(1)
    expect(emulator.isValid(refreshToken!)).toBe(false)
    expect(emulator.isValid(accessToken!)).toBe(false)
    expect(await store.getTokens()).toEqual([])
    await expect(session.getAccessToken()).rejects.toMatchObject({ code: 'SESSION_ENDED' })
    expect(lines.some((l) => l.startsWith('info token revoked'))).toBe(true)
  })

  it('remove deletes the row only', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    const { refreshToken } = (await store.findTokenById(session.id!))!
    await session.remove()
    expect(await store.getTokens()).toEqual([])
    expect(emulator.isValid(refreshToken!)).toBe(true)
    expect(emulator.counts.revoke).toBe(0)
  })

  it('switchUser: two users in one process, each with its own row, named by the user look-up', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new SQLiteStore({ path: scratchPath(dir, 'users.db') })
    const ada = await initialize(grantFor('ada@zylker.example'), store, { findUser: true })
    const grace = await ada.switchUser(grantFor('grace@zylker.example'))
    expect(ada.userName).toBe('ada@zylker.example')
    expect(grace.userName).toBe('grace@zylker.example')
    expect(grace.id).not.toBe(ada.id)
    expect((await store.getTokens()).map((t) => t.userSignature?.name).sort()).toEqual([
      'ada@zylker.example',
      'grace@zylker.example',
    ])
    const [a, g] = await Promise.all([
      ada.fetch('/crm/v8/users?type=CurrentUser'),
      grace.fetch('/crm/v8/users?type=CurrentUser'),
    ])
    expect(((await a.json()) as { users: { email: string }[] }).users[0]!.email).toBe(
      'ada@zylker.example',
    )
    expect(((await g.json()) as { users: { email: string }[] }).users[0]!.email).toBe(
      'grace@zylker.example',
    )
    expect(emulator.counts.currentUser).toBe(4)
    await store.close()
  })

  it('a failed save is an error the caller sees', async () => {
    const { clock, grantFor, initialize } = await setup()
    const path = scratchPath(dir, 'readonly.txt')
    const session = await initialize(grantFor('ada@zylker.example'), new FileStore(path))
    chmodSync(path, 0o400)
    clock.now += 2 * 3_600_000
    await expect(session.getAccessToken()).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'saveToken',
    })
  })

  it('a refused grant code is a typed error keeping the server code, and nothing is stored', async () => {
    const { client, initialize } = await setup()
    const store = new MemoryStore()
    const token = new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: '1000.not-a-real-code',
    })
    await expect(initialize(token, store)).rejects.toMatchObject({
      code: 'INVALID_TOKEN_ERROR',
      serverError: 'invalid_code',
    })
    expect(await store.getTokens()).toEqual([])
  })

  it('retries 5xx and 429 and then succeeds', async () => {
    const { emulator, grantFor, initialize } = await setup()
    emulator.fail('http503', { on: 'exchange' })
    emulator.fail('http429', { on: 'exchange' })
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    // Two faults, then the answer: three requests, one row holding the tokens it gave.
    expect(emulator.counts).toMatchObject({ exchange: 3, faults: 2, rejected: 0 })
    const stored = await store.getTokens()
    expect(stored.map((t) => t.id)).toEqual([session.id])
    expect(emulator.isValid(stored[0]!.refreshToken!)).toBe(true)
  })

  for (const errorStyle of ['zoho', 'oauth2'] as const) {
    it(`does not retry invalid_code (${errorStyle === 'zoho' ? 'HTTP 200' : 'HTTP 400'}), though retries are on`, async () => {
      const { emulator, client, initialize } = await setup({ errorStyle })
      const store = new MemoryStore()
      const token = new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: '1000.not-a-real-code',
      })
      await expect(initialize(token, store, { retries: 2 })).rejects.toMatchObject({
        code: 'INVALID_TOKEN_ERROR',
        serverError: 'invalid_code',
        status: errorStyle === 'zoho' ? 200 : 400,
      })
      // One request to the token endpoint: a refused code is final, asking again cannot help.
      expect(emulator.counts).toMatchObject({ exchange: 1, rejected: 1, faults: 0 })
      expect(await store.getTokens()).toEqual([])
    })
  }

  it('exchanges a code from a PKCE authorization request with its verifier', async () => {
    const { emulator, client } = await setup({ autoApprove: true })
    const { createHash, randomBytes } = await import('node:crypto')
    const authorize = async (verifier: string) => {
      const url = new URL(`${emulator.url}/oauth/v2/auth`)
      const params = {
        response_type: 'code',
        client_id: client.clientId,
        scope: 'ZohoCRM.modules.ALL',
        redirect_uri: 'http://127.0.0.1/callback',
        state: 'xyz',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
      const answer = await fetch(url, { redirect: 'manual' })
      return new URL(answer.headers.get('location')!).searchParams.get('code')!
    }
    const verifier = randomBytes(32).toString('base64url')
    const token = (code: string) =>
      new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: code,
        redirectUrl: 'http://127.0.0.1/callback',
      })
    await expect(
      Initializer.initialize({
        environment: emulator.environment,
        token: token(await authorize(verifier)),
        store: new MemoryStore(),
        codeVerifier: randomBytes(32).toString('base64url'),
      }),
    ).rejects.toMatchObject({ code: 'INVALID_TOKEN_ERROR' })
    const session = await Initializer.initialize({
      environment: emulator.environment,
      token: token(await authorize(verifier)),
      store: new MemoryStore(),
      codeVerifier: verifier,
    })
    expect((await session.fetch('/crm/v8/Leads')).status).toBe(200)
  })

  it('turns network failures of API requests into typed errors', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    emulator.fail('reset', { on: 'api' })
    await expect(session.fetch('/crm/v8/Leads')).rejects.toMatchObject({ code: 'NETWORK_ERROR' })
    // A short timeout only where nothing answers: a loaded machine cannot make a request that
    // is answered look like a timeout (the other requests keep the default 30 s).
    const impatient = await initialize(new OAuthToken({ id: session.id }), store, {
      requestTimeoutMs: 200,
    })
    emulator.fail('hang', { on: 'api' })
    await expect(impatient.fetch('/crm/v8/Leads')).rejects.toMatchObject({
      code: 'TIMEOUT_ERROR',
    })
    expect((await session.fetch('/crm/v8/Leads')).status).toBe(200)
  })

  it('checks the token details before anything is sent', async () => {
    const { initialize } = await setup()
    const store = new MemoryStore()
    await expect(initialize(new OAuthToken({ clientId: 'c' }), store)).rejects.toMatchObject({
      code: 'MANDATORY_VALUE_ERROR',
    })
    await expect(initialize(new OAuthToken({ refreshToken: 'r' }), store)).rejects.toThrow(
      /clientId and clientSecret are required/,
    )
    await expect(initialize(new OAuthToken({ id: 'abcdefghij' }), store)).rejects.toMatchObject({
      code: 'TOKEN_NOT_FOUND',
    })
    await expect(
      Initializer.initialize({
        environment: 'US' as never,
        token: new OAuthToken({ accessToken: 'a' }),
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'environment',
    })
  })

  it('never logs a secret', async () => {
    const { emulator, clock, grantFor, initialize, lines } = await setup()
    const store = new MemoryStore()
    const session = await initialize(grantFor('ada@zylker.example'), store)
    clock.now += 2 * 3_600_000
    await session.getAccessToken()
    await session.fetch('/crm/v8/Leads')
    const stored = (await store.findTokenById(session.id!))!
    await session.revoke()
    const secrets = [
      stored.accessToken!,
      stored.refreshToken!,
      stored.grantToken!,
      emulator.clients[0]!.clientSecret,
    ]
    expect(lines.length).toBeGreaterThan(3)
    for (const line of lines) for (const secret of secrets) expect(line).not.toContain(secret)
  })
})

describe("exchange: 'always' (a code that arrives from a browser)", () => {
  /** Every row, as plain values, to compare a store before and after. */
  const snapshot = async (store: TokenStore) =>
    (await store.getTokens()).map((t) => ({
      id: t.id,
      user: t.userSignature?.name,
      refreshToken: t.refreshToken,
      accessToken: t.accessToken,
      grantToken: t.grantToken,
      expiryTime: t.expiryTime,
    }))

  it('a code that was already used signs nobody in: it is exchanged, refused, and nothing changes', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    // Ada signs in the default way: her row keeps the code, as the official SDKs do.
    const ada = grantFor('ada@zylker.example')
    const first = await initialize(ada, store, { findUser: true })
    expect((await store.findTokenById(first.id!))!.grantToken).toBe(ada.grantToken)
    const before = await snapshot(store)

    // Someone else presents her (spent) code: no user, no id, just the code.
    const replay = new OAuthToken({
      clientId: ada.clientId,
      clientSecret: ada.clientSecret,
      grantToken: ada.grantToken,
      redirectUrl: ada.redirectUrl,
    })
    const attempt = Initializer.initialize({
      environment: emulator.environment,
      token: replay,
      store,
      exchange: 'always',
      config: { findUser: true, retryDelayMs: 1 },
    })
    await expect(attempt).rejects.toMatchObject({
      code: 'INVALID_TOKEN_ERROR',
      serverError: 'invalid_code',
    })
    expect(emulator.counts.exchange).toBe(2) // it really went to the server
    expect(await snapshot(store)).toEqual(before)

    // Sessions switched to from an 'always' initialization treat codes the same way.
    const grace = await Initializer.initialize({
      environment: emulator.environment,
      token: grantFor('grace@zylker.example'),
      store,
      exchange: 'always',
      config: { findUser: true, retryDelayMs: 1 },
    })
    await expect(grace.switchUser(replay.clone())).rejects.toMatchObject({
      serverError: 'invalid_code',
    })
    expect(emulator.counts.exchange).toBe(4)
    expect((await snapshot(store)).filter((t) => t.id === first.id)).toEqual(before)

    // Ada's next sign-in, with a new code: her row, found by name, no longer holds any code.
    const again = await Initializer.initialize({
      environment: emulator.environment,
      token: grantFor('ada@zylker.example'),
      store,
      exchange: 'always',
      config: { findUser: true, retryDelayMs: 1 },
    })
    expect(again.id).toBe(first.id)
    expect((await store.findTokenById(first.id!))!.grantToken).toBeUndefined()
  })

  it('never finds a row by the code, keeps no spent code, and updates the user’s row found by name', async () => {
    const { emulator, client, grantFor } = await setup()
    const store = new MemoryStore()
    const initialize = (token: OAuthToken, config: Record<string, unknown> = {}) =>
      Initializer.initialize({
        environment: emulator.environment,
        token,
        store,
        exchange: 'always',
        config: { retryDelayMs: 1, ...config },
      })
    // A row that holds a code Ada is about to use (a stale or planted row of Grace's).
    const code = emulator.issueGrantCode({ user: 'ada@zylker.example' })
    const planted = new OAuthToken({
      userSignature: new UserSignature('grace@zylker.example'),
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: code,
      refreshToken: 'grace-refresh-token',
      accessToken: 'grace-access-token',
      expiryTime: Date.now() + 3_600_000,
    })
    await store.saveToken(planted)
    const graceBefore = await snapshot(store)

    const ada = await initialize(
      new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: code,
      }),
      { findUser: true },
    )
    expect(ada.userName).toBe('ada@zylker.example')
    expect(ada.id).not.toBe(planted.id)
    expect(emulator.counts.exchange).toBe(1)
    expect(ada.token.grantToken).toBeUndefined()
    const stored = (await store.findTokenById(ada.id!))!
    expect(stored.grantToken).toBeUndefined() // the spent code is not kept
    expect(emulator.isValid(stored.refreshToken!)).toBe(true)
    // Grace's row is as it was.
    expect((await snapshot(store)).filter((t) => t.id === planted.id)).toEqual(graceBefore)

    // Ada again, with a new code: the same row, found by her name, updated with the new tokens.
    const again = await initialize(grantFor('ada@zylker.example'), { findUser: true })
    expect(again.id).toBe(ada.id)
    expect(emulator.counts.exchange).toBe(2)
    const updated = (await store.findTokenById(ada.id!))!
    expect(updated.refreshToken).not.toBe(stored.refreshToken)
    expect(updated.grantToken).toBeUndefined()
    expect(await store.getTokens()).toHaveLength(2)

    // Without findUser, the new tokens name the row: a new one, never the one holding the code.
    const anonymous = await initialize(grantFor('grace@zylker.example'))
    expect([ada.id, planted.id]).not.toContain(anonymous.id)
    expect((await snapshot(store)).filter((t) => t.id === planted.id)).toEqual(graceBefore)
  })

  it('the default still reuses a stored code, as server-side apps with the code in their configuration expect', async () => {
    const { emulator, grantFor, initialize } = await setup()
    const store = new MemoryStore()
    const token = grantFor('ada@zylker.example')
    const first = await initialize(token, store)
    const second = await Initializer.initialize({
      environment: emulator.environment,
      token: token.clone(),
      store,
      exchange: 'reuse-stored',
    })
    expect(second.id).toBe(first.id)
    expect(emulator.counts.exchange).toBe(1)
  })

  it('refuses an unknown exchange value, an unknown option, and always without a code', async () => {
    const { emulator, grantFor } = await setup()
    const store = new MemoryStore()
    const base = { environment: emulator.environment, store }
    await expect(
      Initializer.initialize({
        ...base,
        token: grantFor('ada@zylker.example'),
        exchange: 'sometimes' as never,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'exchange' })
    await expect(
      Initializer.initialize({
        ...base,
        token: grantFor('ada@zylker.example'),
        alwaysExchange: true,
      } as never),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'alwaysExchange' })
    await expect(
      Initializer.initialize({
        ...base,
        token: new OAuthToken({ userSignature: new UserSignature('ada@zylker.example') }),
        exchange: 'always',
      }),
    ).rejects.toMatchObject({ code: 'MANDATORY_VALUE_ERROR' })
    expect(emulator.counts.exchange).toBe(0)
    expect(await store.getTokens()).toEqual([])
  })
})
