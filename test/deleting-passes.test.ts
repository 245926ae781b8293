// Deleting the tokens a pass has given, while it runs (as purgeTokens does), in every store kind:
// each token is given once and every one is deleted. Where a store offers iteration (every kind
// here), its own pages are what is tested.
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import type { OAuthToken } from '../src/index.ts'
import {
  ListStore,
  MemoryStore,
  createStore,
  purgeTokens,
  withEncryption,
  type TokenStore,
} from '../src/index.ts'
import { eachToken, supportsIteration } from '../src/iteration.ts'
import { scratchDir } from './helpers/common.ts'
import { HOUR, NOW, token } from './helpers/iteration-only.ts'
import {
  FILE,
  POSTGRES,
  REDIS,
  SQLITE,
  type StoreKind,
  type StorePlace,
} from './helpers/store-kinds.ts'
import { describeWithService, SERVICES } from './helpers/services.ts'

const dir = scratchDir('tokenkeeper-passes-')

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

/** 40 tokens saved, then a pass in pages of 3 that deletes each token as soon as it is given. */
async function passDeleting(store: TokenStore): Promise<{ saved: string[]; given: string[] }> {
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
  return { saved: saved.sort(), given: given.sort() }
}

/** Deletes each token as soon as the pass gave it, as purge does. */
function deletingWhilePassing(open: () => Promise<TokenStore>): void {
  it('each token is given once, and every one is deleted', async () => {
    const store = await open()
    // Its own pages are what is tested, not the getTokens() that eachToken falls back on.
    expect(supportsIteration(store)).toBe(true)
    const { saved, given } = await passDeleting(store)
    expect(given).toEqual(saved)
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
  it('(the check finds a store that pages by position: it skips a token per one deleted)', async () => {
    class ByOffset extends MemoryStore {
      override async *iterateTokens(options?: { pageSize?: number }): AsyncGenerator<OAuthToken> {
        const size = options?.pageSize ?? 500
        for (let offset = 0; ; offset += size) {
          const page = (await this.getTokens()).slice(offset, offset + size)
          if (page.length === 0) return
          yield* page
        }
      }
    }
    const { saved, given } = await passDeleting(new ByOffset())
    expect(given.length).toBeLessThan(saved.length)
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
