// RedisStore's pass over every token (issue 14): keyset pages on the id set's scores, the rows of
// a page in one pipeline, rows changed between pages, the sealed-row guard, and memory that does
// not grow with the store.
import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import {
  EncryptionError,
  InvalidArgumentError,
  OAuthToken,
  TokenStoreError,
  UserSignature,
} from '../../../src/index.ts'
import { COLUMNS } from '../../../src/store/rows.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const URL_ = `${SERVICES.redis.url}/0`
const FILE_PREFIX = `tk-pages-${process.pid}-${randomBytes(4).toString('hex')}:`
let prefixes = 0
const freshPrefix = (): string => `${FILE_PREFIX}${(prefixes += 1)}:`
const KEYS = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }

let admin: Redis
const opened: RedisStore[] = []

function open(options: ConstructorParameters<typeof RedisStore>[0] = {}): RedisStore {
  const store = new RedisStore({ url: URL_, prefix: freshPrefix(), cache: false, ...options })
  opened.push(store)
  return store
}

function user(name: string, id?: string): OAuthToken {
  const tag = randomBytes(6).toString('hex')
  return new OAuthToken({
    id,
    userSignature: new UserSignature(name),
    clientId: '1000.CLIENT',
    clientSecret: `secret.${tag}`,
    refreshToken: `1000.refresh.${tag}`,
    accessToken: `1000.access.${tag}`,
    expiryTime: 1_900_000_000_000,
  })
}

async function all(pass: AsyncIterable<OAuthToken>): Promise<OAuthToken[]> {
  const tokens: OAuthToken[] = []
  for await (const token of pass) tokens.push(token)
  return tokens
}

/** A client that runs `after` once each ZRANGEBYSCORE has answered, and counts them. */
function watched(after: (call: number, args: unknown[]) => Promise<void>): {
  client: Redis
  calls: unknown[][]
} {
  const client = new Redis(URL_)
  const calls: unknown[][] = []
  const proxy = new Proxy(client, {
    get(target, property) {
      if (property === 'zrangebyscore') {
        return async (...args: unknown[]) => {
          const reply = await (target.zrangebyscore as (...a: unknown[]) => Promise<unknown>)(
            ...args,
          )
          calls.push(args)
          await after(calls.length, args)
          return reply
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value
    },
  })
  return { client: proxy, calls }
}

async function unlinkPrefix(prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
    if (keys.length > 0) await admin.unlink(...keys)
    cursor = next
  } while (cursor !== '0')
}

await describeWithService('redis', 'RedisStore.iterateTokens', () => {
  beforeAll(() => {
    admin = new Redis(URL_)
  })

  afterAll(async () => {
    await Promise.all(opened.map((store) => store.close()))
    await unlinkPrefix(FILE_PREFIX)
    admin.disconnect()
  })

  it('reads keyset pages of the id set by score, LIMIT pageSize, in insertion order', async () => {
    const prefix = freshPrefix()
    const { client, calls } = watched(async () => undefined)
    const store = new RedisStore({ client, prefix })
    const saved: string[] = []
    for (let i = 0; i < 25; i += 1) {
      const token = user(`plan${i}@example.com`)
      await store.saveToken(token)
      saved.push(token.id!)
    }
    calls.length = 0
    expect((await all(store.iterateTokens({ pageSize: 10 }))).map((t) => t.id)).toEqual(saved)
    expect(calls.map(([, from, to, ...rest]) => [from, to, ...rest])).toEqual([
      ['-inf', '+inf', 'WITHSCORES', 'LIMIT', 0, 10],
      ['(10', '+inf', 'WITHSCORES', 'LIMIT', 0, 10],
      ['(20', '+inf', 'WITHSCORES', 'LIMIT', 0, 10],
    ])
    client.disconnect()
  })

  it('gives rows stored throughout once across saves and deletes between pages', async () => {
    const store = open()
    const other = new RedisStore({ url: URL_, prefix: store.prefix, cache: false })
    opened.push(other)
    const saved: OAuthToken[] = []
    for (let i = 0; i < 50; i += 1) {
      const token = user(`mix${i}@example.com`)
      await store.saveToken(token)
      saved.push(token)
    }
    const updated = user('mix40@example.com', saved[40]!.id)
    const given: OAuthToken[] = []
    for await (const token of store.iterateTokens({ pageSize: 10 })) {
      given.push(token)
      if (given.length === 15) {
        // Another client, between pages: deletes ahead, an update ahead, an update behind, new rows.
        await other.deleteToken(saved[30]!.id!)
        await other.deleteToken(saved[31]!.id!)
        await other.saveToken(updated)
        await other.saveToken(user('mix2@example.com', saved[2]!.id))
        for (let i = 0; i < 5; i += 1) await other.saveToken(user(`late${i}@example.com`))
        // Deleted and saved again under its id: a new row, after the others.
        await other.deleteToken(saved[45]!.id!)
        await other.saveToken(user('again@example.com', saved[45]!.id))
      }
    }
    const ids = given.map((t) => t.id!)
    expect(new Set(ids).size).toBe(ids.length)
    const gone = new Set([saved[30]!.id, saved[31]!.id, saved[45]!.id])
    for (const token of saved) {
      if (!gone.has(token.id)) expect(ids).toContain(token.id)
    }
    expect(ids).not.toContain(saved[30]!.id)
    expect(ids).not.toContain(saved[31]!.id)
    // The update ahead of the pass is given as it is now; the new row under 45's id once.
    expect(given.find((t) => t.id === saved[40]!.id)?.accessToken).toBe(updated.accessToken)
    expect(ids.filter((id) => id === saved[45]!.id)).toHaveLength(1)
    expect(given.find((t) => t.id === saved[45]!.id)?.userSignature?.name).toBe('again@example.com')
  })

  it('does not give twice a row deleted and saved again between its listing and its read', async () => {
    const prefix = freshPrefix()
    const other = new RedisStore({ url: URL_, prefix, cache: false })
    opened.push(other)
    for (let i = 0; i < 6; i += 1) await other.saveToken(user(`race${i}@example.com`))
    const { client } = watched(async (call) => {
      // After the first page is listed and before its rows are read, row 2 gets a new life.
      if (call !== 1) return
      await other.deleteToken('2')
      await other.saveToken(user('reborn@example.com', '2'))
    })
    const store = new RedisStore({ client, prefix })
    const given = await all(store.iterateTokens({ pageSize: 3 }))
    expect(given.map((t) => t.id)).toEqual(['1', '3', '4', '5', '6', '2'])
    expect(given.at(-1)!.userSignature!.name).toBe('reborn@example.com')
    client.disconnect()
  })

  it('refuses sealed rows without keys, opens them with keys', async () => {
    const encrypted = open({ encryption: KEYS })
    await encrypted.saveToken(user('sealed@example.com'))
    const bare = new RedisStore({ url: URL_, prefix: encrypted.prefix, cache: false })
    opened.push(bare)
    expect(await all(encrypted.iterateTokens())).toMatchObject([
      { id: '1', userSignature: { name: 'sealed@example.com' } },
    ])
    expect((await all(encrypted.iterateTokens()))[0]!.accessToken).toMatch(/^1000\.access\./)
    await expect(all(bare.iterateTokens())).rejects.toThrow(EncryptionError)
  })

  it('checks its options at the call, and wraps server errors as getTokens', async () => {
    const store = open()
    for (const options of [{ pageSize: 0 }, { pageSize: 2.5 }, { size: 10 }, null]) {
      expect(() => store.iterateTokens(options as never)).toThrow(InvalidArgumentError)
    }
    const away = new RedisStore({ url: 'redis://127.0.0.1:1/0', connectTimeoutMs: 200 })
    opened.push(away)
    const error = await all(away.iterateTokens()).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(TokenStoreError)
    expect(error).toMatchObject({ store: 'RedisStore', operation: 'getTokens' })
  })

  it('a pass over 100,000 rows stays within 40 MB of heap, where getTokens() needs far more', async () => {
    const ROWS = 100_000
    const prefix = freshPrefix()
    // Filled in bulk in the store's own format: a hash per row and the id set by insertion.
    const value = (kind: string, i: number): string =>
      `1000.${kind}${i.toString(16).padStart(28, '0')}.${'0123456789abcdef'.repeat(2)}`
    for (let start = 1; start <= ROWS; start += 5000) {
      const pipeline = admin.pipeline()
      for (let i = start; i < start + 5000 && i <= ROWS; i += 1) {
        const row: Record<string, string> = {
          id: String(i),
          user_name: `user${i}@zylker.example`,
          client_id: '1000.CLIENTIDCLIENTIDCLIENTIDCLIENT',
          client_secret: 'secret0123456789abcdef0123456789abcdef01',
          refresh_token: value('r', i),
          access_token: value('a', i),
          grant_token: value('g', i),
          expiry_time: String(1_900_000_000_000 + i),
          redirect_url: 'https://portal.zylker.example/oauth/callback',
          api_domain: 'https://www.zohoapis.com',
        }
        expect(Object.keys(row)).toEqual([...COLUMNS])
        pipeline.hset(`${prefix}token:${i}`, row)
        pipeline.zadd(`${prefix}ids`, i, String(i))
      }
      await pipeline.exec()
    }
    await admin.set(`${prefix}seq`, String(ROWS))

    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const heap = (): number => {
      gc()
      return process.memoryUsage().heapUsed
    }
    const store = new RedisStore({ url: URL_, prefix, cache: false })
    opened.push(store)
    await store.findTokenById('1')
    const measure = async (
      way: 'iterate' | 'getTokens',
    ): Promise<{ growth: number; once: boolean }> => {
      const times = new Uint8Array(ROWS + 1)
      const start = heap()
      let peak = start
      if (way === 'iterate') {
        let given = 0
        for await (const token of store.iterateTokens()) {
          times[Number(token.id)]! += 1
          if ((given += 1) % 10_000 === 0) peak = Math.max(peak, heap())
        }
      } else {
        const tokens = await store.getTokens()
        peak = Math.max(peak, heap())
        for (const token of tokens) times[Number(token.id)]! += 1
      }
      return { growth: peak - start, once: times.every((n, id) => n === (id === 0 ? 0 : 1)) }
    }
    const iterated = await measure('iterate')
    const listed = await measure('getTokens')
    const MB = 1 << 20
    console.log(
      `heap growth over ${ROWS} Redis rows: iterateTokens ${(iterated.growth / MB).toFixed(1)} MB, ` +
        `getTokens ${(listed.growth / MB).toFixed(1)} MB`,
    )
    expect(iterated.once).toBe(true)
    expect(listed.once).toBe(true)
    expect(iterated.growth).toBeLessThan(40 * MB)
    // The bound means something at this size: every token at once is well above it.
    expect(listed.growth).toBeGreaterThan(50 * MB)
    await unlinkPrefix(prefix)
  }, 120_000)
})
