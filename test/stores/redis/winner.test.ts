// RedisStore's token indexes hold the rows that share a value in the order of compareRowIds (the
// conformance suite checks that on new stores). Here: indexes an earlier version wrote, scored
// by insertion number, give the same winner once a lookup or a save meets them.
import { createHash, randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken } from '../../../src/index.ts'
import { RedisStore } from '../../../src/stores/redis.ts'
import { SERVICES, describeWithService } from '../../helpers/services.ts'

const URL_ = `${SERVICES.redis.url}/0`
const FILE_PREFIX = `tk-winner-${process.pid}-${randomBytes(4).toString('hex')}:`
let prefixes = 0
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex')
const client = { clientId: '1000.CLIENT', clientSecret: 'secret' }

let admin: Redis
const opened: RedisStore[] = []

function open(): RedisStore {
  const store = new RedisStore({ url: URL_, prefix: `${FILE_PREFIX}${(prefixes += 1)}:` })
  opened.push(store)
  return store
}

/** Rows sharing a grant token, saved in an order that neither insertion nor text order wins. */
async function sharedRows(store: RedisStore, grant: string): Promise<void> {
  for (const id of ['12', 'x', '9', '10']) {
    await store.saveToken(
      new OAuthToken({ ...client, id, grantToken: grant, accessToken: `access of ${id}` }),
    )
  }
}

/** Scores an index by insertion number, as a version before the ranks wrote it. */
async function scoreByInsertion(store: RedisStore, column: string, value: string): Promise<string> {
  const key = `${store.prefix}idx:${column}:${sha256(value)}`
  const inserted = await admin.zrange(`${store.prefix}ids`, 0, -1, 'WITHSCORES')
  const pairs: string[] = []
  for (let i = 0; i < inserted.length; i += 2) {
    if ((await admin.zscore(key, inserted[i]!)) !== null) pairs.push(inserted[i + 1]!, inserted[i]!)
  }
  await admin.zadd(key, 'XX', ...pairs)
  expect(await admin.zrange(key, 0, 0)).toEqual(['12'])
  return key
}

await describeWithService(
  'redis',
  'RedisStore: the winner in indexes of an earlier version',
  () => {
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

    it('findToken ranks an index scored by insertion and returns the oldest row', async () => {
      const store = open()
      await sharedRows(store, 'old grant')
      const key = await scoreByInsertion(store, 'grant_token', 'old grant')
      const found = await store.findToken(new OAuthToken({ ...client, grantToken: 'old grant' }))
      expect(found?.id).toBe('9')
      expect(await admin.zrange(key, 0, -1, 'WITHSCORES')).toEqual([
        '9',
        String(9 - 1e10),
        '10',
        String(10 - 1e10),
        '12',
        String(12 - 1e10),
        'x',
        '0',
      ])
    })

    it('a save without an id ranks an index scored by insertion and updates the oldest row', async () => {
      const store = open()
      await sharedRows(store, 'old grant')
      await scoreByInsertion(store, 'grant_token', 'old grant')
      const update = new OAuthToken({ ...client, grantToken: 'old grant', accessToken: 'new' })
      await store.saveToken(update)
      expect(update.id).toBe('9')
      expect((await store.findTokenById('9'))?.accessToken).toBe('new')
      expect((await store.findTokenById('12'))?.accessToken).toBe('access of 12')
    })

    it('an index with one row scored by insertion is left as it is: that row is the winner', async () => {
      const store = open()
      await store.saveToken(new OAuthToken({ ...client, id: '5', grantToken: 'alone' }))
      const key = `${store.prefix}idx:grant_token:${sha256('alone')}`
      await admin.zadd(key, 'XX', 1, '5')
      const found = await store.findToken(new OAuthToken({ ...client, grantToken: 'alone' }))
      expect(found?.id).toBe('5')
      expect(await admin.zscore(key, '5')).toBe('1')
    })
  },
)
