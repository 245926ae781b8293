// Every pass over all tokens (list, doctor, purge, revoke, migrate) goes through eachToken: a store
// that offers iteration is read a page at a time, and its getTokens() is never called. Deleting
// the tokens a pass has given, while it runs, is safe in every store kind.
import { randomBytes } from 'node:crypto'
import v8 from 'node:v8'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { idsCheck, IdsTally, storeChecks } from '../src/cli/commands/doctor.ts'
import { LIST_PAGE, listTokens } from '../src/cli/commands/list.ts'
import { jsonText, sayText, table, tokenState } from '../src/cli/shared.ts'
import {
  IdCollisionError,
  ListStore,
  MemoryStore,
  OAuthToken,
  UserSignature,
  createStore,
  DataCenter,
  Initializer,
  purgeTokens,
  revokeTokens,
  withEncryption,
  type ConditionalSave,
  type LockOptions,
  type TokenLocking,
  type TokenStore,
} from '../src/index.ts'
import { eachToken, supportsIteration, type IterateOptions } from '../src/iteration.ts'
import { migrateTokens } from '../src/migration.ts'
import { startAccountsEmulator } from '../src/testing/index.ts'
import { scratchDir } from './helpers.ts'
import {
  FILE,
  POSTGRES,
  REDIS,
  SQLITE,
  type StoreKind,
  type StorePlace,
} from './helpers/store-kinds.ts'
import { describeWithService, SERVICES } from './services.ts'

const dir = scratchDir('tokenkeeper-passes-')
const HOUR = 3_600_000
const NOW = Date.UTC(2026, 10, 30)

const NO_GET_TOKENS = 'getTokens must not be used by a pass'

/**
 * A store that can only be passed over a page at a time: its getTokens() throws. It counts what
 * its pages gave, and, when asked, how many of the tokens it gave are still alive (held by the
 * pass) each time it has given `probeEvery` more.
 */
class IterationOnly implements TokenStore, TokenLocking, ConditionalSave {
  readonly inner: MemoryStore
  given = 0
  pages = 0
  /** The most tokens given by this store alive at once, when probed. */
  mostAlive = 0
  #finalized = 0
  readonly #registry = new FinalizationRegistry<void>(() => void (this.#finalized += 1))

  constructor(
    inner = new MemoryStore(),
    readonly probeEvery = 0,
  ) {
    this.inner = inner
  }

  findToken(token: OAuthToken) {
    return this.inner.findToken(token)
  }
  findTokenById(id: string) {
    return this.inner.findTokenById(id)
  }
  saveToken(token: OAuthToken) {
    return this.inner.saveToken(token)
  }
  saveTokenIf(token: OAuthToken, expected: OAuthToken) {
    return this.inner.saveTokenIf(token, expected)
  }
  deleteToken(id: string) {
    return this.inner.deleteToken(id)
  }
  deleteTokens() {
    return this.inner.deleteTokens()
  }
  lockToken(id: string, options?: LockOptions) {
    return this.inner.lockToken(id, options)
  }
  getTokens(): Promise<OAuthToken[]> {
    return Promise.reject(new Error(NO_GET_TOKENS))
  }

  async *iterateTokens(options?: IterateOptions): AsyncGenerator<OAuthToken> {
    const pageSize = options?.pageSize ?? 500
    let inPass = 0
    for await (const token of this.inner.iterateTokens(options)) {
      if (inPass++ % pageSize === 0) this.pages += 1
      this.given += 1
      if (this.probeEvery > 0) {
        this.#registry.register(token, undefined)
        if (this.given % this.probeEvery === 0) await this.#probe()
      }
      yield token
    }
  }

  async #probe(): Promise<void> {
    // Finalizers run in tasks after a collection: collect and wait until the count settles.
    let alive = Infinity
    for (let round = 0; round < 4; round += 1) {
      collectGarbage()
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setTimeout(resolve, 1))
      alive = Math.min(alive, this.given - this.#finalized)
    }
    this.mostAlive = Math.max(this.mostAlive, alive)
  }
}

v8.setFlagsFromString('--expose-gc')
const collectGarbage = vm.runInNewContext('gc') as () => void

function token(name: string, extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {}) {
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.ABCDEFGHIJKLMNXY',
    clientSecret: 'SeCrEt-client',
    refreshToken: `SeCrEt-refresh-${name}`,
    accessToken: `SeCrEt-access-${name}`,
    expiryTime: NOW + HOUR,
    ...extra,
  })
}

/** `count` tokens, every `expiredEvery`-th expired, saved in a store wrapped by IterationOnly. */
async function filled(count: number, expiredEvery = 0, probeEvery = 0): Promise<IterationOnly> {
  const store = new IterationOnly(new MemoryStore(), probeEvery)
  for (let i = 0; i < count; i += 1) {
    const expired = expiredEvery > 0 && i % expiredEvery === 0
    await store.saveToken(
      token(`user${String(i).padStart(6, '0')}@zylker.example`, {
        // Ids of one width: a table of several pages is then the one printed before.
        id: String(100_000 + i),
        expiryTime: expired ? NOW - 2 * HOUR : NOW + HOUR,
      }),
    )
  }
  return store
}

/** What the output of `listTokens` writes, collected. */
async function listed(store: TokenStore, json: boolean): Promise<string> {
  let out = ''
  await listTokens(store, { json, now: NOW, write: async (text) => void (out += text) })
  return out
}

/** What `tokenkeeper list` printed before it streamed: the whole store at once. */
function listedBefore(tokens: OAuthToken[], json: boolean): string {
  if (json) {
    return `${jsonText(tokens.map((t) => ({ ...t.toJSON(), state: tokenState(t, NOW) })))}\n`
  }
  if (tokens.length === 0) return sayText('no tokens')
  const rows = tokens.map((t) => [
    t.id ?? '-',
    t.userSignature?.name ?? '-',
    t.clientId ? '1000.AB…XY' : '-',
    t.expiryTime === undefined ? '-' : t.expiryTime > NOW ? 'in 1h' : 'expired 2h ago',
    tokenState(t, NOW),
  ])
  return table(['ID', 'USER', 'CLIENT ID', 'EXPIRES', 'STATE'], rows)
    .map((line) => sayText(line))
    .join('')
}

describe('every pass goes through iteration, never getTokens()', () => {
  it('the wrapper refuses getTokens, and eachToken reads it a page at a time', async () => {
    const store = await filled(1200)
    await expect(store.getTokens()).rejects.toThrow(NO_GET_TOKENS)
    let seen = 0
    for await (const t of eachToken(store, { pageSize: 500 })) seen += t ? 1 : 0
    expect({ seen, pages: store.pages }).toEqual({ seen: 1200, pages: 3 })
  })

  it('list (JSON and table)', async () => {
    const store = await filled(1200, 3)
    const all = await store.inner.getTokens()
    const json = await listed(store, true)
    expect(json).toBe(listedBefore(all, true))
    expect(JSON.parse(json)).toHaveLength(1200)
    // Several pages: the widths of the first, at least those of any canonical id and countdown.
    const lines = (await listed(store, false)).trimEnd().split('\n')
    expect(lines).toHaveLength(1201)
    expect(lines[0]).toBe(
      'ID          USER                       CLIENT ID     EXPIRES           STATE',
    )
    expect(lines[1]).toBe(
      '100000      user000000@zylker.example  1000.AB…XY    expired 2h ago    expired',
    )
    expect(lines[1200]).toBe(
      '101199      user001199@zylker.example  1000.AB…XY    in 1h             valid',
    )
    expect(store.pages).toBe(6)
    // One page: the table of all its rows, as printed before.
    const one = await filled(LIST_PAGE, 3)
    expect(await listed(one, false)).toBe(listedBefore(await one.inner.getTokens(), false))
  })

  it('doctor: the store and ids checks', async () => {
    const store = await filled(1200)
    await store.saveToken(token('words@zylker.example', { id: '0wod457ssD' }))
    await store.saveToken(token('zeros@zylker.example', { id: '0000000042' }))
    await store.saveToken(token('zeros2@zylker.example', { id: '00000000043' }))
    const seen: number[] = []
    const checks = await storeChecks(store, 'memory:', (n) => seen.push(n))
    expect(checks[0]).toEqual({
      status: 'ok',
      name: 'store',
      detail: 'memory: reachable, 1203 tokens',
    })
    expect(checks[1]).toEqual(idsCheck(await store.inner.getTokens()))
    // 11 digits are not a number the official SDKs number (varchar(10)).
    expect(checks[1]!.detail).toMatch(
      /^2 row\(s\) have ids that are not numbers \(first: 0wod457ssD\)/,
    )
    expect(checks[1]!.detail).toMatch(/1 row\(s\) have numeric ids .*\(first: 0000000042\)/)
    expect(seen).toEqual([500, 1000, 1203])
  })

  it('purgeTokens deletes while it passes over the store', async () => {
    const store = await filled(1200, 3)
    const result = await purgeTokens(store, { expired: true, now: () => NOW })
    expect(result.deleted).toHaveLength(400)
    expect(result).toMatchObject({ kept: [], busy: [] })
    const left = await store.inner.getTokens()
    expect(left).toHaveLength(800)
    expect(left.every((t) => t.expiryTime! > NOW)).toBe(true)
    // Progress after each page and at the end.
    const seen: number[] = []
    await purgeTokens(store, { grantOnly: true, onProgress: (n) => seen.push(n) })
    expect(seen).toEqual([500, 800])
  })

  it('revokeTokens', async () => {
    const emulator = await startAccountsEmulator({
      users: [{ email: 'ada@zylker.example' }],
      clients: [{ clientId: '1000.CLIENTA', clientSecret: 'secret-a' }],
    })
    try {
      const store = await filled(1200)
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          clientId: '1000.CLIENTA',
          clientSecret: 'secret-a',
          grantToken: emulator.issueGrantCode({
            clientId: '1000.CLIENTA',
            user: 'ada@zylker.example',
          }),
        }),
      })
      const ada = session.token
      const result = await revokeTokens(store, {
        environment: emulator.environment,
        userName: 'ada@zylker.example',
      })
      expect(result).toEqual({ revoked: [ada.id], failed: [] })
      expect(await store.findTokenById(ada.id!)).toBeNull()
      expect(emulator.isValid(ada.refreshToken!)).toBe(false)
      expect(store.given).toBe(1201)
    } finally {
      await emulator.close()
    }
  })

  it('migrateTokens: copied, resumed, verified, collisions refused', async () => {
    const source = await filled(1200)
    const target = new IterationOnly()
    const passes: string[] = []
    const result = await migrateTokens(source, target, {
      onPass: (pass, done) => passes.push(`${pass} ${done}`),
    })
    expect(result).toMatchObject({
      tokens: 1200,
      copied: 1200,
      skipped: 0,
      failed: [],
      target: 1200,
      missing: [],
      different: [],
    })
    expect(passes).toEqual([
      'compared 500',
      'compared 1000',
      'compared 1200',
      'verified 500',
      'verified 1000',
      'verified 1200',
    ])
    const again = await migrateTokens(source, target)
    expect(again).toMatchObject({ tokens: 1200, copied: 0, skipped: 1200, target: 1200 })

    const other = new IterationOnly()
    const first = (await source.inner.getTokens())[0]!
    await other.saveToken(token('mallory@evil.example', { id: first.id }))
    const error = await migrateTokens(source, other).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(IdCollisionError)
    expect(error).toMatchObject({ ids: [first.id] })
    expect(await other.inner.getTokens()).toHaveLength(1)
  })
})

describe('a pass holds about one page, whatever the store size', () => {
  // The tokens a store gave that are still alive (held by the pass), sampled every 1000 given
  // after a full collection. A pass that kept them all would hold all 8000 at the end.
  const COUNT = 8000
  // Measured: list one page (~503), doctor, purge and revoke a few tokens, migrate 1000 to 2000
  // (its chunks of 500, the one in hand and the one before it, the collector's timing).
  const BOUND = 5 * LIST_PAGE

  it('list, doctor, purge, revoke and migrate', async () => {
    const cases: [string, (store: IterationOnly) => Promise<unknown>][] = [
      [
        'list --json',
        (store) => listTokens(store, { json: true, now: NOW, write: async () => {} }),
      ],
      ['list', (store) => listTokens(store, { json: false, now: NOW, write: async () => {} })],
      ['doctor', (store) => storeChecks(store, 'memory:')],
      ['purge', (store) => purgeTokens(store, { expired: true, now: () => NOW })],
      // Nobody matches: nothing is sent.
      [
        'revoke',
        (store) =>
          revokeTokens(store, { environment: DataCenter.US.PRODUCTION, userName: 'nobody' }),
      ],
      ['migrate', (store) => migrateTokens(store, new MemoryStore())],
    ]
    const alive: Record<string, number> = {}
    for (const [name, pass] of cases) {
      const store = await filled(COUNT, 0, 1000)
      await pass(store)
      expect(store.given, name).toBeGreaterThanOrEqual(COUNT)
      alive[name] = store.mostAlive
    }
    for (const [name, most] of Object.entries(alive)) expect(most, name).toBeLessThan(BOUND)
  })
})

describe('list prints what it printed before', () => {
  it('JSON of hostile values and URL credentials: the same text, valid, secrets redacted', async () => {
    const store = new ListStore()
    const values = [
      token('eve@zylker.example\n1111111111  admin@zylker.example  1000.AB…XY  in 9d  valid'),
      token('\x1b[31mmallory@zylker.example\x1b[0m\x1b[2J\r'),
      token('trudy@zylker.example\u202e\u2028\x9b31m\u2066', {
        redirectUrl: 'https://app:SeCrEt-pw@app.example/cb?auth=SeCrEt-auth&x=1\x1b]8;;',
        apiDomain: 'https://www.zohoapis.com/?password=SeCrEt-query',
      }),
      token('plain@zylker.example', { expiryTime: NOW - 2 * HOUR }),
    ]
    for (const t of values) await store.saveToken(t)
    const all = await store.getTokens()
    const json = await listed(store, true)
    expect(json).toBe(listedBefore(all, true))
    expect(json).not.toContain('SeCrEt')
    const rows = JSON.parse(json) as Record<string, unknown>[]
    expect(rows.map((row) => row.userName)).toEqual(all.map((t) => t.userSignature!.name))
    expect(rows[0]).toMatchObject({ accessToken: '[redacted]', refreshToken: '[redacted]' })
    const text = await listed(store, false)
    expect(text).toBe(listedBefore(all, false))
    expect(text).not.toContain('SeCrEt')
  })

  it('an empty store: [] and "no tokens", as before', async () => {
    const store = new MemoryStore()
    expect(await listed(store, true)).toBe('[]\n')
    expect(await listed(store, true)).toBe(listedBefore([], true))
    expect(await listed(store, false)).toBe('no tokens\n')
  })

  it('the table keeps the widths of its first page; a wider cell later pushes its own row only', async () => {
    const store = await filled(LIST_PAGE + 10)
    const wide = token(`${'w'.repeat(60)}@zylker.example`)
    await store.saveToken(wide)
    const lines = (await listed(store, false)).trimEnd().split('\n')
    expect(lines).toHaveLength(LIST_PAGE + 12)
    const header = lines[0]!
    const column = (line: string, title: string) => line.indexOf(title)
    const stateAt = column(header, 'STATE')
    // Rows of both pages line up with the header, but the wide one.
    for (const line of lines.slice(1)) {
      if (line.includes('wwww')) expect(line.indexOf('valid')).toBeGreaterThan(stateAt)
      else expect(line.indexOf('valid')).toBe(stateAt)
    }
    expect(lines.find((line) => line.includes('wwww'))).toContain(
      `${'w'.repeat(60)}@zylker.example`,
    )
  })
})

describe('IdsTally', () => {
  it('keeps counts and the first id of each kind, as idsCheck over the list', () => {
    const ids = ['7', 'abc', '007', 'xyz', '12345678901', '8']
    const tally = new IdsTally()
    for (const id of ids) tally.add(id)
    expect(tally.check()).toEqual(idsCheck(ids.map((id) => new OAuthToken({ id }))))
    expect(tally.check().detail).toMatch(/^3 row\(s\) .*first: abc.*1 row\(s\) .*first: 007/)
  })
})

// ---------------------------------------------------------------------------------------------
// Deleting while iterating, in every store kind
// ---------------------------------------------------------------------------------------------

const DATABASE = 'tokenkeeper_test'
let mysqlSerial = 0
const MYSQL: StoreKind = {
  name: 'DBStore',
  service: 'mariadb',
  place: () => {
    const table = `tk_passes_${process.pid}_${(mysqlSerial += 1)}`
    const url = `${SERVICES.mariadb.url}/${DATABASE}?table=${table}`
    const opened: TokenStore[] = []
    return {
      url,
      async open() {
        const store = await createStore(url)
        opened.push(store)
        return store
      },
      async cleanup() {
        for (const store of opened.splice(0)) await store.close?.()
        const mysql = await import('mysql2/promise')
        const admin = await mysql.default.createConnection({
          uri: `${SERVICES.mariadb.url}/${DATABASE}`,
        })
        await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
        await admin.end()
      },
    }
  },
}

const KEYS = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }

/** Deletes each token as soon as the pass gave it, as purge does; pages of 3. */
function deletingWhilePassing(open: () => Promise<TokenStore>): void {
  it('each token is given once, and every one is deleted', async () => {
    const store = await open()
    const saved: string[] = []
    for (let i = 0; i < 40; i += 1) {
      const t = token(`pass${String(i).padStart(2, '0')}@zylker.example`)
      await store.saveToken(t)
      saved.push(t.id!)
    }
    const given: string[] = []
    for await (const t of eachToken(store, { pageSize: 3 })) {
      given.push(t.id!)
      await store.deleteToken(t.id!)
    }
    expect([...given].sort()).toEqual([...saved].sort())
    expect(await store.getTokens()).toEqual([])
  })

  it('purgeTokens removes every expired token, over pages of 500', async () => {
    const store = await open()
    const keep: string[] = []
    for (let i = 0; i < 1100; i += 1) {
      const t = token(`purge${String(i).padStart(4, '0')}@zylker.example`, {
        expiryTime: i % 100 === 0 ? NOW + HOUR : NOW - 2 * HOUR,
      })
      await store.saveToken(t)
      if (i % 100 === 0) keep.push(t.id!)
    }
    const result = await purgeTokens(store, { expired: true, now: () => NOW })
    expect(result.deleted).toHaveLength(1089)
    expect((await store.getTokens()).map((t) => t.id!).sort()).toEqual([...keep].sort())
  })
}

function everyKind(kind: StoreKind, encrypted = false): void {
  describe(`${kind.name}${encrypted ? ' (encrypted)' : ''}`, () => {
    const places: StorePlace[] = []
    afterAll(async () => {
      for (const place of places) await place.cleanup()
    })
    deletingWhilePassing(async () => {
      const place = kind.place(dir)
      places.push(place)
      const store = await place.open()
      return encrypted ? withEncryption(store, KEYS) : store
    })
  })
}

describe('deleting the tokens a pass gave, while it runs', () => {
  beforeAll(() => {
    // Where a store offers iteration, its own pages are what is tested.
    expect(supportsIteration(new MemoryStore())).toBe(true)
  })
  describe('MemoryStore', () => deletingWhilePassing(async () => new MemoryStore()))
  describe('ListStore', () => deletingWhilePassing(async () => new ListStore()))
  everyKind(FILE)
  everyKind(FILE, true)
  everyKind(SQLITE)
})
await describeWithService('mariadb', 'deleting while passing: MariaDB', () => everyKind(MYSQL))
await describeWithService('postgres', 'deleting while passing: PostgreSQL', () =>
  everyKind(POSTGRES),
)
await describeWithService('redis', 'deleting while passing: Redis', () => {
  everyKind(REDIS)
  everyKind(REDIS, true)
})
