// RedisStore's health records and budgets: the published suites with a second store on the
// same prefix, where the record lives in the token's hash, and the budget rule compared with
// decideBudget (through BudgetLog, which applies it) over random takes.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { BudgetLog, budgetKey } from '../../../src/budget.ts'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { budgetConformance, healthConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const URL_ = `${SERVICES.redis.url}/0`
const FILE_PREFIX = `tk-keeping-${process.pid}-${randomBytes(4).toString('hex')}:`
const FIELD = 'tokenkeeper:health'
let prefixes = 0
let admin: Redis

const open = (prefix = `${FILE_PREFIX}${(prefixes += 1)}:`): RedisStore =>
  new RedisStore({ url: URL_, prefix })
const share = (store: RedisStore): RedisStore => open(store.prefix)

function token(n: number): OAuthToken {
  return new OAuthToken({
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${n}`,
    accessToken: `1000.access.${n}`,
    userSignature: new UserSignature(`keeping${n}@example.com`),
    expiryTime: 1_900_000_000_000 + n,
  })
}

await describeWithService('redis', 'RedisStore health and budgets', () => {
  beforeAll(() => {
    admin = new Redis(URL_)
  })
  afterAll(async () => {
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000)
      if (keys.length > 0) await admin.del(...keys)
      cursor = next
    } while (cursor !== '0')
    admin.disconnect()
  })

  for (const t of healthConformance({
    create: () => open(),
    share: (s) => share(s as RedisStore),
  })) {
    it(t.name, t.run)
  }
  for (const t of budgetConformance({
    create: () => open(),
    share: (s) => share(s as RedisStore),
  })) {
    it(t.name, t.run)
  }

  it('the commit script keeps the record in the hash across saves; the delete scripts remove it', async () => {
    const store = open()
    try {
      const [one, two] = [token(1), token(2)]
      await store.saveToken(one)
      await store.saveToken(two)
      const key = (t: OAuthToken) => `${store.prefix}token:${t.id!}`
      await store.saveHealth(one.id!, 'record-one')
      await store.saveHealth(two.id!, 'record-two')
      expect(await admin.hget(key(one), FIELD)).toBe('record-one')
      // A save rewrites the hash (DEL + HSET): the record is put back with it.
      one.accessToken = '1000.access.new'
      one.refreshToken = '1000.refresh.new'
      await store.saveToken(one)
      expect(await admin.hget(key(one), 'access_token')).toBe('1000.access.new')
      expect(await admin.hget(key(one), FIELD)).toBe('record-one')
      // The field is no column: the token read back carries nothing of it.
      expect(Object.keys((await store.findTokenById(one.id!))!)).not.toContain(FIELD)
      // deleteToken: the hash goes, the record with it.
      await store.deleteToken(one.id!)
      expect(await admin.exists(key(one))).toBe(0)
      // A record for a missing row makes no hash (it would look like a row without columns).
      await store.saveHealth(one.id!, 'record-again')
      expect(await admin.exists(key(one))).toBe(0)
      // deleteTokens: every hash goes, with its record.
      await store.deleteTokens()
      expect(await admin.exists(key(two))).toBe(0)
      await store.saveToken(two)
      expect(await admin.hget(key(two), FIELD)).toBeNull()
      // null removes the field alone.
      await store.saveHealth(two.id!, 'record-two')
      await store.saveHealth(two.id!, null)
      expect(await admin.hexists(key(two), FIELD)).toBe(0)
      expect(await admin.hget(key(two), 'id')).toBe(two.id!)
    } finally {
      await store.close()
    }
  })

  it('finds the records of more ids than one script reads at once', async () => {
    const store = open()
    try {
      const stored = [token(1), token(2), token(3)]
      for (const t of stored) await store.saveToken(t)
      for (const t of stored) await store.saveHealth(t.id!, `record-${t.id!}`)
      // 2500 ids (three batches), the stored ones on both sides of the first batch's end, and last.
      const ids = Array.from({ length: 2500 }, (_, i) => `${900_000 + i}`)
      ids[999] = stored[0]!.id!
      ids[1000] = stored[1]!.id!
      ids[2499] = stored[2]!.id!
      expect(await store.findHealth(ids)).toEqual(
        new Map(stored.map((t) => [t.id!, `record-${t.id!}`])),
      )
    } finally {
      await store.close()
    }
  })

  it('the budget script decides as decideBudget does, over random takes', async () => {
    const store = open()
    const reference = new BudgetLog()
    try {
      // A small deterministic generator: a failure can be replayed.
      let seed = 12345
      const next = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31
        return seed % n
      }
      const keys = [
        budgetKey('refresh', 'a'),
        budgetKey('refresh', 'b'),
        budgetKey('exchange', 'c'),
      ]
      const budgets = [
        { limit: 1, windowMs: 50 },
        { limit: 3, windowMs: 400 },
        { limit: 10, windowMs: 1000 },
      ]
      let now = 1_900_000_000_000
      let granted = 0
      for (let i = 0; i < 600; i += 1) {
        const k = next(keys.length)
        // Mostly forward, sometimes back (another process's clock), sometimes the same ms.
        now += next(5) === 0 ? -next(100) : next(120)
        const args = [keys[k]!, budgets[k]!, now] as const
        const expected = await reference.take(...args)
        if (expected.granted) granted += 1
        expect(await store.takeBudget(...args), `take ${i} of ${keys[k]} at ${now}`).toEqual(
          expected,
        )
      }
      // Both answers were compared, many times each.
      expect(granted).toBeGreaterThan(100)
      expect(granted).toBeLessThan(500)
    } finally {
      await store.close()
    }
  })

  it('a budget key expires a window after its last use', async () => {
    const store = open()
    try {
      const key = budgetKey('refresh', 'expiring')
      await store.takeBudget(key, { limit: 5, windowMs: 60_000 }, Date.now())
      const ttl = await admin.pttl(`${store.prefix}budget:${key}`)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
    } finally {
      await store.close()
    }
  })
})
