import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { inspect, promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature, createStore, type TokenStore } from '../../../src/index.ts'
import { numericIdValue } from '../../../src/store/ids.ts'
import { type LookupColumn } from '../../../src/store/matching.ts'
import { COLUMNS, parseExpiry } from '../../../src/store/rows.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { tokenStoreConformance, type RawRow } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('../../children/redis-save.ts', import.meta.url))
const URL_ = `${SERVICES.redis.url}/0`

/** Every key this file writes begins with this, so that parallel runs never meet. */
const FILE_PREFIX = `tk-test-${process.pid}-${randomBytes(4).toString('hex')}:`
let stores = 0
const freshPrefix = (): string => `${FILE_PREFIX}${(stores += 1)}:`

const LOOKUPS: readonly LookupColumn[] = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
]
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')

let admin: Redis
const opened: TokenStore[] = []

/** A store on a fresh prefix, closed after the file. */
function open(options: ConstructorParameters<typeof RedisStore>[0] = {}): RedisStore {
  const store = new RedisStore({ url: URL_, prefix: freshPrefix(), ...options })
  opened.push(store)
  return store
}

async function keysMatching(pattern: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  return keys
}

/**
 * Reads every key under a prefix with a client of its own, checks that the id set, the numbers
 * set, the due index and the index keys agree exactly with the hashes (no entry missing, none left behind, no
 * stray key, no claim left), and returns the hashes as rows.
 */
async function readConsistent(prefix: string): Promise<RawRow[]> {
  const keys = await keysMatching(`${prefix}*`)
  const rows = new Map<string, Record<string, string>>()
  const indexes: string[] = []
  for (const key of keys) {
    const rest = key.slice(prefix.length)
    if (rest.startsWith('token:')) rows.set(rest.slice('token:'.length), await admin.hgetall(key))
    else if (rest.startsWith('idx:')) indexes.push(key)
    else {
      const known =
        ['ids', 'seq', 'numbers', 'numbered', 'due', 'due:indexed'].includes(rest) ||
        rest.startsWith('lock:')
      expect(known, `stray key ${key}`).toBe(true)
    }
  }
  const ids = await admin.zrange(`${prefix}ids`, 0, -1, 'WITHSCORES')
  const scores = new Map<string, string>()
  for (let i = 0; i < ids.length; i += 2) scores.set(ids[i]!, ids[i + 1]!)
  expect(new Set(scores.keys()), 'the id set names exactly the stored rows').toEqual(
    new Set(rows.keys()),
  )
  // Every lookup value of every row has its index entry, scored by the rank of its id (the
  // numbered ones below zero by value, the others zero: compareRowIds in a sorted set).
  const expected = new Set<string>()
  for (const [id, row] of rows) {
    expect(row.id).toBe(id)
    for (const column of LOOKUPS) {
      const value = row[column]
      if (value === undefined) continue
      const key = `${prefix}idx:${column}:${sha256(value)}`
      expected.add(key)
      if (column === 'user_name') expect(await admin.get(key)).toBe(id)
      else expect(await admin.zscore(key, id)).toBe(String((numericIdValue(id) ?? 1e10) - 1e10))
    }
  }
  // The numbers set holds exactly the rows' numeric ids, each scored by its value.
  const numbers = await admin.zrange(`${prefix}numbers`, 0, -1, 'WITHSCORES')
  const numbered = new Map<string, number>()
  for (let i = 0; i < numbers.length; i += 2) numbered.set(numbers[i]!, Number(numbers[i + 1]))
  const expectedNumbers = new Map<string, number>()
  for (const id of rows.keys()) {
    const value = numericIdValue(id)
    if (value !== undefined) expectedNumbers.set(id, value)
  }
  expect(numbered, 'the numbers set names exactly the numeric ids').toEqual(expectedNumbers)
  // The due index holds exactly the rows that have an expiry, each scored by it.
  const due = await admin.zrange(`${prefix}due`, 0, -1, 'WITHSCORES')
  const indexedDue = new Map<string, number>()
  for (let i = 0; i < due.length; i += 2) indexedDue.set(due[i]!, Number(due[i + 1]))
  const expectedDue = new Map<string, number>()
  for (const [id, row] of rows) {
    const expiry = parseExpiry(row.expiry_time ?? null)
    if (expiry !== undefined) expectedDue.set(id, expiry)
  }
  expect(indexedDue, 'the due index names exactly the rows with an expiry').toEqual(expectedDue)
  // And every index entry names a row that has that value.
  expect(new Set(indexes), 'no index key is left behind').toEqual(expected)
  for (const key of indexes) {
    const [column, hash] = key.slice(`${prefix}idx:`.length).split(':') as [LookupColumn, string]
    const named =
      column === 'user_name' ? [(await admin.get(key))!] : await admin.zrange(key, 0, -1)
    for (const id of named) expect(sha256(rows.get(id)?.[column] ?? '')).toBe(hash)
  }
  return [...rows.values()]
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A TCP proxy to the Redis server that can be stopped and started again on its port. */
class Proxy {
  readonly sockets = new Set<Socket>()
  server: Server | undefined
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(SERVICES.redis.port, SERVICES.redis.host)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.server = server
  }

  async stop(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server) await new Promise((resolve) => server.close(resolve))
  }
}

function user(name: string, extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {}) {
  const tag = randomBytes(6).toString('hex')
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.CLIENT',
    clientSecret: `secret.${tag}`,
    refreshToken: `1000.refresh.${tag}`,
    accessToken: `1000.access.${tag}`,
    grantToken: `1000.grant.${tag}`,
    expiryTime: 1_900_000_000_000,
    ...extra,
  })
}

const byName = (name: string) => new OAuthToken({ userSignature: new UserSignature(name) })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

await describeWithService('redis', 'RedisStore', () => {
  beforeAll(() => {
    admin = new Redis(URL_)
  })

  afterAll(async () => {
    for (const store of opened) await store.close?.().catch(() => undefined)
    const keys = await keysMatching(`${FILE_PREFIX}*`)
    for (let i = 0; i < keys.length; i += 500) await admin.unlink(...keys.slice(i, i + 500))
    await admin.quit()
  })

  for (const t of tokenStoreConformance({
    create: () => new RedisStore({ url: URL_, prefix: freshPrefix() }),
    reopen: (store) => new RedisStore({ url: URL_, prefix: (store as RedisStore).prefix }),
    readRaw: (store) => readConsistent((store as RedisStore).prefix),
    createBroken: async () =>
      new RedisStore({
        url: `redis://127.0.0.1:${await freePort()}`,
        prefix: freshPrefix(),
        connectTimeoutMs: 500,
        commandTimeoutMs: 1500,
      }),
  })) {
    it(`conformance: ${t.name}`, t.run)
  }

  it('keeps the index exact when a save changes the user name, the access token or the grant', async () => {
    const store = open()
    const ada = user('ada@example.com')
    await store.saveToken(ada)
    const old = { ...ada.fields(), name: 'ada@example.com' }
    // Rename through the id, with a new access token and no grant token.
    const renamed = user('ada.lovelace@example.com', { id: ada.id, grantToken: undefined })
    await store.saveToken(renamed)
    expect(renamed.id).toBe(ada.id)
    expect(await store.findToken(byName(old.name))).toBeNull()
    expect(await store.findToken(new OAuthToken({ accessToken: old.accessToken }))).toBeNull()
    expect(
      await store.findToken(new OAuthToken({ clientId: 'c', grantToken: old.grantToken })),
    ).toBeNull()
    expect((await store.findToken(byName('ada.lovelace@example.com')))?.id).toBe(ada.id)
    expect((await store.findToken(new OAuthToken({ accessToken: renamed.accessToken })))?.id).toBe(
      ada.id,
    )
    for (const [column, value] of [
      ['user_name', old.name],
      ['access_token', old.accessToken!],
      ['grant_token', old.grantToken!],
      ['refresh_token', old.refreshToken!],
    ] as const) {
      expect(await admin.exists(`${store.prefix}idx:${column}:${sha256(value)}`)).toBe(0)
    }
    // A rotation matched by the refresh token, without a user: the old access token goes.
    const anonymous = user('x', { userSignature: undefined, grantToken: undefined })
    await store.saveToken(anonymous)
    const rotated = new OAuthToken({
      ...anonymous.fields(),
      id: undefined,
      accessToken: '1000.access.rotated',
    })
    await store.saveToken(rotated)
    expect(rotated.id).toBe(anonymous.id)
    expect(await store.findToken(new OAuthToken({ accessToken: anonymous.accessToken }))).toBeNull()
    const rows = await readConsistent(store.prefix)
    expect(rows).toHaveLength(2)
    expect(await keysMatching(`${store.prefix}idx:access_token:*`)).toHaveLength(2)
  })

  it('finds the oldest row when rows share a token value, and the next one once it is gone', async () => {
    const store = open()
    const shared = '1000.refresh.shared-by-two-rows'
    const first = user('first@example.com', { refreshToken: shared })
    const second = user('second@example.com', { refreshToken: shared })
    await store.saveToken(first)
    await store.saveToken(second)
    const probe = new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: shared })
    expect((await store.findToken(probe))?.id).toBe(first.id)
    // Updating the first row keeps its place; the second row's entry is untouched.
    await store.saveToken(user('first@example.com', { refreshToken: shared }))
    expect((await store.findToken(probe))?.id).toBe(first.id)
    await store.deleteToken(first.id!)
    expect((await store.findToken(probe))?.id).toBe(second.id)
    await readConsistent(store.prefix)
    await store.deleteToken(second.id!)
    expect(await store.findToken(probe)).toBeNull()
    await readConsistent(store.prefix)
  })

  it('deleteTokens removes its own keys only, even under a nested prefix', async () => {
    const store = open()
    const nested = open({ prefix: `${store.prefix}token:` })
    const outside = [
      `${FILE_PREFIX}outside:token:abcdefghij`,
      store.prefix.slice(0, -1),
      `x${store.prefix}ids`,
      `${store.prefix.slice(0, -1)}-other:ids`,
    ]
    for (const key of outside) await admin.set(key, 'keep me')
    try {
      await store.saveToken(user('ada@example.com'))
      await store.saveToken(user('bob@example.com'))
      const kept = user('kept@example.com')
      await nested.saveToken(kept)
      const lock = await store.lockToken('abcdefghij')
      await store.deleteTokens()
      expect(await store.getTokens()).toEqual([])
      for (const key of outside) expect(await admin.get(key)).toBe('keep me')
      expect((await nested.findToken(byName('kept@example.com')))?.accessToken).toBe(
        kept.accessToken,
      )
      expect(await nested.getTokens()).toHaveLength(1)
      // Locks are not tokens: a holder keeps its lock.
      expect(await admin.exists(`${store.prefix}lock:abcdefghij`)).toBe(1)
      await lock.release()
      const left = (await keysMatching(`${store.prefix}*`)).filter(
        (key) => !key.startsWith(nested.prefix),
      )
      expect(left).toEqual([])
    } finally {
      await admin.del(...outside)
    }
  })

  it('uses a given client and leaves it open on close()', async () => {
    const client = new Redis(URL_)
    try {
      const store = new RedisStore({ client, prefix: freshPrefix() })
      expect(store.client).toBe(client)
      const ada = user('ada@example.com')
      await store.saveToken(ada)
      await store.close()
      expect(client.status).toBe('ready')
      expect(await client.ping()).toBe('PONG')
      // The store keeps working on it after close().
      expect((await store.findTokenById(ada.id!))?.accessToken).toBe(ada.accessToken)
      await store.deleteTokens()
    } finally {
      client.disconnect()
    }
  })

  it('getTokens pages through 2,500 tokens in insertion order', async () => {
    const store = open()
    const ids: string[] = []
    for (let i = 0; i < 2500; i += 1) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`many${i}@example.com`),
        accessToken: `1000.access.${i}`,
        expiryTime: i,
      })
      await store.saveToken(token)
      ids.push(token.id!)
    }
    const tokens = await store.getTokens()
    expect(tokens.map((token) => token.id)).toEqual(ids)
    expect(tokens[2499]).toMatchObject({ accessToken: '1000.access.2499', expiryTime: 2499 })
    await store.deleteTokens()
    expect(await store.getTokens()).toEqual([])
    expect(await keysMatching(`${store.prefix}*`)).toEqual([])
  })

  it('concurrent saves of one new user from several connections leave one row', async () => {
    const prefix = freshPrefix()
    const writers = Array.from({ length: 6 }, () => open({ prefix }))
    const tokens = writers.flatMap((store) =>
      Array.from({ length: 8 }, () => ({ store, token: user('race@example.com') })),
    )
    await Promise.all(tokens.map(({ store, token }) => store.saveToken(token)))
    const ids = new Set(tokens.map(({ token }) => token.id))
    expect(ids.size).toBe(1)
    const rows = await readConsistent(prefix)
    expect(rows).toHaveLength(1)
    const saved = tokens.map(({ token }) => token.accessToken)
    expect(saved).toContain(rows[0]!.access_token)
    // Only the last access token is indexed: none of the others was left behind.
    expect(await keysMatching(`${prefix}idx:access_token:*`)).toHaveLength(1)
  })

  it('processes saving the same users at once keep one row per user', async () => {
    const prefix = freshPrefix()
    const barrier = `${FILE_PREFIX}barrier-${stores}`
    const names = ['p1', 'p2', 'p3']
    const outputs = await Promise.all(
      names.map(async (name) => {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', CHILD, URL_, prefix, barrier, name, String(names.length), '10', '5'],
          { maxBuffer: 1 << 24 },
        )
        return JSON.parse(stdout) as {
          ids: Record<string, string[]>
          started: number
          finished: number
        }
      }),
    )
    for (const a of outputs) {
      for (const b of outputs) expect(a.started).toBeLessThan(b.finished)
    }
    const rows = await readConsistent(prefix)
    expect(rows).toHaveLength(10)
    for (const row of rows) {
      const everyId = outputs.flatMap(({ ids }) => ids[row.user_name!]!)
      expect(everyId).toHaveLength(15)
      expect(new Set(everyId)).toEqual(new Set([row.id]))
    }
  })

  it('locks a token between stores, times out, and hands over on release', async () => {
    const prefix = freshPrefix()
    const a = open({ prefix })
    const b = open({ prefix })
    const lock = await a.lockToken('tokenid001')
    const started = Date.now()
    await expect(b.lockToken('tokenid001', { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      store: 'RedisStore',
      operation: 'lock',
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    // Another token is not locked.
    await (await b.lockToken('tokenid002', { timeoutMs: 0 })).release()
    // A waiting store gets the lock as soon as it is released.
    const waiting = b.lockToken('tokenid001', { timeoutMs: 5000 })
    await sleep(100)
    await lock.release()
    await lock.release() // twice is harmless
    const next = await waiting
    await expect(a.lockToken('tokenid001', { timeoutMs: 50 })).rejects.toThrow(
      /could not lock token tokenid001 within 50 ms/,
    )
    await next.release()
    await (await a.lockToken('tokenid001', { timeoutMs: 0 })).release()
  })

  it('lets one holder at a time into the critical section', async () => {
    const prefix = freshPrefix()
    const holders = Array.from({ length: 5 }, () => open({ prefix }))
    let inside = 0
    let most = 0
    let entered = 0
    await Promise.all(
      holders.flatMap((store) =>
        [0, 1].map(async () => {
          const lock = await store.lockToken('critical01')
          try {
            inside += 1
            most = Math.max(most, inside)
            entered += 1
            await sleep(5)
            inside -= 1
          } finally {
            await lock.release()
          }
        }),
      ),
    )
    expect(entered).toBe(10)
    expect(most).toBe(1)
  })

  it('takes over an expired lease, and a late release leaves the new holder alone', async () => {
    const prefix = freshPrefix()
    const crashed = open({ prefix, lockLeaseMs: 200 })
    const other = open({ prefix })
    // A holder that stopped renewing, as a crashed or frozen one does.
    const stale = await crashed.lockToken('tokenid003', { autoRenew: false })
    const started = Date.now()
    const taken = await other.lockToken('tokenid003', { timeoutMs: 3000 })
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    const value = await admin.get(`${prefix}lock:tokenid003`)
    await stale.release() // the old holder wakes up: it must not free the new holder's lock
    expect(await admin.get(`${prefix}lock:tokenid003`)).toBe(value)
    await expect(crashed.lockToken('tokenid003', { timeoutMs: 50 })).rejects.toMatchObject({
      operation: 'lock',
    })
    await taken.release()
    expect(await admin.exists(`${prefix}lock:tokenid003`)).toBe(0)
    expect(await admin.pttl(`${prefix}lock:tokenid003`)).toBe(-2)
  })

  it('sets the lease on the lock key', async () => {
    const store = open({ lockLeaseMs: 30_000 })
    const lock = await store.lockToken('tokenid004')
    const ttl = await admin.pttl(`${store.prefix}lock:tokenid004`)
    expect(ttl).toBeGreaterThan(25_000)
    expect(ttl).toBeLessThanOrEqual(30_000)
    await lock.release()
  })

  it('reconnects after its connection is killed', async () => {
    const store = open()
    const ada = user('ada@example.com')
    await store.saveToken(ada)
    const client = store.client as Redis
    const before = await client.client('ID')
    await admin.client('KILL', 'ID', String(before))
    expect((await store.findTokenById(ada.id!))?.accessToken).toBe(ada.accessToken)
    const again = user('ada@example.com')
    await store.saveToken(again)
    expect(again.id).toBe(ada.id)
    expect(await client.client('ID')).not.toBe(before)
  })

  it('fails within seconds while the server is away, and works again when it is back', async () => {
    const proxy = new Proxy(await freePort())
    await proxy.start()
    try {
      // Timeouts far above the test's: an error that names the refusal came from the refusal,
      // not from waiting one of them out (which would say 'did not answer within').
      const store = open({
        url: `redis://127.0.0.1:${proxy.port}/0`,
        connectTimeoutMs: 30_000,
        commandTimeoutMs: 30_000,
      })
      const ada = user('ada@example.com')
      await store.saveToken(ada)
      await proxy.stop()
      const error = await store.findTokenById(ada.id!).then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(error).toMatchObject({ code: 'TOKEN_STORE', operation: 'findTokenById' })
      expect((error as Error).message).toMatch(/cannot reach the Redis server \(.*ECONNREFUSED/)
      await proxy.start()
      expect((await store.findTokenById(ada.id!))?.accessToken).toBe(ada.accessToken)
      await store.close()
    } finally {
      await proxy.stop()
    }
  })

  it('does not hang on a server that accepts connections but never answers', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => undefined)
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = silent.address() as AddressInfo
      // The error names the command timeout that ended the wait; without one, the test's own
      // timeout would end it instead. No clock of the test's is compared.
      const store = open({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 500 })
      await expect(store.findToken(byName('ada@example.com'))).rejects.toThrow(
        /RedisStore.findToken: the Redis server did not answer within 500 ms/,
      )
      await store.close()
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it('keeps secrets out of driver errors', async () => {
    const store = open()
    // The id set is not a sorted set: the save script fails on the server.
    await admin.set(`${store.prefix}ids`, 'not a sorted set')
    const token = user('ada@example.com')
    const error = await store.saveToken(token).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(error).toMatchObject({ code: 'TOKEN_STORE', operation: 'saveToken' })
    expect((error as Error).cause).toBeInstanceOf(Error)
    const shown = inspect(error, { depth: 10, showHidden: false })
    expect(shown).toMatch(/WRONGTYPE/)
    for (const secret of [token.clientSecret!, token.accessToken!, token.refreshToken!]) {
      expect(shown).not.toContain(secret)
    }
    await admin.del(`${store.prefix}ids`)
  })

  it('stores the official column names only', async () => {
    const store = open()
    const token = user('ada@example.com', { redirectUrl: 'https://example.com/cb' })
    await store.saveToken(token)
    const hash = await admin.hgetall(`${store.prefix}token:${token.id}`)
    expect(Object.keys(hash).every((field) => (COLUMNS as readonly string[]).includes(field)))
    expect(hash).toMatchObject({ id: token.id, user_name: 'ada@example.com' })
    expect(hash.api_domain).toBeUndefined()
  })

  /** The last command the store's connection `id` ran, as the server saw it. */
  async function lastCommand(id: number): Promise<string> {
    const info = String(await admin.call('CLIENT', 'LIST', 'ID', String(id)))
    return /\bcmd=(\S+)/.exec(info)?.[1] ?? ''
  }

  /** Whether a look-up is answered from memory: it leaves the connection's last command alone. */
  async function answeredFromMemory(store: RedisStore, probe: OAuthToken): Promise<boolean> {
    await store.findToken(probe)
    const client = store.client as Redis
    const id = await client.client('ID')
    await client.ping()
    await store.findToken(probe)
    return (await lastCommand(id)) === 'ping'
  }

  async function eventually(check: () => Promise<boolean>, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms`)
      await sleep(5)
    }
  }

  /** The id of the connection the store's tracking messages go to. */
  async function redirectOf(store: RedisStore): Promise<number> {
    const info = (await (store.client as Redis).call('CLIENT', 'TRACKINGINFO')) as unknown[]
    return Number(info[info.indexOf('redirect') + 1])
  }

  it('answers repeated look-ups from memory, and forgets them when any client changes a row', async () => {
    const store = open()
    const other = open({ prefix: store.prefix, cache: false })
    const ada = user('ada@example.com')
    await store.saveToken(ada)
    await eventually(() => answeredFromMemory(store, byName('ada@example.com')))
    // A look-up by a value no row has is remembered too, until a row gets it.
    const grace = user('grace@example.com')
    expect(await store.findToken(byName('grace@example.com'))).toBeNull()

    // Another store saves: the change reaches this one without its asking.
    const renewed = user('ada@example.com')
    await other.saveToken(renewed)
    await other.saveToken(grace)
    await eventually(async () => {
      const found = await store.findToken(byName('ada@example.com'))
      return found?.accessToken === renewed.accessToken
    }, 1000)
    await eventually(
      async () => (await store.findToken(byName('grace@example.com'))) !== null,
      1000,
    )
    // So does a change made around the store, straight to the hash.
    await admin.hset(`${store.prefix}token:${ada.id}`, 'client_secret', 'changed.by.hand')
    await eventually(async () => {
      const found = await store.findToken(byName('ada@example.com'))
      return found?.clientSecret === 'changed.by.hand'
    }, 1000)
    // Its own writes it reads back at once.
    await eventually(() => answeredFromMemory(store, byName('ada@example.com')))
    const mine = user('ada@example.com')
    await store.saveToken(mine)
    expect((await store.findToken(byName('ada@example.com')))?.accessToken).toBe(mine.accessToken)
    await store.deleteToken(mine.id!)
    expect(await store.findToken(byName('ada@example.com'))).toBeNull()
  })

  it('stops answering from memory when its message connection is lost, then sets it up again', async () => {
    const store = open()
    const other = open({ prefix: store.prefix, cache: false })
    const ada = user('ada@example.com')
    await store.saveToken(ada)
    await eventually(() => answeredFromMemory(store, byName('ada@example.com')))
    const redirect = await redirectOf(store)
    await admin.client('KILL', 'ID', String(redirect))
    // Until the store hears of it, nobody can tell it that a row changed: wait for that, the
    // moment its look-ups stop being answered from memory (nothing else clears its cache here).
    await eventually(
      async () => !(await answeredFromMemory(store, byName('ada@example.com'))),
      10_000,
    )
    // Changes made while nobody listens for them are not served stale.
    const renewed = user('ada@example.com')
    await other.saveToken(renewed)
    expect((await store.findToken(byName('ada@example.com')))?.accessToken).toBe(
      renewed.accessToken,
    )
    await eventually(() => answeredFromMemory(store, byName('ada@example.com')))
    expect(await redirectOf(store)).not.toBe(redirect)
    // Its data connection killed: the same.
    await admin.client('KILL', 'ID', String(await (store.client as Redis).client('ID')))
    await eventually(
      async () => !(await answeredFromMemory(store, byName('ada@example.com'))),
      10_000,
    )
    const again = user('ada@example.com')
    await other.saveToken(again)
    expect((await store.findToken(byName('ada@example.com')))?.accessToken).toBe(again.accessToken)
    await eventually(() => answeredFromMemory(store, byName('ada@example.com')))
  })

  it('asks the server every time with cache: false, and with a given client by default', async () => {
    const off = open({ cache: false })
    await off.saveToken(user('ada@example.com'))
    for (let i = 0; i < 20; i += 1) {
      expect(await answeredFromMemory(off, byName('ada@example.com'))).toBe(false)
    }
    const client = new Redis(URL_)
    try {
      const given = new RedisStore({ client, prefix: freshPrefix() })
      opened.push(given)
      await given.saveToken(user('ada@example.com'))
      await given.findToken(byName('ada@example.com'))
      await given.findToken(byName('ada@example.com'))
      const info = (await client.call('CLIENT', 'TRACKINGINFO')) as unknown[]
      expect(info[1]).toEqual(['off'])
    } finally {
      client.disconnect()
    }
  })

  it('takes cache=false from a store URL', async () => {
    const off = (await createStore(`${URL_}?prefix=${freshPrefix()}&cache=false`)) as RedisStore
    opened.push(off)
    await off.saveToken(user('ada@example.com'))
    for (let i = 0; i < 20; i += 1) {
      expect(await answeredFromMemory(off, byName('ada@example.com'))).toBe(false)
    }
    const on = (await createStore(`${URL_}?prefix=${off.prefix}`)) as RedisStore
    opened.push(on)
    await eventually(() => answeredFromMemory(on, byName('ada@example.com')))
  })

  it('bounds the cache by maxEntries', async () => {
    const store = open({ cache: { maxEntries: 2 } })
    for (const name of ['a', 'b', 'c']) await store.saveToken(user(`${name}@example.com`))
    await eventually(() => answeredFromMemory(store, byName('a@example.com')))
    await store.findToken(byName('b@example.com'))
    await store.findToken(byName('c@example.com')) // 'a' is the oldest: dropped
    const id = await (store.client as Redis).client('ID')
    await (store.client as Redis).ping()
    await store.findToken(byName('c@example.com'))
    expect(await lastCommand(id)).toBe('ping')
    await store.findToken(byName('a@example.com'))
    expect(await lastCommand(id)).toBe('evalsha')
  })

  it('rejects bad options', () => {
    const client = {} as unknown
    expect(() => new RedisStore({ url: URL_, client })).toThrow(/url or a client, not both/)
    expect(() => new RedisStore({ url: 'http://127.0.0.1:6379' })).toThrow(/redis:\/\//)
    expect(() => new RedisStore({ client })).toThrow(/ioredis Redis client/)
    expect(() => new RedisStore({ prefix: '' })).toThrow(/prefix/)
    expect(() => new RedisStore({ lockLeaseMs: 0 })).toThrow(/lockLeaseMs/)
    expect(() => new RedisStore({ cache: { maxEntries: 0 } })).toThrow(/cache/)
    expect(() => new RedisStore({ cache: 'yes' as unknown as boolean })).toThrow(/cache/)
  })
})
