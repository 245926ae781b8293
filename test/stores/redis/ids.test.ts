// RedisStore's new ids (issue 13): the numbering rule of store.ts, claimed atomically in Redis,
// across clients and processes, on stores written before the numbers set existed, and under
// the encryption wrapper (whose row seal covers the id).
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { withRowFinisher } from '../../../src/sealed.ts'
import { TOKEN_ID_PATTERN, nextTokenId, numericIdValue } from '../../../src/store/ids.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { tokenStoreConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const URL_ = `${SERVICES.redis.url}/0`
const FILE_PREFIX = `tk-ids-${process.pid}-${randomBytes(4).toString('hex')}:`
let prefixes = 0
const freshPrefix = (): string => `${FILE_PREFIX}${(prefixes += 1)}:`
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')
const ENCRYPTION = {
  keys: { k1: randomBytes(32), k2: randomBytes(32) },
  activeKeyId: 'k2',
}

let admin: Redis
const opened: RedisStore[] = []

function open(prefix: string, options: ConstructorParameters<typeof RedisStore>[0] = {}) {
  const store = new RedisStore({ url: URL_, prefix, cache: false, ...options })
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

const oneToN = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1)
const sortedNumbers = (ids: Iterable<string | undefined>): number[] =>
  [...ids].map(Number).sort((a, b) => a - b)

/** An earlier tokenkeeper id: '0' and nine letters and digits. */
function legacyId(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
  return `0${Array.from(randomBytes(9), (byte) => chars[byte % chars.length]).join('')}`
}

/**
 * Rows as a version without the numbers set wrote them: a hash per row, its user name index
 * entry, the id set by insertion and the counter; no `numbers`, `numbered` or `claims` key.
 */
async function writeOldLayout(prefix: string, ids: readonly string[]): Promise<void> {
  for (let start = 0; start < ids.length; start += 1000) {
    const pipeline = admin.pipeline()
    for (const [offset, id] of ids.slice(start, start + 1000).entries()) {
      const seq = start + offset + 1
      const name = `old-${seq}@example.com`
      pipeline.hset(`${prefix}token:${id}`, { id, user_name: name, client_id: '1000.CLIENT' })
      pipeline.set(`${prefix}idx:user_name:${sha256(name)}`, id)
      pipeline.zadd(`${prefix}ids`, seq, id)
    }
    await pipeline.exec()
  }
  await admin.set(`${prefix}seq`, ids.length)
}

/** Checks that the numbers set holds exactly the stored numeric ids and no claim is left. */
async function expectNumbersExact(prefix: string): Promise<void> {
  const ids = await admin.zrange(`${prefix}ids`, 0, -1)
  const expected = new Map<string, number>()
  for (const id of ids) {
    const value = numericIdValue(id)
    if (value !== undefined) expected.set(id, value)
  }
  const held = await admin.zrange(`${prefix}numbers`, 0, -1, 'WITHSCORES')
  const numbers = new Map<string, number>()
  for (let i = 0; i < held.length; i += 2) numbers.set(held[i]!, Number(held[i + 1]))
  expect(numbers).toEqual(expected)
  expect(await admin.exists(`${prefix}claims`), 'no claim is left').toBe(0)
}

/** What a save under a new id rejects with once no number is left after `largest`. */
function exhaustion(largest: number): string {
  try {
    nextTokenId('RedisStore', largest)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error(`nextTokenId gave an id after ${largest}`)
}

/** A child process that saves `count` different users, `parallel` at a time, after a barrier. */
const CHILD = `
const { RedisStore } = await import(process.env.TK_REDIS)
const { OAuthToken, UserSignature } = await import(process.env.TK_INDEX)
const { Redis } = await import('ioredis')
const [url, prefix, barrier, name, processes, count, parallel] = JSON.parse(process.env.TK_ARGS)
const store = new RedisStore({ url, prefix, cache: false })
const control = new Redis(url)
await control.incr(barrier)
while (Number(await control.get(barrier)) < processes) await new Promise((go) => setTimeout(go, 2))
control.disconnect()
const ids = []
let next = 0
const worker = async () => {
  while (next < count) {
    const i = next++
    const token = new OAuthToken({
      userSignature: new UserSignature(name + '-' + i + '@example.com'),
      clientId: '1000.CLIENT',
      refreshToken: '1000.refresh.' + name + '.' + i,
      accessToken: '1000.access.' + name + '.' + i,
    })
    await store.saveToken(token)
    ids.push(token.id)
  }
}
await Promise.all(Array.from({ length: parallel }, worker))
await store.close()
process.stdout.write(JSON.stringify(ids))
`

await describeWithService('redis', 'RedisStore ids', () => {
  beforeAll(() => {
    admin = new Redis(URL_)
  })

  afterAll(async () => {
    for (const store of opened) await store.close().catch(() => undefined)
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000)
      if (keys.length > 0) await admin.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await admin.quit()
  })

  it('saves from independent clients at once get exactly the ids 1 to N', async () => {
    const prefix = freshPrefix()
    const writers = Array.from({ length: 5 }, () => open(prefix))
    const tokens = writers.flatMap((store, w) =>
      Array.from({ length: 20 }, (_, i) => ({ store, token: user(`c${w}-${i}@example.com`) })),
    )
    await Promise.all(tokens.map(({ store, token }) => store.saveToken(token)))
    expect(sortedNumbers(tokens.map(({ token }) => token.id))).toEqual(oneToN(100))
    await expectNumbersExact(prefix)
  })

  it('processes saving different users at once get exactly the ids 1 to N', async () => {
    const prefix = freshPrefix()
    const barrier = `${prefix}barrier`
    const names = ['p1', 'p2', 'p3']
    const outputs = await Promise.all(
      names.map(async (name) => {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', '--input-type=module', '-e', CHILD],
          {
            cwd: ROOT,
            maxBuffer: 1 << 24,
            env: {
              ...process.env,
              TK_REDIS: new URL('../../../src/stores/redis.ts', import.meta.url).href,
              TK_INDEX: new URL('../../../src/index.ts', import.meta.url).href,
              TK_ARGS: JSON.stringify([URL_, prefix, barrier, name, names.length, 40, 8]),
            },
          },
        )
        return JSON.parse(stdout) as string[]
      }),
    )
    await admin.del(barrier)
    expect(sortedNumbers(outputs.flat())).toEqual(oneToN(120))
    await expectNumbersExact(prefix)
  })

  it('a store written without the numbers set is numbered from its ids, built once', async () => {
    const prefix = freshPrefix()
    // More ids than one batch of the build; earlier tokenkeeper ids, ids a user chose, and
    // official numbers with leading zeros.
    const ids = Array.from({ length: 2500 }, legacyId)
    ids.splice(700, 0, '41', '0000000099', '7', '12ab', '2345x')
    ids.splice(1900, 0, '0000002345', '-3', '00000000001')
    await writeOldLayout(prefix, ids)
    const store = open(prefix)
    const fresh = user('fresh@example.com')
    await store.saveToken(fresh)
    expect(fresh.id).toBe('2346')
    expect(await admin.get(`${prefix}numbered`)).toBe('1')
    await expectNumbersExact(prefix)
    // Every earlier row still works, and the numbering goes on from the set.
    expect((await store.findTokenById('0000002345'))?.userSignature?.name).toBe(
      'old-1901@example.com',
    )
    expect((await store.findToken(user('old-1@example.com')))?.id).toBe(ids[0])
    await store.deleteToken('2346')
    await store.deleteToken('0000002345')
    const next = user('next@example.com')
    await open(prefix).saveToken(next)
    expect(next.id).toBe('100')
    await expectNumbersExact(prefix)
  })

  it('building the numbers set beside concurrent writers keeps every id distinct and the set exact', async () => {
    const prefix = freshPrefix()
    const ids = Array.from({ length: 3000 }, legacyId)
    ids.splice(10, 0, '500')
    ids.splice(1500, 0, '0000000900')
    ids.splice(2990, 0, '1200')
    await writeOldLayout(prefix, ids)
    const writers = Array.from({ length: 4 }, () => open(prefix))
    const tokens = writers.flatMap((store, w) =>
      Array.from({ length: 10 }, (_, i) => ({ store, token: user(`w${w}-${i}@example.com`) })),
    )
    const other = open(prefix)
    await Promise.all([
      ...tokens.map(({ store, token }) => store.saveToken(token)),
      other.deleteToken('1200'),
      other.deleteToken('500'),
      other.saveToken(user('given@example.com', '1500')),
    ])
    const given = tokens.map(({ token }) => token.id!)
    expect(new Set(given).size).toBe(given.length)
    for (const id of given) {
      expect(id).toMatch(TOKEN_ID_PATTERN)
      expect(Number(id)).toBeGreaterThan(900)
      expect(ids).not.toContain(id)
    }
    expect(given).not.toContain('1500')
    await expectNumbersExact(prefix)
    // Once quiet, the next id follows the largest numeric id stored.
    const stored = await admin.zrange(`${prefix}ids`, 0, -1)
    const largest = Math.max(...stored.map((id) => numericIdValue(id) ?? 0))
    const last = user('last@example.com')
    await open(prefix).saveToken(last)
    expect(last.id).toBe(String(largest + 1))
  })

  it('rows deleted and added between a page of the build and its write are counted as they end', async () => {
    const prefix = freshPrefix()
    await writeOldLayout(prefix, ['0000000900', '1200', legacyId(), '300'])
    const other = open(prefix)
    // The store's client, with another writer's changes made right after each page is listed.
    const client = new Redis(URL_)
    let pages = 0
    const wrapped = new Proxy(client, {
      get(target, property) {
        if (property === 'zscan') {
          return async (...args: Parameters<Redis['zscan']>) => {
            const page = await target.zscan(...args)
            pages += 1
            await other.deleteToken('1200')
            await other.saveToken(user('given@example.com', '0000001100'))
            return page
          }
        }
        const value = Reflect.get(target, property, target) as unknown
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value
      },
    })
    try {
      const store = new RedisStore({ client: wrapped, prefix })
      const fresh = user('fresh@example.com')
      await store.saveToken(fresh)
      expect(pages).toBe(1)
      expect(fresh.id).toBe('1101')
      await expectNumbersExact(prefix)
    } finally {
      client.disconnect()
    }
  })

  it('an expired claim is ignored, a live one skipped, and a number found taken is passed', async () => {
    const prefix = freshPrefix()
    const store = open(prefix)
    const [seconds] = await admin.time()
    const now = Number(seconds) * 1000
    // A claim of a save that died: expired, it holds nothing back.
    await admin.zadd(`${prefix}claims`, 5, `5:${now - 1000}:dead`)
    const first = user('first@example.com')
    await store.saveToken(first)
    expect(first.id).toBe('1')
    // A save in flight elsewhere holds 2: this one takes 3.
    await admin.zadd(`${prefix}claims`, 2, `2:${now + 60_000}:elsewhere`)
    const second = user('second@example.com')
    await store.saveToken(second)
    expect(second.id).toBe('3')
    await admin.zrem(`${prefix}claims`, `2:${now + 60_000}:elsewhere`)
    // A row 4 written without its number (as a version without the set would): the claim of 4
    // is refused, the set learns 4, and the save takes 5.
    await admin.hset(`${prefix}token:4`, { id: '4', user_name: 'written-elsewhere@example.com' })
    await admin.zadd(`${prefix}ids`, 1000, '4')
    const third = user('third@example.com')
    await store.saveToken(third)
    expect(third.id).toBe('5')
    await expectNumbersExact(prefix)
  })

  it('a save that fails after claiming its number gives it back', async () => {
    const prefix = freshPrefix()
    const store = open(prefix)
    const failing = () => {
      throw new Error('sealing failed')
    }
    await expect(
      withRowFinisher(failing, () => store.saveToken(user('fails@example.com'))),
    ).rejects.toThrow('sealing failed')
    expect(await admin.exists(`${prefix}claims`)).toBe(0)
    const next = user('next@example.com')
    await store.saveToken(next)
    expect(next.id).toBe('1')
  })

  it('writes ids up to ten digits as digits, and past them fails as nextTokenId does', async () => {
    const prefix = freshPrefix()
    const store = open(prefix)
    await store.saveToken(user('zeros@example.com', '0000000009'))
    const ten = user('ten@example.com')
    await store.saveToken(ten)
    expect(ten.id).toBe('10')
    await store.saveToken(user('near@example.com', '9999999998'))
    const last = user('last@example.com')
    await store.saveToken(last)
    expect(last.id).toBe('9999999999')
    await expect(store.saveToken(user('one-more@example.com'))).rejects.toThrow(
      exhaustion(9_999_999_999),
    )
    expect(await store.getTokens()).toHaveLength(4)
    await expectNumbersExact(prefix)
  })

  for (const t of tokenStoreConformance({
    create: () => open(freshPrefix(), { encryption: ENCRYPTION }),
    reopen: (store) => open((store as RedisStore).prefix, { encryption: ENCRYPTION }),
  })) {
    it(`conformance with encryption: ${t.name}`, t.run)
  }
})
