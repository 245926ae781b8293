// Accounts-server faults at the two moments a session talks to the token endpoint: the grant
// exchange in Initializer.initialize, and the refresh in getAccessToken once the injected clock
// has passed the expiry. For every fault the emulator can inject: transient ones are retried
// (and, past `retries`, become a typed error), definite ones are a typed error at once; no error
// shows a secret; the stored token is never changed or lost by a failure; and the next call,
// once the fault has cleared, succeeds. Each case prints one line: the fault table.
import Database from 'better-sqlite3'
import { chmodSync, readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import {
  FileStore,
  Initializer,
  InvalidResponseError,
  InvalidTokenError,
  NetworkError,
  OAuthToken,
  RateLimitError,
  SDKException,
  ServerError,
  TimeoutError,
  UserSignature,
  type OAuthTokenInit,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { COLUMNS } from '../../src/store/rows.ts'
import { decodeHealth, supportsHealth } from '../../src/health.ts'
import { startAccountsEmulator, type EmulatorFault } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { errorTexts } from '../helpers/leak-capture.ts'

const dir = scratchDir('tokenkeeper-faults-')
const RETRIES = 2
const HOUR = 3_600_000

/** Registers a clean-up for the end of the running test (vitest's onTestFinished). */
type OnFinished = (cleanup: () => Promise<void>) => void

/** The fault table, printed once more at the end in order. */
const table: string[] = []
function report(line: string): void {
  table.push(line)
  console.log(line)
}
afterAll(() => {
  console.log(`fault table (${table.length} cases):\n${table.join('\n')}`)
})

type Moment = 'exchange' | 'refresh'
type StoreKind = 'FileStore' | 'SQLiteStore'

interface Expected {
  /** A fault worth another try: injected once it is retried, past `retries` it is `code`. */
  transient: boolean
  code: string
  type: abstract new (...args: never[]) => SDKException
}

/**
 * What each fault must give. The emulator's `html` fault is an HTML page with HTTP 502, as a
 * proxy in front of the server answers: an HTTP 5xx, which the README says is retried, so it is
 * transient here. `html-200` is the same page with HTTP 200 (its status rewritten by an injected
 * fetch), the case where HTML can only be a definite INVALID_RESPONSE.
 */
const FAULTS: Record<EmulatorFault | 'html-200', Expected> = {
  http500: { transient: true, code: 'SERVER_ERROR', type: ServerError },
  http503: { transient: true, code: 'SERVER_ERROR', type: ServerError },
  http429: { transient: true, code: 'RATE_LIMIT_ERROR', type: RateLimitError },
  hang: { transient: true, code: 'TIMEOUT_ERROR', type: TimeoutError },
  reset: { transient: true, code: 'NETWORK_ERROR', type: NetworkError },
  html: { transient: true, code: 'SERVER_ERROR', type: ServerError },
  'malformed-json': { transient: false, code: 'INVALID_RESPONSE', type: InvalidResponseError },
  'html-200': { transient: false, code: 'INVALID_RESPONSE', type: InvalidResponseError },
  'error-body': { transient: false, code: 'INVALID_TOKEN_ERROR', type: InvalidTokenError },
  'no-access-token': { transient: false, code: 'INVALID_RESPONSE', type: InvalidResponseError },
}
type FaultKind = keyof typeof FAULTS

/** An emulator, a clock both it and the sessions read, a real store in the scratch dir. */
async function setup(kind: FaultKind, storeKind: StoreKind, onFinished: OnFinished) {
  const clock = { now: Date.now() }
  const emulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
    now: () => clock.now,
  })
  const path = scratchPath(dir, storeKind === 'FileStore' ? 'tokens.txt' : 'tokens.db')
  const store: TokenStore =
    storeKind === 'FileStore' ? new FileStore(path) : new SQLiteStore({ path })
  // Per test, not afterEach: the 429 cases run concurrently.
  onFinished(async () => {
    await store.close?.()
    await emulator.close()
  })
  const client = emulator.clients[0]!
  // html-200: the emulator's HTML page (an injected `html` fault) delivered with HTTP 200.
  let rewrite = false
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const response = await globalThis.fetch(input, init)
    if (!rewrite || response.status !== 502) return response
    return new Response(await response.text(), { status: 200, headers: response.headers })
  }
  const inject = (on: Moment, times: number) => {
    rewrite = kind === 'html-200'
    emulator.fail(kind === 'html-200' ? 'html' : kind, { on, times })
  }
  const grantFor = (user: string, extra: Partial<OAuthTokenInit> = {}) =>
    new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: emulator.issueGrantCode({ user }),
      redirectUrl: 'http://127.0.0.1/callback',
      userSignature: new UserSignature(user),
      ...extra,
    })
  const initialize = (token: OAuthToken) =>
    Initializer.initialize({
      environment: emulator.environment,
      token,
      store,
      config: {
        now: () => clock.now,
        fetch,
        retries: RETRIES,
        retryDelayMs: 1,
        // Small for the hang, so that it times out quickly; roomy otherwise.
        requestTimeoutMs: kind === 'hang' ? 200 : 5_000,
      },
    })
  /** The stored rows exactly as the backend holds them, and as findTokenById reads them. */
  const snapshot = async () => {
    const raw =
      storeKind === 'FileStore'
        ? readFileSync(path).toString('base64')
        : JSON.stringify(readSqlite(path))
    const tokens = await store.getTokens()
    const rows = await Promise.all(tokens.map((t) => store.findTokenById(t.id!)))
    return {
      raw,
      rows: rows.map((t) => fieldsOf(t!)).sort((a, b) => String(a.id).localeCompare(String(b.id))),
    }
  }
  return { emulator, clock, store, client, grantFor, initialize, inject, snapshot }
}

function readSqlite(path: string): unknown[] {
  const db = new Database(path, { readonly: true })
  try {
    // The token's own columns: the health column beside them records the failure (checked apart).
    return db.prepare(`SELECT ${COLUMNS.join(', ')} FROM oauthtoken ORDER BY id`).all()
  } finally {
    db.close()
  }
}

/** Every field of a token, secrets included, as plain data for comparison. */
function fieldsOf(token: OAuthToken): Record<string, unknown> {
  const { userSignature, ...rest } = token.fields()
  return { ...rest, userName: userSignature?.name }
}

/** The error of a promise that must fail. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure, but the call succeeded')
    },
    (err: unknown) => err,
  )
}

/** Checks the error: its class, code, and that nothing of it shows a secret. */
function checkError(err: unknown, expected: Expected, secrets: (string | undefined)[]): void {
  expect(err).toBeInstanceOf(SDKException)
  expect(err).toBeInstanceOf(expected.type)
  expect((err as SDKException).code).toBe(expected.code)
  const texts = errorTexts(err)
  for (const secret of secrets.filter((s): s is string => typeof s === 'string')) {
    for (const text of texts) expect(text).not.toContain(secret)
  }
}

const STORE_KINDS: StoreKind[] = ['FileStore', 'SQLiteStore']

/**
 * Every case of one moment: each fault, on each store, once and (transient ones) past the
 * retries. The 429 cases wait the server's Retry-After (1 s) per retry: they run concurrently.
 */
const CASES = (Object.entries(FAULTS) as [FaultKind, Expected][]).flatMap(([kind, expected]) =>
  STORE_KINDS.flatMap((storeKind) =>
    (expected.transient ? [1, RETRIES + 1] : [1]).map((times) => ({
      kind,
      expected,
      storeKind,
      times,
      test: kind === 'http429' ? it.concurrent : it,
    })),
  ),
)

describe('accounts-server faults at the grant exchange (Initializer.initialize)', () => {
  for (const { kind, expected, storeKind, times, test } of CASES) {
    test(`${kind} x${times} [${storeKind}]`, async ({ onTestFinished }) => {
      const { emulator, store, client, grantFor, initialize, inject, snapshot } = await setup(
        kind,
        storeKind,
        onTestFinished,
      )
      // Another user's row is already there: it must come out of every failure untouched.
      await store.saveToken(
        new OAuthToken({
          userSignature: new UserSignature('grace@zylker.example'),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          refreshToken: '1000.grace-refresh-token-kept-as-it-is',
          accessToken: '1000.grace-access-token-kept-as-it-is',
          expiryTime: Date.now() + HOUR,
        }),
      )
      const before = await snapshot()
      const token = grantFor('ada@zylker.example')
      inject('exchange', times)
      emulator.resetCounts()

      if (expected.transient && times <= RETRIES) {
        const session = await initialize(token)
        expect(emulator.counts.exchange).toBe(times + 1)
        expect(emulator.counts.faults).toBe(times)
        const stored = (await store.findTokenById(session.id!))!
        expect(emulator.isValid(stored.refreshToken!)).toBe(true)
        expect(stored.accessToken).toBe(await session.getAccessToken())
        expect((await snapshot()).rows).toContainEqual(before.rows[0])
        report(`fault exchange ${kind} x${times} [${storeKind}]: retried ${times}x, ok`)
        return
      }

      const err = await failure(initialize(token))
      checkError(err, expected, [client.clientSecret, token.grantToken])
      const attempts = expected.transient ? RETRIES + 1 : 1
      expect(emulator.counts.exchange).toBe(attempts)
      expect(emulator.counts.faults).toBe(attempts)
      if (kind === 'http429') expect((err as RateLimitError).retryAfterMs).toBe(1000)
      if (kind === 'error-body') {
        expect((err as InvalidTokenError).serverError).toBe('internal_error')
      }
      // Nothing stored, nothing changed, byte for byte.
      expect(await snapshot()).toEqual(before)

      // The fault has cleared: the same code (never spent) now gives a session.
      const session = await initialize(token.clone())
      expect(emulator.counts.exchange).toBe(attempts + 1)
      expect(emulator.isValid(await session.getAccessToken())).toBe(true)
      expect((await snapshot()).rows).toHaveLength(2)
      report(
        `fault exchange ${kind} x${times} [${storeKind}]: ` +
          `${expected.transient ? `retried ${RETRIES}x, then` : 'no retry,'} ${(err as SDKException).code}; ` +
          'store unchanged; next initialize ok',
      )
    })
  }
})

describe('accounts-server faults at the refresh (getAccessToken after expiry)', () => {
  for (const { kind, expected, storeKind, times, test } of CASES) {
    test(`${kind} x${times} [${storeKind}]`, async ({ onTestFinished }) => {
      const { emulator, clock, store, client, grantFor, initialize, inject, snapshot } =
        await setup(kind, storeKind, onTestFinished)
      const session = await initialize(grantFor('ada@zylker.example'))
      const first = await session.getAccessToken()
      clock.now += 2 * HOUR // past the expiry, for the sessions and the emulator alike
      const before = await snapshot()
      const stored = (await store.findTokenById(session.id!))!
      const inMemory = fieldsOf(session.token)
      inject('refresh', times)
      emulator.resetCounts()

      if (expected.transient && times <= RETRIES) {
        const fresh = await session.getAccessToken()
        expect(fresh).not.toBe(first)
        expect(emulator.counts.refresh).toBe(times + 1)
        expect(emulator.counts.faults).toBe(times)
        expect(emulator.isValid(fresh)).toBe(true)
        const after = (await store.findTokenById(session.id!))!
        expect(after.accessToken).toBe(fresh)
        expect(after.refreshToken).toBe(stored.refreshToken)
        expect(after.expiryTime).toBe(clock.now + HOUR)
        report(`fault refresh ${kind} x${times} [${storeKind}]: retried ${times}x, ok`)
        return
      }

      const err = await failure(session.getAccessToken())
      checkError(err, expected, [
        client.clientSecret,
        stored.grantToken,
        stored.refreshToken,
        stored.accessToken,
      ])
      const attempts = expected.transient ? RETRIES + 1 : 1
      expect(emulator.counts.refresh).toBe(attempts)
      expect(emulator.counts.faults).toBe(attempts)
      if (kind === 'http429') expect((err as RateLimitError).retryAfterMs).toBe(1000)
      // The row is byte for byte what it was, and so is the session's own token.
      expect(await snapshot()).toEqual(before)
      expect(fieldsOf(session.token)).toEqual(inMemory)
      expect(emulator.isValid(stored.refreshToken!)).toBe(true)
      // Where the store keeps token health, the failure is recorded: failing, with its code.
      if (supportsHealth(store)) {
        const health = decodeHealth(stored, (await store.findHealth([stored.id!])).get(stored.id!))
        expect(health).toMatchObject({
          state: 'failing',
          attempts: 1,
          lastErrorCode: expected.code,
        })
      }

      // The fault has cleared: the next call refreshes, once, and saves.
      const fresh = await session.getAccessToken()
      expect(emulator.counts.refresh).toBe(attempts + 1)
      expect(emulator.isValid(fresh)).toBe(true)
      const after = (await store.findTokenById(session.id!))!
      expect(after.accessToken).toBe(fresh)
      expect(after.refreshToken).toBe(stored.refreshToken)
      expect(after.grantToken).toBe(stored.grantToken)
      report(
        `fault refresh ${kind} x${times} [${storeKind}]: ` +
          `${expected.transient ? `retried ${RETRIES}x, then` : 'no retry,'} ${(err as SDKException).code}; ` +
          'row unchanged; next getAccessToken ok',
      )
    })
  }
})

describe('a store fault at the refresh, with refresh-token rotation', () => {
  // After a refresh whose save fails, the session holds the only refresh token the server
  // still accepts (rotation): the next refresh must start from it, not from the stored row.
  it('keeps the rotated refresh token when the save fails, and the next refresh succeeds', async ({
    onTestFinished,
  }) => {
    const clock = { now: Date.now() }
    const emulator = await startAccountsEmulator({
      rotateRefreshTokens: true,
      now: () => clock.now,
    })
    const client = emulator.clients[0]!
    const path = scratchPath(dir, 'rotation.txt')
    const store = new FileStore(path)
    onTestFinished(async () => {
      await store.close()
      await emulator.close()
    })
    const session = await Initializer.initialize({
      environment: emulator.environment,
      token: new OAuthToken({
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: emulator.issueGrantCode(),
      }),
      store,
      config: { now: () => clock.now, retryDelayMs: 1 },
    })
    chmodSync(path, 0o400)
    clock.now += 2 * HOUR
    await expect(session.getAccessToken()).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'saveToken',
    })
    const rotated = session.token.refreshToken!
    expect(emulator.isValid(rotated)).toBe(true) // kept in memory, as the comment promises
    chmodSync(path, 0o600) // the store is writable again
    clock.now += 2 * HOUR
    const err = await session.getAccessToken().then(
      () => undefined,
      (e: unknown) => e,
    )
    console.log(
      `store fault refresh read-only FileStore, rotation on: next refresh ${
        err === undefined
          ? 'ok'
          : `${(err as SDKException).code} ${(err as InvalidTokenError).serverError}; rotated refresh token ${emulator.isValid(rotated) ? 'still valid' : 'revoked'}`
      }`,
    )
    expect(err).toBeUndefined()
    expect(emulator.isValid((await store.findTokenById(session.id!))!.refreshToken!)).toBe(true)
  })
})
