// No secret leaks, proven: the whole token flow, every failure we can provoke and the example
// programs run through a harness that records every text tokenkeeper lets out, and every secret
// that existed on the way; then no secret may appear in any of those texts.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import type { Connection as MySqlConnection } from 'mysql2/promise'
import type { Client as PgClient } from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import {
  Environment,
  FileStore,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  createLogger,
  type Logger,
  type OAuthTokenInit,
  type Session,
  type TokenStore,
} from '../src/index.ts'
import { InvalidArgumentError, TokenStoreError, describeCause } from '../src/errors.ts'
import { SafeLog } from '../src/log.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import {
  EMULATOR_FAULTS,
  startAccountsEmulator,
  type AccountsEmulator,
} from '../src/testing/index.ts'
import { scratchDir, scratchPath } from './helpers/common.ts'
import { LeakCapture, errorTexts, fragmentsIn } from './helpers/leak-capture.ts'
import { describeWithService, SERVICES } from './helpers/services.ts'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '..')
const dir = scratchDir('tokenkeeper-leaks-')
const HOUR = 3_600_000
const USERS = ['ada@zylker.example', 'grace@zylker.example', 'linus@zylker.example']

/** One capture for the whole file: every test adds to it, the last one scans it. */
const capture = new LeakCapture()
const emulators: AccountsEmulator[] = []
afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()))
})

/** A token shaped like Zoho's, never issued by anyone: for the refused-code cases. */
function fakeZohoToken(): string {
  return `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`
}

/** The codes (or names) of the errors the steps met, to show that the failures really happened. */
const met = new Set<string>()

/** Runs a step that may fail; its error, whatever it is, goes to the capture. */
async function attempt<T>(source: string, step: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await step()
  } catch (err) {
    capture.error(source, err)
    const code = (err as { code?: unknown }).code
    met.add(typeof code === 'string' ? code : String((err as { name?: unknown }).name))
    return undefined
  }
}

/** Records what a session, its token and the store's rows show, and notes their secrets. */
async function see(source: string, session: Session | undefined, store: TokenStore): Promise<void> {
  if (session) {
    capture.object(`${source} session`, session)
    capture.object(`${source} session.token`, session.token)
    capture.tokenSecrets(session.token)
    capture.text(`${source} session.id`, String(session.id))
  }
  await attempt(`${source} store rows`, async () => {
    capture.object(`${source} store`, store)
    for (const token of await store.getTokens()) {
      capture.object(`${source} stored token`, token)
      capture.tokenSecrets(token)
      const again = await store.findTokenById(token.id!)
      if (again) capture.object(`${source} findTokenById`, again)
    }
  })
}

/** A logger that hands every line to all of the given ones. */
function tee(...loggers: Logger[]): Logger {
  const each =
    (level: keyof Logger) =>
    (message: string): void => {
      for (const logger of loggers) logger[level](message)
    }
  return { debug: each('debug'), info: each('info'), warn: each('warn'), error: each('error') }
}

/** Collects what is written to the process's standard error while `body` runs. */
async function withStderr(source: string, body: () => Promise<void>): Promise<void> {
  const original = process.stderr.write.bind(process.stderr)
  let written = ''
  process.stderr.write = (chunk: string | Uint8Array): boolean => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    return true
  }
  try {
    await body()
  } finally {
    process.stderr.write = original
    capture.text(source, written)
  }
}

type StoreKind = 'MemoryStore' | 'FileStore' | 'SQLiteStore'

/**
 * The whole flow on one store: grant exchanges (with the user look-up), switchUser, refreshes
 * (rotated), a 401 answered by a refresh and a retry, every fault at the exchange, the refresh,
 * the API and the revocation, refused codes and clients, argument errors carrying secrets, a
 * read-only FileStore, and revocations.
 */
async function flow(kind: StoreKind): Promise<void> {
  const clock = { now: Date.now() }
  const emulator = await startAccountsEmulator({
    users: USERS.map((email) => ({ email })),
    rotateRefreshTokens: true,
    // Both ways of answering errors: Zoho's HTTP 200 bodies and OAuth 2.0's 400s.
    errorStyle: kind === 'SQLiteStore' ? 'oauth2' : 'zoho',
    now: () => clock.now,
  })
  emulators.push(emulator)
  const client = emulator.clients[0]!
  const path = scratchPath(dir, kind === 'FileStore' ? 'tokens.txt' : 'tokens.db')
  const store: TokenStore =
    kind === 'MemoryStore'
      ? new MemoryStore()
      : kind === 'FileStore'
        ? new FileStore(path)
        : new SQLiteStore({ path })
  const logPath = scratchPath(dir, `${kind}.log`)
  // The flows run concurrently: one of them (alone) also logs to standard error, captured.
  const toStderr = kind === 'MemoryStore'
  const logger = tee(
    capture.logger(`${kind} logger`),
    createLogger({ level: 'debug', filePath: logPath }),
    createLogger({ level: toStderr ? 'debug' : 'off' }),
  )
  const fetch = capture.wireFetch()
  const config = { now: () => clock.now, fetch, retryDelayMs: 1, requestTimeoutMs: 400 }
  const initialize = (token: OAuthToken, extra: Record<string, unknown> = {}) =>
    Initializer.initialize({
      environment: emulator.environment,
      token,
      store,
      logger,
      config: { ...config, ...extra },
    })
  const grant = (user: string, extra: Partial<OAuthTokenInit> = {}) => {
    const code = emulator.issueGrantCode({ user })
    capture.secret(code)
    return new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: code,
      redirectUrl: 'http://127.0.0.1/callback',
      ...extra,
    })
  }
  const step = (name: string) => `${kind} ${name}`

  const steps = async (): Promise<void> => {
    // Grant exchange, with the user look-up; then a second user.
    const ada = await initialize(grant(USERS[0]!), { findUser: true, retries: 1 })
    await see(step('exchange'), ada, store)
    const grace = await ada.switchUser(
      grant(USERS[1]!, { userSignature: new UserSignature(USERS[1]!) }),
    )
    await see(step('switchUser'), grace, store)
    const leads = await attempt(step('api'), () => ada.fetch('/crm/v8/Leads'))
    expect(leads?.status).toBe(200)
    await leads?.body?.cancel()

    // Initialize again, by id: found in the store.
    await see(step('by id'), await initialize(new OAuthToken({ id: ada.id! })), store)

    // Refresh, with rotation: new access and refresh tokens.
    clock.now += 2 * HOUR
    await ada.getAccessToken()
    await grace.getAccessToken()
    await see(step('refresh'), ada, store)

    // A 401: the access token is revoked behind the session's back; fetch refreshes and retries.
    const stale = await ada.getAccessToken()
    await globalThis.fetch(emulator.environment.revokeUrl, {
      method: 'POST',
      body: new URLSearchParams({ token: stale }),
    })
    const retried = await ada.fetch('/crm/v8/Leads')
    expect(retried.status).toBe(200)
    await retried.body?.cancel()
    await see(step('401 retry'), ada, store)

    // Every fault at the refresh: once (transient ones are retried), then twice (past retries).
    const refresher = await initialize(new OAuthToken({ id: ada.id! }), { retries: 1 })
    for (const fault of EMULATOR_FAULTS) {
      for (const times of [1, 2]) {
        clock.now += 2 * HOUR
        emulator.fail(fault, { on: 'refresh', times })
        await attempt(step(`refresh ${fault} x${times}`), () => refresher.getAccessToken())
        await attempt(step(`refresh after ${fault}`), () => refresher.getAccessToken())
      }
    }
    await see(step('refresh faults'), refresher, store)

    // Every fault at the exchange, without retries. Zoho takes 10 grant codes per client in 10
    // minutes (a budget the store counts): each sign-in comes in a window of its own, so that
    // every fault is met by a request.
    for (const fault of EMULATOR_FAULTS) {
      clock.now += 10 * 60_000
      emulator.fail(fault, { on: 'exchange' })
      await see(
        step(`exchange ${fault}`),
        await attempt(step(`exchange ${fault}`), () =>
          initialize(grant(USERS[2]!), { retries: 0 }),
        ),
        store,
      )
    }

    // Every fault at the API (the session's own fetch) and at the revocation.
    for (const fault of EMULATOR_FAULTS) {
      emulator.fail(fault, { on: 'api' })
      const response = await attempt(step(`api ${fault}`), () => ada.fetch('/crm/v8/Leads'))
      await response?.body?.cancel()
    }
    for (const fault of EMULATOR_FAULTS) {
      clock.now += 10 * 60_000
      const session = await attempt(step(`revoke ${fault} session`), () =>
        ada.switchUser(grant(USERS[2]!)),
      )
      // Transient faults past the session's one retry (but 429: once, then retried); definite
      // ones once. Nothing is left over for the revocations that follow.
      const transient = ['http500', 'http503', 'hang', 'reset', 'html'].includes(fault)
      emulator.fail(fault, { on: 'revoke', times: transient ? 2 : 1 })
      await attempt(step(`revoke ${fault}`), () => session?.revoke())
      await attempt(step(`remove after ${fault}`), () => session?.remove())
    }

    // Refusals: a wrong client secret, unknown codes and refresh tokens; and a spent code
    // again (found in the store, not sent).
    const wrongSecret = `wrong-secret-${randomBytes(12).toString('hex')}`
    capture.secret(wrongSecret)
    await attempt(step('bad client secret, exchange'), () =>
      initialize(grant(USERS[2]!, { clientSecret: wrongSecret })),
    )
    const adaRow = (await store.findTokenById(ada.id!))!
    // A real refresh token with the wrong secret, on an empty store (so no row supplies one).
    await attempt(step('bad client secret, refresh'), () =>
      Initializer.initialize({
        environment: emulator.environment,
        token: new OAuthToken({
          clientId: client.clientId,
          clientSecret: wrongSecret,
          refreshToken: adaRow.refreshToken,
        }),
        store: new MemoryStore(),
        logger,
        config,
      }),
    )
    const refusals: [string, Partial<OAuthTokenInit>][] = [
      ['invalid code', { grantToken: fakeZohoToken() }],
      ['invalid refresh token', { refreshToken: fakeZohoToken() }],
      ['spent code again', { grantToken: adaRow.grantToken }],
    ]
    for (const [what, extra] of refusals) {
      capture.secret(extra.grantToken, extra.refreshToken)
      await attempt(step(what), () =>
        initialize(
          new OAuthToken({
            clientId: client.clientId,
            clientSecret: client.clientSecret,
            ...extra,
          }),
        ),
      )
    }
    // A refresh token revoked at the server: the refused refresh is checked against the store.
    const victim = await ada.switchUser(grant(USERS[2]!))
    const victimRow = (await store.findTokenById(victim.id!))!
    capture.tokenSecrets(victimRow)
    await globalThis.fetch(emulator.environment.revokeUrl, {
      method: 'POST',
      body: new URLSearchParams({ token: victimRow.refreshToken! }),
    })
    clock.now += 2 * HOUR
    expect(await attempt(step('revoked refresh token'), () => victim.getAccessToken())).toBe(
      undefined,
    )
    await attempt(step('revoked refresh token, fetch'), () => victim.fetch('/crm/v8/Leads'))
    await see(step('revoked refresh token'), victim, store)

    // Arguments that carry secrets to the wrong place.
    const secret = adaRow.accessToken!
    await attempt(
      step('expiryTime as a token'),
      () => new OAuthToken({ expiryTime: secret as never }),
    )
    await attempt(step('misspelt option'), () => new OAuthToken({ access_token: secret } as never))
    await attempt(
      step('clientId as a number'),
      () => new OAuthToken({ clientId: 42 as never, clientSecret: secret }),
    )
    await attempt(step('config with a token'), () =>
      initialize(new OAuthToken({ accessToken: secret }), { refreshSkewMs: secret }),
    )
    await attempt(step('fetch off the API domain'), () =>
      ada.fetch(`https://elsewhere.example/steal?token=${secret}`),
    )
    await attempt(step('refresh token without client'), () =>
      initialize(new OAuthToken({ refreshToken: adaRow.refreshToken })),
    )
    await attempt(step('a user twice'), () =>
      store.saveToken(
        new OAuthToken({
          id: 'Zz9Zz9Zz9Z',
          userSignature: new UserSignature(USERS[0]!),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          refreshToken: adaRow.refreshToken,
          accessToken: adaRow.accessToken,
        }),
      ),
    )

    // A read-only token file: the refresh works, its save fails.
    if (kind === 'FileStore') {
      const session = await initialize(new OAuthToken({ id: ada.id! }))
      chmodSync(path, 0o400)
      clock.now += 2 * HOUR
      await attempt(step('read-only file'), () => session.getAccessToken())
      await see(step('read-only file'), session, store)
      chmodSync(path, 0o600)
    }

    // Revocation, and what is left.
    await see(step('before revoke'), ada, store)
    await attempt(step('revoke'), () => ada.revoke())
    await attempt(step('revoke grace'), () => grace.revoke())
    await attempt(step('after revoke'), () => ada.getAccessToken())
    await see(step('end'), undefined, store)
    await store.close?.()
  }
  if (toStderr) await withStderr(`${kind} stderr logger`, steps)
  else await steps()

  capture.text(`${kind} log file`, readFileSync(logPath, 'utf8'))
  capture.emulatorSecrets(emulator)
}

/** Stores that cannot work, and an accounts server that is not there. */
async function brokenThings(): Promise<void> {
  const emulator = await startAccountsEmulator()
  emulators.push(emulator)
  const client = emulator.clients[0]!
  const logger = capture.logger('broken logger')
  const fetch = capture.wireFetch()
  const grant = () => {
    const code = emulator.issueGrantCode()
    capture.secret(code)
    return new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: code,
    })
  }
  const initialize = (
    store: TokenStore,
    token = grant(),
    environment = emulator.environment,
    viaFetch = fetch,
  ) =>
    Initializer.initialize({
      environment,
      token,
      store,
      logger,
      config: { fetch: viaFetch, retryDelayMs: 1, requestTimeoutMs: 500 },
    })

  const aDirectory = scratchPath(dir, 'a-directory')
  mkdirSync(aDirectory)
  const notADatabase = scratchPath(dir, 'not-a-database.db')
  const hidden = fakeZohoToken()
  capture.secret(hidden)
  writeFileSync(notADatabase, `this is not a database but it holds ${hidden}\n`.repeat(200))
  const noHeader = scratchPath(dir, 'no-header.txt')
  const badRow = scratchPath(dir, 'bad-row.txt')
  const rowSecrets = [fakeZohoToken(), fakeZohoToken(), fakeZohoToken(), 'row-client-secret-123']
  capture.secret(...rowSecrets)
  const [refresh, access, code, secret] = rowSecrets
  writeFileSync(
    noHeader,
    `AbCdE12345,ada@zylker.example,${client.clientId},${secret},${refresh},${access},${code},1,,\n`,
  )
  writeFileSync(
    badRow,
    'id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain\n' +
      `AbCdE12345,ada@zylker.example,${client.clientId},${secret},${refresh},"${access},${code},1,,\n`,
  )
  const stores: [string, () => TokenStore][] = [
    ['FileStore on a directory', () => new FileStore(aDirectory)],
    ['FileStore in a missing directory', () => new FileStore(join(aDirectory, 'no', 't.txt'))],
    ['FileStore without a header', () => new FileStore(noHeader)],
    ['FileStore with a broken row', () => new FileStore(badRow)],
    ['SQLiteStore on a directory', () => new SQLiteStore({ path: aDirectory })],
    ['SQLiteStore on a file that is not a database', () => new SQLiteStore({ path: notADatabase })],
    [
      'SQLiteStore in a missing directory',
      () => new SQLiteStore({ path: join(aDirectory, 'no', 't.db') }),
    ],
  ]
  for (const [name, create] of stores) {
    const store = create()
    await attempt(`${name}: initialize`, () => initialize(store))
    await attempt(`${name}: findTokenById`, () => store.findTokenById('AbCdE12345'))
    await attempt(`${name}: findToken`, () =>
      store.findToken(new OAuthToken({ accessToken: access })),
    )
    await attempt(`${name}: getTokens`, () => store.getTokens())
    await attempt(`${name}: saveToken`, () =>
      store.saveToken(
        new OAuthToken({ clientId: client.clientId, clientSecret: secret, refreshToken: refresh }),
      ),
    )
    if (store instanceof FileStore) capture.object(`${name}: problems`, store.problems)
    await attempt(`${name}: close`, () => store.close?.())
  }

  // An accounts server that does not answer: a closed port.
  const port = await new Promise<number>((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
  })
  const nowhere = new Environment({
    name: 'nowhere',
    apiDomain: `http://127.0.0.1:${port}`,
    accountsUrl: `http://127.0.0.1:${port}`,
  })
  // A fetch that tries two addresses at once, as happy eyeballs does for a dual-stack name: its
  // failure carries an AggregateError of both refusals in the cause chain.
  const dualStack: typeof globalThis.fetch = async (input, init) => {
    try {
      return await Promise.any([fetch(input, init), fetch(input, init)])
    } catch (err) {
      throw new TypeError('fetch failed', { cause: err })
    }
  }
  const refreshing = () =>
    new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      refreshToken: refresh,
    })
  for (const [name, viaFetch] of [
    ['one address', fetch],
    ['two addresses', dualStack],
  ] as const) {
    await attempt(`accounts server unreachable, ${name}`, () =>
      initialize(new MemoryStore(), grant(), nowhere, viaFetch),
    )
    await attempt(`accounts server unreachable, ${name}, refresh`, () =>
      initialize(new MemoryStore(), refreshing(), nowhere, viaFetch),
    )
  }
  // A server that echoes what it was sent in its error answers, in both error styles.
  for (const status of [200, 400, 401]) {
    const echo: typeof globalThis.fetch = async (_input, init) => {
      const form = new URLSearchParams(typeof init?.body === 'string' ? init.body : '')
      capture.secret(form.get('client_secret'), form.get('code'), form.get('refresh_token'))
      const sent = [...form].map(([name, value]) => `${name}=${value}`).join(', ')
      return new Response(
        JSON.stringify({
          error: `invalid_code for ${form.get('code') ?? form.get('refresh_token')}`,
          error_description: `we got ${sent}; client ${form.get('client_secret')}`,
        }),
        { status, headers: { 'content-type': 'application/json' } },
      )
    }
    await attempt(`server echoes secrets with HTTP ${status}`, () =>
      initialize(new MemoryStore(), grant(), emulator.environment, echo),
    )
    await attempt(`server echoes secrets with HTTP ${status}, refresh`, () =>
      initialize(new MemoryStore(), refreshing(), emulator.environment, echo),
    )
  }
  capture.emulatorSecrets(emulator)
}

/** Each example's own database file. */
const EXAMPLE_DATABASES: Readonly<Record<string, string>> = {
  'session.ts': 'session-example.db',
  'demo.ts': 'demo.db',
}

/** Runs an example program in a scratch directory, as a user would, and captures its output. */
async function example(name: string): Promise<void> {
  const cwd = scratchPath(dir, `${name}-cwd`)
  mkdirSync(cwd)
  const tsx = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href
  const { stdout, stderr } = await run(
    process.execPath,
    ['--import', tsx, join(root, 'examples', name)],
    { cwd, encoding: 'utf8' },
  )
  capture.text(`${name} stdout`, stdout)
  capture.text(`${name} stderr`, stderr)
  expect(stdout.length).toBeGreaterThan(0)
  // Its secrets: the rows it saved (the session example's emulator uses the default client).
  const store = new SQLiteStore({ path: join(cwd, EXAMPLE_DATABASES[name]!) })
  const rows = await store.getTokens()
  expect(rows.length).toBeGreaterThan(0)
  for (const token of rows) capture.tokenSecrets(token)
  await store.close()
}

// ---------------------------------------------------------------------------------------------
// Driver messages that quote values: a real server refuses a value and says so, quoting it.
// Secrets made of characters no other text holds, so that every 4 of them can be looked for.
// ---------------------------------------------------------------------------------------------

/** A refused save: its error (a TokenStoreError) and the secrets the token held. */
async function refusedSave(
  save: () => Promise<unknown>,
  ...secrets: string[]
): Promise<{ err: Error; texts: string[] }> {
  let err: unknown
  try {
    await save()
  } catch (caught) {
    err = caught
  }
  expect(err).toBeInstanceOf(Error)
  capture.error('driver message', err)
  capture.secret(...secrets)
  return { err: err as Error, texts: errorTexts(err) }
}

/** No 4 characters of any secret (raw, percent-encoded, JSON- or MySQL-escaped) in any text. */
function expectNoFragment(texts: string[], ...secrets: string[]): void {
  for (const secret of secrets) expect(fragmentsIn(texts, secret)).toEqual([])
}

describe('TokenStoreError: the one place every driver error passes', () => {
  const secret = 'ZQX7vJ9kWq2PmB4h'
  const driverError = () =>
    Object.assign(new Error(`Duplicate entry '${secret}' for key 'refresh_token'`), {
      code: 'ER_DUP_ENTRY',
      errno: 1062,
      sqlMessage: `Duplicate entry '${secret}' for key 'refresh_token'`,
      sql: `INSERT INTO t VALUES ('1', '${secret}')`,
    })

  it('a message built from the raw driver text loses the values too', () => {
    const cause = driverError()
    const err = new TokenStoreError('DBStore', 'saveToken', `failed: ${cause.message}`, { cause })
    expect(err.message).toBe(
      "DBStore.saveToken: failed: Duplicate entry '[redacted]' for key 'refresh_token'",
    )
    // The cause is still the driver's error, with its codes; its texts are clean.
    expect(err.cause).toBe(cause)
    expect(cause).toMatchObject({ code: 'ER_DUP_ENTRY', errno: 1062 })
    expect(cause.sql).toBe("INSERT INTO t VALUES ('[redacted]', '[redacted]')")
    expectNoFragment(errorTexts(err), secret)
  })

  it('deep, aggregated, cyclic, plain-object and string causes', () => {
    const cyclic = driverError() as Error & { cause?: unknown }
    const outer = new Error('outer', { cause: cyclic })
    cyclic.cause = outer
    const causes: unknown[] = [
      new Error('wrapper', { cause: new Error('middle', { cause: driverError() }) }),
      new AggregateError([new Error('a'), driverError()], 'two attempts'),
      outer,
      { message: `Key (refresh_token)=(${secret}) already exists.`, code: '23505' },
      `ERR unknown command 'X', with args beginning with: '${secret}'`,
    ]
    for (const cause of causes) {
      const err = new TokenStoreError('SomeStore', 'saveToken', describeCause(cause), { cause })
      expectNoFragment(errorTexts(err), secret)
    }
  })

  it("a system error keeps its path; our own errors' texts are not touched", () => {
    const path = "/tmp/it's here/tokens.txt"
    const system = Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
      code: 'ENOENT',
      syscall: 'open',
      path,
    })
    const err = new TokenStoreError('FileStore', 'open', describeCause(system), { cause: system })
    expect(err.message).toContain(`open '${path}'`)
    const own = new InvalidArgumentError('table', "table 'x;' is not a name")
    new TokenStoreError('SQLiteStore', 'open', 'bad table', { cause: own })
    expect(own.message).toBe("table 'x;' is not a name")
  })
})

await describeWithService('mariadb', 'driver messages that quote values: MariaDB', () => {
  const DATABASE = 'tokenkeeper_test'
  let admin: MySqlConnection
  const tables: string[] = []
  const stores: { close(): Promise<void> }[] = []
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()))
    for (const table of tables) {
      await admin.query(`DROP TABLE IF EXISTS ${DATABASE}.\`${table}\``)
    }
    await admin?.end()
  })
  /** A legacy table, made by hand as an older SDK or a DBA would, and a DBStore on it. */
  async function legacy(definition: string) {
    const mysql = await import('mysql2/promise')
    admin ??= await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    const table = `tk_leak_${process.pid}_${tables.length}`
    tables.push(table)
    await admin.query(`CREATE TABLE ${DATABASE}.\`${table}\` ${definition}`)
    const { DBStore } = await import('../src/stores/mysql.ts')
    const store = new DBStore({ url: `${SERVICES.mariadb.url}/${DATABASE}`, table })
    stores.push(store)
    return store
  }
  const COLUMNS =
    'id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), ' +
    'client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), ' +
    'grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), ' +
    'api_domain varchar(255), PRIMARY KEY (id)'

  it("Incorrect string value: '\\xCE\\xA9-…' of a latin1 table quotes no byte of the secret", async () => {
    const store = await legacy(`(${COLUMNS}) CHARACTER SET latin1`)
    const clientSecret = 'Ω-ZQX7-vJ9k-Wq2P-mB4h'
    const refreshToken = 'RfJ8Kx3NtY6cLp0W'
    const { err, texts } = await refusedSave(
      () =>
        store.saveToken(
          new OAuthToken({
            userSignature: new UserSignature('ada@zylker.example'),
            clientId: '1000.CLIENT',
            clientSecret,
            refreshToken,
          }),
        ),
      clientSecret,
      refreshToken,
    )
    expectNoFragment(texts, clientSecret, refreshToken)
    // The kind of problem and the column stay; the driver's error stays the cause.
    expect(err.message).toMatch(/Incorrect string value: '\[redacted\]' for column .*client_secret/)
    expect(err.cause).toMatchObject({ code: 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD', errno: 1366 })
    expect(texts.some((text) => text.includes('[cause]: Error: Incorrect string value'))).toBe(true)
  })

  it("Duplicate entry '…' for key '…' names the key, not the value", async () => {
    const store = await legacy(`(${COLUMNS}, UNIQUE KEY legacy_refresh (refresh_token(100)))`)
    const refreshToken = 'ZQX7vJ9kWq2PmB4hRfJ8'
    const token = (user: string) =>
      new OAuthToken({
        userSignature: new UserSignature(user),
        clientId: '1000.CLIENT',
        clientSecret: 'CsN4Vb8QzK2wLx6Y',
        refreshToken,
      })
    await store.saveToken(token('ada@zylker.example'))
    const { err, texts } = await refusedSave(
      () => store.saveToken(token('grace@zylker.example')),
      refreshToken,
    )
    expectNoFragment(texts, refreshToken, 'CsN4Vb8QzK2wLx6Y')
    expect(err.message).toMatch(/Duplicate entry '\[redacted\]' for key 'legacy_refresh'/)
    expect(err.cause).toMatchObject({ code: 'ER_DUP_ENTRY' })
  })
})

await describeWithService('postgres', 'driver messages that quote values: PostgreSQL', () => {
  let admin: PgClient | undefined
  const tables: string[] = []
  const stores: { close(): Promise<void> }[] = []
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()))
    for (const table of tables) await admin?.query(`DROP TABLE IF EXISTS "${table}"`)
    await admin?.end()
  })
  async function legacy(constraints: string) {
    if (!admin) {
      const pg = await import('pg')
      admin = new pg.default.Client({ connectionString: SERVICES.postgres.url })
      await admin.connect()
    }
    const table = `tk_leak_${process.pid}_${tables.length}`
    tables.push(table)
    await admin.query(
      `CREATE TABLE "${table}" (id varchar(10) PRIMARY KEY, user_name varchar(255), ` +
        'client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), ' +
        'access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), ' +
        `redirect_url varchar(255), api_domain varchar(255)${constraints})`,
    )
    const { PostgresStore } = await import('../src/stores/postgres.ts')
    const store = new PostgresStore({ connectionString: SERVICES.postgres.url, table })
    stores.push(store)
    return store
  }

  it('DETAIL: Failing row contains (…) of a CHECK constraint shows none of the row', async () => {
    const store = await legacy(', CHECK (user_name IS NOT NULL)')
    const secrets = {
      clientSecret: 'ZQX7vJ9kWq2PmB4h',
      refreshToken: 'RfJ8Kx3NtY6cLp0W',
      accessToken: 'AcV5Hs9DuE2fGt7Q',
    }
    const { err, texts } = await refusedSave(
      () => store.saveToken(new OAuthToken({ clientId: '1000.CLIENT', ...secrets })),
      ...Object.values(secrets),
    )
    expectNoFragment(texts, ...Object.values(secrets))
    expect(err.cause).toMatchObject({ code: '23514', detail: 'Failing row contains ([redacted]).' })
  })

  it('DETAIL: Key (refresh_token)=(…) already exists keeps the column, not the value', async () => {
    const store = await legacy(', UNIQUE (refresh_token)')
    const refreshToken = 'ZQX7vJ9kWq2PmB4hRfJ8'
    const token = (user: string) =>
      new OAuthToken({
        userSignature: new UserSignature(user),
        clientId: '1000.CLIENT',
        clientSecret: 'CsN4Vb8QzK2wLx6Y',
        refreshToken,
      })
    await store.saveToken(token('ada@zylker.example'))
    const { err, texts } = await refusedSave(
      () => store.saveToken(token('grace@zylker.example')),
      refreshToken,
    )
    expectNoFragment(texts, refreshToken, 'CsN4Vb8QzK2wLx6Y')
    expect(err.cause).toMatchObject({
      code: '23505',
      detail: 'Key (refresh_token)=([redacted]) already exists.',
    })
  })

  it('invalid byte sequence … 0x00: a NUL in a secret, no byte of it shown', async () => {
    const store = await legacy('')
    const clientSecret = 'ZQX7vJ9k\u0000Wq2PmB4h'
    const { err, texts } = await refusedSave(
      () =>
        store.saveToken(
          new OAuthToken({
            userSignature: new UserSignature('ada@zylker.example'),
            clientId: '1000.CLIENT',
            clientSecret,
            refreshToken: 'RfJ8Kx3NtY6cLp0W',
          }),
        ),
      clientSecret,
    )
    expectNoFragment(texts, 'ZQX7vJ9k', 'Wq2PmB4h', 'RfJ8Kx3NtY6cLp0W')
    expect(err.cause).toMatchObject({ code: '22021' })
    expect(texts.filter((text) => /0x00|\\x00|\\u0000/.test(text))).toEqual([])
  })
})

await describeWithService('redis', 'driver messages that quote values: Redis', () => {
  it("a Redis error echoing a command's arguments shows none of them", async () => {
    const { Redis } = await import('ioredis')
    const client = new Redis(SERVICES.redis.url)
    const secret = 'ZQX7vJ9kWq2PmB4h'
    let reply: unknown
    try {
      await client.call('TOKENKEEPER.NOSUCH', secret, 'RfJ8Kx3NtY6cLp0W')
    } catch (err) {
      reply = err
    } finally {
      client.disconnect()
    }
    // The server's own answer quotes the arguments...
    expect(String(reply)).toContain(secret.slice(0, 4))
    // ...and a store's error built on it, as every store builds one, does not.
    const { err, texts } = await refusedSave(async () => {
      throw new TokenStoreError('RedisStore', 'saveToken', describeCause(reply), { cause: reply })
    }, secret)
    expectNoFragment(texts, secret, 'RfJ8Kx3NtY6cLp0W')
    expect(err.message).toMatch(/unknown command 'TOKENKEEPER.NOSUCH'/)
  })

  it("a RedisStore error keeps no argument of the script it ran (ioredis's command.args)", async () => {
    const { RedisStore } = await import('../src/stores/redis.ts')
    const prefix = `tk:leak:${process.pid}:${randomBytes(4).toString('hex')}:`
    const store = new RedisStore({ url: SERVICES.redis.url, prefix, cache: false })
    const { Redis } = await import('ioredis')
    const admin = new Redis(SERVICES.redis.url)
    try {
      // The id set is a string: the save script fails with WRONGTYPE.
      await admin.set(`${prefix}ids`, 'not a sorted set')
      const secrets = { clientSecret: 'ZQX7vJ9kWq2PmB4h', refreshToken: 'RfJ8Kx3NtY6cLp0W' }
      const { err, texts } = await refusedSave(
        () =>
          store.saveToken(
            new OAuthToken({
              userSignature: new UserSignature('ada@zylker.example'),
              clientId: '1000.CLIENT',
              ...secrets,
            }),
          ),
        ...Object.values(secrets),
      )
      expectNoFragment(texts, ...Object.values(secrets))
      expect(err.message).toMatch(/WRONGTYPE/)
    } finally {
      await admin.del(`${prefix}ids`)
      admin.disconnect()
      await store.close()
    }
  })
})

describe('no secret leaks, proven', () => {
  it('the harness finds a secret planted anywhere it looks', () => {
    const probe = new LeakCapture()
    const planted = fakeZohoToken()
    probe.secret(planted, 'short') // too short to be checked
    probe.logger('log line').info(`token saved ${planted}`)
    const [, middle] = planted.split('.')
    probe.error(
      'deep cause',
      new Error('outer', { cause: new Error('middle', { cause: new Error(`inner ${middle}`) }) }),
    )
    probe.error(
      'aggregate',
      new Error('outer', {
        cause: new AggregateError([new Error('a'), new Error(encodeURIComponent(planted))]),
      }),
    )
    probe.object('object', { nested: { deeper: [planted] } })
    probe.text('clean', 'nothing here; short')
    expect(probe.secrets).toEqual([planted])
    expect(new Set(probe.scan().map((leak) => leak.source))).toEqual(
      new Set(['log line', 'deep cause', 'aggregate', 'object']),
    )
  })

  it('the harness finds a secret however it is written or cut', () => {
    const probe = new LeakCapture()
    const secret = `Ω-${randomBytes(12).toString('hex')}`
    probe.secret(secret)
    const mysql = `\\xCE\\xA9${secret.slice(1)}`
    probe.text('MySQL-escaped first bytes', `Incorrect string value: '${mysql.slice(0, 14)}...'`)
    probe.text('all but the first character', `refresh_token=[redacted]${secret.slice(1)}`)
    probe.text('JSON-escaped', JSON.stringify({ m: `"${secret}"` }))
    probe.text('percent-encoded', `?t=${encodeURIComponent(secret)}`)
    probe.text('last characters', `…${secret.slice(-12)}`)
    probe.text('clean', `refresh_token=[redacted] ${secret.slice(0, 3)}`)
    expect(new Set(probe.scan().map((leak) => leak.source))).toEqual(
      new Set([
        'MySQL-escaped first bytes',
        'all but the first character',
        'JSON-escaped',
        'percent-encoded',
        'last characters',
      ]),
    )
  })

  it('log lines carrying secrets in every form the scrubber knows', () => {
    const logPath = scratchPath(dir, 'forms.log')
    // What createLogger writes, and what SafeLog (sessions' log) hands to any logger.
    const logger = createLogger({ level: 'debug', filePath: logPath })
    const log = new SafeLog(capture.logger('forms SafeLog'))
    const secret = () => {
      const value = `${randomBytes(9).toString('base64')}+/${randomBytes(6).toString('hex')}`
      capture.secret(value)
      return value
    }
    const lines = [
      `token request body: grant_type=refresh_token&refresh_token=${encodeURIComponent(secret())}`,
      `callback: https://app.example/cb?state=${encodeURIComponent(`{"refresh_token":"${secret()}"}`)}`,
      `answer: {"accessToken":"${secret()}","clientSecret":"${secret()}","grantToken":"${secret()}"}`,
      `answer: {"refresh_token": "${secret()}", "password": "${secret()}"}`,
      `headers: {"Authorization":"Bearer \\"${secret()}\\""} authorization: Zoho-oauthtoken ${secret()}`,
      `form: code=${encodeURIComponent(secret())}&token=${encodeURIComponent(secret())}`,
      `store: mysql://root:${encodeURIComponent(secret())}@db.example/z?password=${secret()}`,
    ]
    for (const line of lines) {
      logger.info(line)
      log.warn('event', { detail: line })
    }
    capture.text('forms log file', readFileSync(logPath, 'utf8'))
  })

  for (const kind of ['MemoryStore', 'FileStore', 'SQLiteStore'] as const) {
    it.concurrent(`the whole flow on ${kind}`, async () => {
      await flow(kind)
    })
  }

  it.concurrent('broken stores and an unreachable accounts server', async () => {
    await brokenThings()
  })

  it.concurrent('the example programs, run as a user runs them', async () => {
    await example('session.ts')
    await example('demo.ts')
  })

  it('no secret appears in any captured output', () => {
    const secrets = capture.secrets
    const leaks = capture.scan()
    console.log(
      `leaks: ${capture.outputs.length} captured outputs scanned, ${secrets.length} secrets checked, ${leaks.length} found`,
    )
    for (const leak of leaks.slice(0, 20)) {
      console.log(`leak in ${leak.source}: ${leak.context}`)
    }
    // The failures really happened: every kind of error was met on the way.
    for (const code of [
      'SERVER_ERROR',
      'RATE_LIMIT_ERROR',
      'TIMEOUT_ERROR',
      'NETWORK_ERROR',
      'INVALID_RESPONSE',
      'INVALID_TOKEN_ERROR',
      'INVALID_ARGUMENT',
      'MANDATORY_VALUE_ERROR',
      'TOKEN_STORE',
      'SESSION_ENDED',
    ]) {
      expect(met).toContain(code)
    }
    expect(capture.outputs.some((o) => o.text.includes('AggregateError'))).toBe(true)
    expect(capture.outputs.length).toBeGreaterThan(500)
    expect(secrets.length).toBeGreaterThan(50)
    expect(leaks).toEqual([])
  })
})
