// RedisStore's due scan: the published suite, what it costs (the commands a scan sends touch only
// the due entries), and the index built once over rows written before it existed.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { dueCursor } from '../../../src/store-kit/index.ts'
import { dueScanConformance } from '../../../src/testing/index.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const URL_ = `${SERVICES.redis.url}/0`
const FILE_PREFIX = `tk-due-${process.pid}-${randomBytes(4).toString('hex')}:`
const NOW = 1_900_000_000_000
let prefixes = 0
let admin: Redis
const opened: RedisStore[] = []

function open(prefix = `${FILE_PREFIX}${(prefixes += 1)}:`): RedisStore {
  const store = new RedisStore({ url: URL_, prefix })
  opened.push(store)
  return store
}

function token(n: number, expiryTime: number | undefined): OAuthToken {
  return new OAuthToken({
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${n}`,
    accessToken: `1000.access.${n}`,
    userSignature: new UserSignature(`user${n}@example.com`),
    ...(expiryTime === undefined ? {} : { expiryTime }),
  })
}

/** Saves `count` tokens, the first `due` of them expiring before NOW, the others long after. */
async function fill(store: RedisStore, count: number, due: number): Promise<void> {
  const saves: Promise<void>[] = []
  for (let n = 0; n < count; n += 1) {
    saves.push(store.saveToken(token(n, n < due ? NOW - 1000 + n : NOW + 3_600_000 + n)))
  }
  await Promise.all(saves)
}

/** The commands the server ran (scripts' commands included) while `body` ran, on this prefix. */
async function monitored(prefix: string, body: () => Promise<unknown>): Promise<string[][]> {
  const monitor = await admin.monitor()
  const seen: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((arg) => arg.startsWith(prefix))) seen.push(args)
  })
  try {
    await body()
    // MONITOR lines reach us a moment after the replies: a PING through it flushes them.
    await admin.ping()
    await new Promise((done) => setTimeout(done, 50))
  } finally {
    monitor.disconnect()
  }
  return seen
}

/** Removes the due index and its mark, as a version before the index left the store. */
async function forgetIndex(prefix: string): Promise<void> {
  await admin.del(`${prefix}due`, `${prefix}due:indexed`)
}

await describeWithService('redis', 'RedisStore due scan', () => {
  beforeAll(() => {
    admin = new Redis(URL_)
  })

  afterAll(async () => {
    for (const store of opened) await store.close?.().catch(() => undefined)
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${FILE_PREFIX}*`, 'COUNT', 1000)
      if (keys.length > 0) await admin.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await admin.quit()
  })

  describe('the published suite', () => {
    for (const t of dueScanConformance({ create: () => open() })) it(t.name, t.run)
  })

  describe('the published suite, with encryption: the rows are opened', () => {
    const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
    const create = () => {
      const store = new RedisStore({
        url: URL_,
        prefix: `${FILE_PREFIX}${(prefixes += 1)}:`,
        encryption,
      })
      opened.push(store)
      return store
    }
    for (const t of dueScanConformance({ create })) it(t.name, t.run)
  })

  it('keeps the index in the commit of each write: save, change of expiry, no expiry, delete', async () => {
    const store = open()
    const due = `${store.prefix}due`
    const saved = token(1, NOW)
    await store.saveToken(saved)
    expect(await admin.zrange(due, 0, -1, 'WITHSCORES')).toEqual([saved.id, String(NOW)])
    saved.expiryTime = NOW + 60_000
    await store.saveToken(saved)
    expect(await admin.zrange(due, 0, -1, 'WITHSCORES')).toEqual([saved.id, String(NOW + 60_000)])
    const other = token(2, undefined)
    await store.saveToken(other)
    expect(await admin.zscore(due, other.id!)).toBeNull()
    await store.deleteToken(saved.id!)
    expect(await admin.zcard(due)).toBe(0)
    await store.saveToken(token(3, NOW))
    await store.deleteTokens()
    expect(await admin.zcard(due)).toBe(0)
  })

  it('reads only the due entries and their rows, whatever the store holds', async () => {
    const store = open()
    await fill(store, 2000, 7)
    await store.findDueTokens({ before: NOW }) // the index is complete: no build below
    const prefix = store.prefix
    let found: OAuthToken[] = []
    const commands = await monitored(prefix, async () => {
      found = await store.findDueTokens({ before: NOW, limit: 5 })
    })
    expect(found.map((t) => t.expiryTime)).toEqual([0, 1, 2, 3, 4].map((n) => NOW - 1000 + n))
    const names = commands.map(([name]) => name!.toLowerCase())
    // No pass over the store: no scan, no listing of the id set, no read of another row.
    expect(names.filter((n) => /scan|keys|zrangebyscore/.test(n))).toEqual([])
    const rowsRead = commands.filter(([name]) => /^hgetall$/i.test(name!))
    expect(rowsRead.map(([, key]) => key).sort()).toEqual(
      found.map((t) => `${prefix}token:${t.id}`).sort(),
    )
    // The one range read inside the script asks for the limit's entries, no more.
    const ranges = commands.filter(([name]) => /^zrange$/i.test(name!))
    expect(ranges).toHaveLength(1)
    expect(ranges[0]!.slice(1, 4)).toEqual([`${prefix}due`, '0', '4'])
    // The next page starts at the cursor's place: again only its own entries.
    const next = await monitored(prefix, () =>
      store.findDueTokens({ before: NOW, limit: 5, after: dueCursor(found[4]!) }),
    )
    expect(next.filter(([name]) => /^hgetall$/i.test(name!))).toHaveLength(2)
  })

  it('builds the index once over rows written before it existed, also from two processes at once', async () => {
    const prefix = `${FILE_PREFIX}${(prefixes += 1)}:`
    await fill(open(prefix), 300, 40)
    await forgetIndex(prefix)
    const [a, b] = [open(prefix), open(prefix)]
    const [fromA, fromB] = await Promise.all([
      a.findDueTokens({ before: NOW, limit: 1000 }),
      b.findDueTokens({ before: NOW, limit: 1000 }),
    ])
    expect(fromA).toHaveLength(40)
    expect(fromB.map((t) => t.id)).toEqual(fromA.map((t) => t.id))
    expect(await admin.zcard(`${prefix}due`)).toBe(300)
    expect(await admin.get(`${prefix}due:indexed`)).toBe('1')
    // Built: a store opened later finds it complete and does not build it again.
    const later = open(prefix)
    const commands = await monitored(prefix, () => later.findDueTokens({ before: NOW }))
    expect(commands.filter(([name]) => /scan/i.test(name!))).toEqual([])
  })

  it('an entry read for the build and changed before it is added is not put back stale', async () => {
    const prefix = `${FILE_PREFIX}${(prefixes += 1)}:`
    const writer = open(prefix)
    await fill(writer, 20, 0)
    await forgetIndex(prefix)
    const [gone, moved] = await writer.getTokens()
    // The build's client, on the real server: its first batch of entries is sent only after
    // another process deleted one of the rows it read and moved another's expiry.
    const client = new Redis(URL_)
    let interleaved = false
    const interleaving = new Proxy(client, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown
        if (property !== 'evalsha' || typeof value !== 'function') {
          return typeof value === 'function' ? (value.bind(target) as unknown) : value
        }
        return async (...args: unknown[]) => {
          if (!interleaved && args[2] === `${prefix}due` && args[3] === `${prefix}token:`) {
            interleaved = true
            await writer.deleteToken(gone!.id!)
            moved!.expiryTime = NOW - 5
            await writer.saveToken(moved!)
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const store = new RedisStore({ client: interleaving, prefix })
    try {
      const due = await store.findDueTokens({ before: NOW })
      expect(interleaved).toBe(true)
      expect(due.map((t) => t.id)).toEqual([moved!.id])
      expect(await admin.zscore(`${prefix}due`, gone!.id!)).toBeNull()
      expect(await admin.zscore(`${prefix}due`, moved!.id!)).toBe(String(NOW - 5))
      expect(await admin.zcard(`${prefix}due`)).toBe(19)
    } finally {
      await store.close()
      await client.quit()
    }
  })

  it('builds it safely beside writers: rows saved, changed and deleted meanwhile are right', async () => {
    const prefix = `${FILE_PREFIX}${(prefixes += 1)}:`
    const writer = open(prefix)
    await fill(writer, 500, 0)
    await forgetIndex(prefix)
    const all = await writer.getTokens()
    const scan = open(prefix).findDueTokens({ before: NOW, limit: 1000 })
    const writes = all.slice(0, 100).map((t, i) => {
      if (i % 2 === 0) return writer.deleteToken(t.id!)
      t.expiryTime = NOW - 10_000 + i
      return writer.saveToken(t)
    })
    await Promise.all([scan, ...writes])
    // Whatever the scan saw in flight, the index now holds each row by its expiry, and no other.
    const rows = await writer.getTokens()
    const entries = await admin.zrange(`${prefix}due`, 0, -1, 'WITHSCORES')
    const indexed = new Map<string, number>()
    for (let i = 0; i < entries.length; i += 2) indexed.set(entries[i]!, Number(entries[i + 1]))
    expect(indexed).toEqual(new Map(rows.map((t) => [t.id!, t.expiryTime!])))
    const due = await open(prefix).findDueTokens({ before: NOW, limit: 1000 })
    expect(due.map((t) => t.id).sort()).toEqual(
      rows
        .filter((t) => t.expiryTime! <= NOW)
        .map((t) => t.id)
        .sort(),
    )
    expect(due).toHaveLength(50)
  })
})
