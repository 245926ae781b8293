// What a refresh records of a token's health (refresh/health-changes.ts): each failure's state,
// attempts, backoff and code; a recovery; the events and the owner's callback of each change of
// state, and none without one; a store that cannot save; a store that keeps no health.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryStore, OAuthToken, UserSignature } from '../../src/index.ts'
import {
  InvalidResponseError,
  InvalidTokenError,
  MandatoryValueError,
  NetworkError,
  RateLimitError,
  ReauthRequiredError,
  ServerError,
  TimeoutError,
} from '../../src/errors.ts'
import { channel, type TokenEventName } from '../../src/events.ts'
import { ACTIVE, backoffMs, decodeHealth, type TokenHealth } from '../../src/health.ts'
import { SafeLog } from '../../src/log.ts'
import type { RefreshContext } from '../../src/refresh/coordinator.ts'
import {
  changeHealth,
  readHealth,
  recordFailure,
  recordRecovery,
  type HealthChange,
} from '../../src/refresh/health-changes.ts'
import type { TokenStore } from '../../src/store.ts'

const NOW = 1_700_000_000_000
const EVENTS: TokenEventName[] = ['token.failing', 'token.recovered', 'token.reauthRequired']

let events: { name: string; event: unknown }[]
const listeners = EVENTS.map((name) => {
  const listener = (event: unknown): void => {
    events.push({ name, event })
  }
  return { name, listener }
})
beforeEach(() => {
  events = []
  for (const { name, listener } of listeners) channel(name).subscribe(listener)
})
afterEach(() => {
  for (const { name, listener } of listeners) channel(name).unsubscribe(listener)
})

interface Setup {
  store: TokenStore
  token: OAuthToken
  context: RefreshContext
  changes: HealthChange[]
  warnings: string[]
  infos: string[]
}

async function setUp(store: TokenStore = new MemoryStore()): Promise<Setup> {
  const token = new OAuthToken({
    userSignature: new UserSignature('ada@zylker.example'),
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: '1000.refresh.abc',
    accessToken: '1000.access.abc',
    expiryTime: NOW - 1000,
  })
  await store.saveToken(token)
  const changes: HealthChange[] = []
  const warnings: string[] = []
  const infos: string[] = []
  const logger = {
    debug: () => undefined,
    info: (line: string) => {
      infos.push(line)
    },
    warn: (line: string) => {
      warnings.push(line)
    },
    error: () => undefined,
  }
  const context: RefreshContext = {
    store,
    // What a failure records needs no accounts server: nothing here sends a request.
    client: { refresh: () => Promise.reject(new Error('no request is sent here')) },
    log: new SafeLog(logger),
    now: () => NOW,
    refreshSkewMs: 60_000,
    lockTimeoutMs: 1000,
    onHealthChange: (change) => changes.push(change),
  }
  return { store, token, context, changes, warnings, infos }
}

/** The six methods of the official interface, bound to `store`: a store that keeps no health. */
function methodsOf(store: MemoryStore): Partial<TokenStore> {
  return {
    findToken: store.findToken.bind(store),
    findTokenById: store.findTokenById.bind(store),
    saveToken: store.saveToken.bind(store),
    deleteToken: store.deleteToken.bind(store),
    getTokens: store.getTokens.bind(store),
    deleteTokens: store.deleteTokens.bind(store),
  }
}

const stored = async ({ store, token }: Setup): Promise<TokenHealth> =>
  decodeHealth(token, (await (store as MemoryStore).findHealth([token.id!])).get(token.id!))

describe('recordFailure', () => {
  it('a refresh token refused for good: reauth_required, one event, the server error as cause', async () => {
    const s = await setUp()
    const refused = new InvalidTokenError('invalid_grant', 'refused', { status: 400 })
    const previous: TokenHealth = { ...ACTIVE, attempts: 2 }
    const thrown = await recordFailure(s.context, s.token, previous, refused)
    expect(thrown).toBeInstanceOf(ReauthRequiredError)
    expect((thrown as ReauthRequiredError).cause).toBe(refused)
    const health: TokenHealth = {
      state: 'reauth_required',
      attempts: 3,
      lastErrorCode: 'invalid_grant',
      since: NOW,
    }
    expect(await stored(s)).toEqual(health)
    expect(events).toEqual([
      {
        name: 'token.reauthRequired',
        event: { id: s.token.id, user: 'ada@zylker.example', code: 'invalid_grant' },
      },
    ])
    expect(s.changes).toEqual([
      { id: s.token.id, user: 'ada@zylker.example', previous, health: { ...health } },
    ])
    expect(s.warnings).toEqual([
      `the refresh token was refused for good: the user must sign in again id="${s.token.id}" user="ada@zylker.example"`,
    ])
  })

  it('every failure of the request that may pass makes the token failing, with its code', async () => {
    const failures = [
      new NetworkError('down'),
      new TimeoutError('slow'),
      new ServerError('503', 503),
      new RateLimitError('429'),
      new InvalidResponseError('not json', 200),
      new InvalidTokenError('invalid_client', 'bad client', { status: 400 }),
    ]
    for (const err of failures) {
      events = []
      const s = await setUp()
      // The count starts again at 1 unless the token was failing already.
      const active: TokenHealth = { ...ACTIVE, attempts: 5 }
      expect(await recordFailure(s.context, s.token, active, err)).toBe(err)
      const health = await stored(s)
      expect(health, err.code).toEqual({
        state: 'failing',
        attempts: 1,
        nextAttemptAt: NOW + backoffMs(1),
        lastErrorCode: err.code,
        since: NOW,
      })
      expect(events).toEqual([
        {
          name: 'token.failing',
          event: {
            id: s.token.id,
            user: 'ada@zylker.example',
            attempts: 1,
            code: err.code,
            nextAttemptAt: NOW + 30_000,
          },
        },
      ])
    }
  })

  it('failing again: attempts count up, since stays, no new event; a rate limit waits as long as asked', async () => {
    const s = await setUp()
    const first: TokenHealth = {
      state: 'failing',
      attempts: 2,
      nextAttemptAt: NOW - 1,
      lastErrorCode: 'NETWORK_ERROR',
      since: NOW - 90_000,
    }
    await recordFailure(s.context, s.token, first, new ServerError('503', 503))
    expect(await stored(s)).toEqual({
      state: 'failing',
      attempts: 3,
      nextAttemptAt: NOW + backoffMs(3),
      lastErrorCode: 'SERVER_ERROR',
      since: NOW - 90_000,
    })
    expect(events).toEqual([])
    expect(s.changes).toHaveLength(0)
    // Asked for longer than the backoff: the longer wait; asked for less: the backoff.
    await recordFailure(s.context, s.token, first, new RateLimitError('429', 3_600_000))
    expect((await stored(s)).nextAttemptAt).toBe(NOW + 3_600_000)
    await recordFailure(s.context, s.token, first, new RateLimitError('429', 1))
    expect((await stored(s)).nextAttemptAt).toBe(NOW + backoffMs(3))
  })

  it("an error that is not the server's leaves the health as it is", async () => {
    const s = await setUp()
    const err = new MandatoryValueError('no refresh token')
    expect(await recordFailure(s.context, s.token, ACTIVE, err)).toBe(err)
    expect(await (s.store as MemoryStore).findHealth([s.token.id!])).toEqual(new Map())
    expect(events).toEqual([])
  })
})

describe('recordRecovery and changeHealth', () => {
  it('a recovery clears the record, tells once, and keeps a recorded use', async () => {
    const s = await setUp()
    const failing: TokenHealth = {
      state: 'failing',
      attempts: 4,
      nextAttemptAt: NOW,
      lastErrorCode: 'SERVER_ERROR',
      since: NOW - 5000,
    }
    await recordRecovery(s.context, s.token, failing)
    expect(await (s.store as MemoryStore).findHealth([s.token.id!])).toEqual(new Map())
    expect(events).toEqual([
      { name: 'token.recovered', event: { id: s.token.id, user: 'ada@zylker.example' } },
    ])
    expect(s.changes.map((c) => c.health)).toEqual([{ ...ACTIVE, since: NOW }])
    expect(s.infos).toEqual([
      `the token refreshes again id="${s.token.id}" user="ada@zylker.example"`,
    ])
    await recordRecovery(s.context, s.token, { ...failing, lastUsedAt: 77 })
    expect(await stored(s)).toEqual({ ...ACTIVE, since: NOW, lastUsedAt: 77 })
  })

  it('a store that cannot save: the change is still told, and a warning names its code', async () => {
    const base = new MemoryStore()
    const broken = {
      ...methodsOf(base),
      findHealth: base.findHealth.bind(base),
      saveHealth: () => Promise.reject(Object.assign(new Error('disk full'), { code: 'ENOSPC' })),
    } as TokenStore
    const s = await setUp(broken)
    await changeHealth(s.context, s.token, ACTIVE, { ...ACTIVE, state: 'failing', since: NOW })
    // The error's code shows: a field named `code` would be taken for an OAuth code and redacted.
    expect(s.warnings).toEqual([
      `the token health could not be saved id="${s.token.id}" errorCode="ENOSPC"`,
    ])
    expect(events.map((e) => e.name)).toEqual(['token.failing'])
    expect(events[0]!.event).toMatchObject({ code: 'UNKNOWN', nextAttemptAt: 0 })
    // A thrown value without a code is named UNKNOWN.
    const odd = { ...broken, saveHealth: () => Promise.reject(new Error('no code')) } as TokenStore
    await changeHealth({ ...s.context, store: odd }, s.token, ACTIVE, ACTIVE)
    expect(s.warnings.at(-1)).toBe(
      `the token health could not be saved id="${s.token.id}" errorCode="UNKNOWN"`,
    )
  })

  it('a store that keeps no health: read as active, nothing written, the change still told', async () => {
    const base = new MemoryStore()
    const bare = methodsOf(base) as TokenStore
    const s = await setUp(bare)
    s.token.userSignature = undefined
    expect(await readHealth(bare, s.token)).toBe(ACTIVE)
    expect(await readHealth(base, new OAuthToken({ accessToken: 'no id' }))).toBe(ACTIVE)
    const health: TokenHealth = { state: 'reauth_required', attempts: 1, since: NOW }
    await changeHealth(s.context, s.token, ACTIVE, health)
    expect(events).toEqual([
      {
        name: 'token.reauthRequired',
        event: { id: s.token.id, user: undefined, code: 'UNKNOWN' },
      },
    ])
    expect(await base.findHealth([s.token.id!])).toEqual(new Map())
    // Nothing was tried: no warning of a failed save.
    expect(s.warnings).toEqual([])
  })

  it('readHealth reads what was stored', async () => {
    const s = await setUp()
    const health: TokenHealth = { state: 'reauth_required', attempts: 1, since: NOW - 1 }
    await changeHealth(s.context, s.token, ACTIVE, health)
    expect(await readHealth(s.store, s.token)).toEqual(health)
  })
})
