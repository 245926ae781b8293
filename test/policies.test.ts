// Cleanup policies and central revocation against the emulator, and the events an operator sees.
import diagnostics from 'node:diagnostics_channel'
import { afterEach, describe, expect, it } from 'vitest'
import {
  DataCenter,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  purgeTokens,
  revokeTokens,
  type TokenEventName,
} from '../src/index.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'
import { scratchDir, scratchPath } from './helpers/common.ts'

const dir = scratchDir()
const emulators: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()))
})

const HOUR = 3_600_000

describe('purgeTokens', () => {
  it('deletes idle, expired and grant-only rows, each on request, and reports the ids', async () => {
    const now = Date.UTC(2026, 10, 23)
    const store = new SQLiteStore({ path: scratchPath(dir, 'purge.db') })
    const make = (user: string, extra: ConstructorParameters<typeof OAuthToken>[0]) =>
      new OAuthToken({
        userSignature: new UserSignature(user),
        clientId: 'c',
        clientSecret: 's',
        ...extra,
      })
    const fresh = make('fresh', { refreshToken: 'r1', accessToken: 'a1', expiryTime: now + HOUR })
    const expired = make('expired', {
      refreshToken: 'r2',
      accessToken: 'a2',
      expiryTime: now - HOUR,
    })
    const idle = make('idle', {
      refreshToken: 'r3',
      accessToken: 'a3',
      expiryTime: now - 40 * 24 * HOUR,
    })
    const grantOnly = make('grant-only', { grantToken: '1000.spent' })
    for (const t of [fresh, expired, idle, grantOnly]) await store.saveToken(t)

    expect((await purgeTokens(store, { idleMs: 30 * 24 * HOUR, now: () => now })).deleted).toEqual([
      idle.id,
    ])
    expect((await purgeTokens(store, { grantOnly: true, now: () => now })).deleted).toEqual([
      grantOnly.id,
    ])
    expect((await purgeTokens(store, { expired: true, now: () => now })).deleted).toEqual([
      expired.id,
    ])
    expect((await store.getTokens()).map((t) => t.id)).toEqual([fresh.id])
    await expect(purgeTokens(store, {})).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'options',
    })
    await expect(purgeTokens(store, { idleMs: -1 })).rejects.toMatchObject({ argument: 'idleMs' })
    await expect(purgeTokens('store' as never, { expired: true })).rejects.toMatchObject({
      argument: 'store',
    })
    await store.close()
  })
})

describe('revokeTokens', () => {
  it("revokes a user's or a client's tokens at the accounts server, then deletes them", async () => {
    const emulator = await startAccountsEmulator({
      users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
      clients: [
        { clientId: '1000.CLIENTA', clientSecret: 'secret-a' },
        { clientId: '1000.CLIENTB', clientSecret: 'secret-b' },
      ],
    })
    emulators.push(emulator)
    const store = new MemoryStore()
    const start = (user: string, clientId: string, clientSecret: string) =>
      Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({
          userSignature: new UserSignature(`${user}/${clientId}`),
          clientId,
          clientSecret,
          grantToken: emulator.issueGrantCode({ clientId, user }),
        }),
      })
    await start('ada@zylker.example', '1000.CLIENTA', 'secret-a')
    await start('grace@zylker.example', '1000.CLIENTA', 'secret-a')
    await start('ada@zylker.example', '1000.CLIENTB', 'secret-b')
    const before = await store.getTokens()
    const refreshOf = (user: string) =>
      before.find((t) => t.userSignature?.name === user)!.refreshToken!

    const byUser = await revokeTokens(store, {
      environment: emulator.environment,
      userName: 'ada@zylker.example/1000.CLIENTB',
    })
    expect(byUser.revoked).toHaveLength(1)
    expect(emulator.isValid(refreshOf('ada@zylker.example/1000.CLIENTB'))).toBe(false)

    const byClient = await revokeTokens(store, {
      environment: emulator.environment,
      clientId: '1000.CLIENTA',
    })
    expect(byClient).toEqual({ revoked: expect.any(Array) as unknown, failed: [], kept: [] })
    expect(byClient.revoked).toHaveLength(2)
    expect(emulator.isValid(refreshOf('ada@zylker.example/1000.CLIENTA'))).toBe(false)
    expect(emulator.isValid(refreshOf('grace@zylker.example/1000.CLIENTA'))).toBe(false)
    expect(await store.getTokens()).toEqual([])
    expect(emulator.counts.revoke).toBe(3)
  })

  it('keeps the rows the server could not revoke, and says which', async () => {
    const emulator = await startAccountsEmulator()
    emulators.push(emulator)
    const store = new MemoryStore()
    const client = emulator.clients[0]!
    await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: emulator.issueGrantCode(),
        userSignature: new UserSignature('ada'),
      }),
    })
    emulator.fail('html', { on: 'revoke', times: 5 }) // a 502 page, after every retry
    const result = await revokeTokens(store, {
      environment: emulator.environment,
      clientId: client.clientId,
    })
    expect(result.revoked).toEqual([])
    expect(result.failed).toEqual([{ id: (await store.getTokens())[0]!.id, code: 'SERVER_ERROR' }])
    expect(await store.getTokens()).toHaveLength(1)
    await expect(revokeTokens(store, { environment: emulator.environment })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
  })
})

describe('purgeTokens and revokeTokens under the leases', () => {
  const token = (name: string, expiryTime: number) =>
    new OAuthToken({
      userSignature: new UserSignature(name),
      clientId: '1000.CLIENT',
      clientSecret: 'secret',
      refreshToken: `refresh-${name}`,
      accessToken: `access-${name}`,
      expiryTime,
    })

  it('keeps a candidate whose lease stays held, and says so in busy', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'busy.db') })
    const held = token('held', Date.now() - HOUR)
    const free = token('free', Date.now() - HOUR)
    await store.saveToken(held)
    await store.saveToken(free)
    // Another process's handle holds the lease of one token, as a refresh in progress does.
    const other = new SQLiteStore({ path: store.path })
    const lock = await other.lockToken(held.id!)
    try {
      const result = await purgeTokens(store, { expired: true, lockTimeoutMs: 100 })
      expect(result).toEqual({ deleted: [free.id], kept: [], busy: [held.id] })
      expect(await store.findTokenById(held.id!)).not.toBeNull()
    } finally {
      await lock.release()
      await other.close()
    }
    await store.close()
  })

  it('keeps a token whose lease stays held, reported as failed, nothing sent', async () => {
    const emulator = await startAccountsEmulator()
    emulators.push(emulator)
    const store = new SQLiteStore({ path: scratchPath(dir, 'revoke-busy.db') })
    const held = token('ada', Date.now() + HOUR)
    await store.saveToken(held)
    const other = new SQLiteStore({ path: store.path })
    const lock = await other.lockToken(held.id!)
    try {
      const result = await revokeTokens(store, {
        environment: emulator.environment,
        userName: 'ada',
        lockTimeoutMs: 100,
      })
      expect(result).toEqual({
        revoked: [],
        failed: [{ id: held.id, code: 'TOKEN_STORE' }],
        kept: [],
      })
      expect(emulator.counts.revoke).toBe(0)
      expect(await store.findTokenById(held.id!)).not.toBeNull()
    } finally {
      await lock.release()
      await other.close()
    }
    await store.close()
  })

  it('refuses options they do not know, and a bad lockTimeoutMs', async () => {
    const store = new MemoryStore()
    await expect(purgeTokens(store, { expired: true, idle: 5 } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'idle',
    })
    await expect(purgeTokens(store, { expired: true, lockTimeoutMs: -1 })).rejects.toMatchObject({
      argument: 'lockTimeoutMs',
    })
    const environment = DataCenter.US.PRODUCTION // refused before anything is sent
    await expect(
      revokeTokens(store, { environment, userName: 'ada', user: 'ada' } as never),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'user' })
  })
})

describe('events', () => {
  it('publishes the lifecycle with ids and users and never a secret', async () => {
    const clock = { now: Date.now() }
    const emulator = await startAccountsEmulator({ now: () => clock.now })
    emulators.push(emulator)
    const seen: { name: TokenEventName; event: Record<string, unknown> }[] = []
    const names: TokenEventName[] = [
      'token.exchanged',
      'token.refreshed',
      'token.refresh_failed',
      'token.lock_waited',
      'token.saved',
      'token.revoked',
      'token.reused',
      'tokens.purged',
    ]
    const listeners = names.map((name) => {
      const listener = (event: unknown) =>
        seen.push({ name, event: event as Record<string, unknown> })
      diagnostics.subscribe(`tokenkeeper:${name}`, listener)
      return () => diagnostics.unsubscribe(`tokenkeeper:${name}`, listener)
    })
    try {
      const client = emulator.clients[0]!
      const store = new SQLiteStore({ path: scratchPath(dir, 'events.db') })
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          grantToken: emulator.issueGrantCode(),
          userSignature: new UserSignature('ada'),
        }),
        config: { now: () => clock.now },
      })
      // A second session on the same row, holding the token as it was before the refresh.
      const other = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({ id: session.id }),
        config: { now: () => clock.now },
      })
      clock.now += 2 * HOUR
      await session.getAccessToken()
      const refreshes = emulator.counts.refresh
      // It finds the token the first session refreshed: no request, and it says so.
      await other.getAccessToken()
      expect(emulator.counts.refresh).toBe(refreshes)
      expect(seen.filter((s) => s.name === 'token.reused')).toEqual([
        { name: 'token.reused', event: { id: session.id, user: 'ada' } },
      ])
      emulator.fail('http500', { on: 'refresh', times: 10 })
      clock.now += 2 * HOUR
      await expect(session.getAccessToken()).rejects.toMatchObject({ code: 'SERVER_ERROR' })
      const stored = (await store.findTokenById(session.id!))!
      emulator.resetCounts()
      await session.revoke()
      // The policies: one event per reason, with how many rows went.
      const old = (name: string, expiryTime: number) =>
        new OAuthToken({
          userSignature: new UserSignature(name),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          refreshToken: `1000.refresh.${name}`,
          expiryTime,
        })
      const idleSince = clock.now - 40 * 24 * HOUR
      for (const t of [
        old('idle1', idleSince),
        old('idle2', idleSince),
        old('expired', clock.now - HOUR),
      ])
        await store.saveToken(t)
      await store.saveToken(
        new OAuthToken({
          userSignature: new UserSignature('grant-only'),
          grantToken: '1000.spent',
        }),
      )
      await purgeTokens(store, { idleMs: 30 * 24 * HOUR, grantOnly: true, now: () => clock.now })
      await purgeTokens(store, { expired: true, now: () => clock.now })
      await store.saveToken(old('revoked', clock.now + HOUR))
      await revokeTokens(store, { environment: emulator.environment, userName: 'revoked' })
      expect(seen.filter((s) => s.name === 'tokens.purged').map((s) => s.event)).toEqual([
        { reason: 'idle', count: 2 },
        { reason: 'grant code only', count: 1 },
        { reason: 'expired', count: 1 },
        { reason: 'revoked', count: 1 },
      ])
      expect(await store.getTokens()).toEqual([])
      const kinds = seen.map((s) => s.name)
      for (const name of [
        'token.exchanged',
        'token.saved',
        'token.lock_waited',
        'token.refreshed',
        'token.refresh_failed',
        'token.revoked',
      ] as const) {
        expect(kinds).toContain(name)
      }
      expect(seen.find((s) => s.name === 'token.refreshed')!.event).toMatchObject({
        id: session.id,
        user: 'ada',
        durationMs: expect.any(Number) as unknown,
      })
      expect(seen.find((s) => s.name === 'token.refresh_failed')!.event).toMatchObject({
        code: 'SERVER_ERROR',
      })
      const text = JSON.stringify(seen)
      for (const secret of [
        stored.accessToken!,
        stored.refreshToken!,
        stored.grantToken!,
        client.clientSecret,
      ])
        expect(text).not.toContain(secret)
      await store.close()
    } finally {
      for (const stop of listeners) stop()
    }
  })
})

describe('revokeTokens sends each token only to the accounts server that issued it', () => {
  it('a token of another environment, or of none known, is kept, reported, and not sent', async () => {
    const emulator = await startAccountsEmulator()
    emulators.push(emulator)
    const store = new MemoryStore()
    const client = emulator.clients[0]!
    await signIn(emulator, { store, user: 'ada' })
    // Same client, but issued by Zoho's EU data center (its API domain says so).
    const eu = new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      refreshToken: '1000.eu-refresh-token',
      apiDomain: 'https://www.zohoapis.eu',
      userSignature: new UserSignature('grace'),
    })
    await store.saveToken(eu)

    // Given the emulator's environment: the EU token is refused; the emulator's is revoked.
    const fixed = await revokeTokens(store, {
      environment: emulator.environment,
      clientId: client.clientId,
    })
    expect(fixed.failed).toEqual([{ id: eu.id, code: 'ENVIRONMENT_MISMATCH' }])
    expect(fixed.revoked).toHaveLength(1)
    expect(emulator.counts.revoke).toBe(1)
    expect((await store.findTokenById(eu.id!))?.refreshToken).toBe('1000.eu-refresh-token')

    // Without one: the EU token goes to accounts.zoho.eu, nowhere else; an API domain that is
    // no Zoho data center's is refused.
    const stray = new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      refreshToken: '1000.stray-refresh-token',
      apiDomain: emulator.environment.accountsUrl,
      userSignature: new UserSignature('stray'),
    })
    await store.saveToken(stray)
    const sent: string[] = []
    // accounts.zoho.eu cannot be reached from here: this fetch answers as it does, and records.
    const zoho: typeof fetch = async (input) => {
      sent.push(new URL(input instanceof Request ? input.url : String(input)).origin)
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })
    }
    const own = await revokeTokens(store, { clientId: client.clientId, fetch: zoho })
    expect(sent).toEqual(['https://accounts.zoho.eu'])
    expect(own.revoked).toEqual([eu.id])
    expect(own.failed).toEqual([{ id: stray.id, code: 'ENVIRONMENT_UNKNOWN' }])
    expect(emulator.counts.revoke).toBe(1)
    expect((await store.getTokens()).map((t) => t.id)).toEqual([stray.id])
  })
})

describe('revokeTokens reads the server again under the lease', () => {
  /**
   * `store`, with a signal when a lease is asked for: the pass is over and the token's copy
   * taken, so a write now is one the pass cannot have seen.
   */
  function watchingLeases(store: SQLiteStore): { store: SQLiteStore; leaseAsked: Promise<void> } {
    let asked!: () => void
    const leaseAsked = new Promise<void>((resolve) => (asked = resolve))
    const watched = new Proxy(store, {
      get(target, key) {
        const value: unknown = Reflect.get(target, key, target)
        if (typeof value !== 'function') return value
        const method = value as (...args: unknown[]) => unknown
        if (key !== 'lockToken') return method.bind(target)
        return (...args: unknown[]) => {
          asked()
          return method.apply(target, args)
        }
      },
    })
    return { store: watched, leaseAsked }
  }

  /**
   * Ada's row is `before` when the pass sees it; while revokeTokens waits for its lease (held
   * here, as another process re-signing her in would), the row is rewritten by `change`. Gives
   * what revokeTokens did, and the row after.
   */
  async function changedMeanwhile(
    name: string,
    before: OAuthToken,
    change: (row: OAuthToken) => void,
    options: Omit<Parameters<typeof revokeTokens>[1], 'userName'>,
  ) {
    const mine = new SQLiteStore({ path: scratchPath(dir, `${name}.db`) })
    await mine.saveToken(before)
    const id = before.id!
    const other = new SQLiteStore({ path: mine.path })
    const lock = await other.lockToken(id)
    const { store, leaseAsked } = watchingLeases(mine)
    const revoking = revokeTokens(store, { ...options, userName: 'ada' })
    try {
      await leaseAsked
      const changed = (await other.findTokenById(id))!
      change(changed)
      await other.saveToken(changed)
    } finally {
      await lock.release()
    }
    const result = await revoking
    const row = await other.findTokenById(id)
    await other.close()
    await mine.close()
    return { result, row, id }
  }

  it('a row that now names another data center of the emulator is kept, nothing sent to the old one', async () => {
    const emulator = await startAccountsEmulator({ dataCenters: ['eu'] })
    emulators.push(emulator)
    const scratch = new MemoryStore()
    const ada = (await signIn(emulator, { store: scratch, user: 'ada' })).token
    const eu = emulator.dataCenter('eu').environment
    const { result, row, id } = await changedMeanwhile(
      'resigned-eu',
      ada,
      (row) => (row.apiDomain = eu.apiDomain),
      { environment: emulator.environment },
    )
    expect(emulator.counts.revoke).toBe(0)
    expect(emulator.dataCenter('eu').counts.revoke).toBe(0)
    expect(emulator.isValid(ada.refreshToken!)).toBe(true)
    expect(row?.apiDomain).toBe(eu.apiDomain)
    expect(result).toEqual({ revoked: [], failed: [], kept: [id] })
  })

  it('without an environment: a US row now of EU is kept, its refresh token sent nowhere', async () => {
    const sent: string[] = []
    // Zoho cannot be reached from here: this fetch answers as it does, and records.
    const zoho: typeof fetch = async (input) => {
      sent.push(new URL(input instanceof Request ? input.url : String(input)).origin)
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } })
    }
    const us = new OAuthToken({
      clientId: '1000.CLIENT',
      clientSecret: 'secret',
      refreshToken: '1000.us-refresh-token',
      apiDomain: 'https://www.zohoapis.com',
      userSignature: new UserSignature('ada'),
    })
    const { result, row, id } = await changedMeanwhile(
      'resigned-zoho',
      us,
      (row) => (row.apiDomain = 'https://www.zohoapis.eu'),
      { fetch: zoho },
    )
    expect(sent).toEqual([])
    expect(row?.refreshToken).toBe('1000.us-refresh-token')
    expect(result).toEqual({ revoked: [], failed: [], kept: [id] })
  })

  it('a row now of another user is kept and reported, not revoked', async () => {
    const emulator = await startAccountsEmulator()
    emulators.push(emulator)
    const ada = (await signIn(emulator, { store: new MemoryStore(), user: 'ada' })).token
    const { result, row, id } = await changedMeanwhile(
      'renamed',
      ada,
      (changed) => (changed.userSignature = new UserSignature('grace')),
      { environment: emulator.environment },
    )
    expect(emulator.counts.revoke).toBe(0)
    expect(row?.userSignature?.name).toBe('grace')
    expect(result).toEqual({ revoked: [], failed: [], kept: [id] })
  })
})
