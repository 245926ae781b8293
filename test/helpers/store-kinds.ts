// Real stores of each kind behind a URL, as the CLI opens them: a FileStore and a SQLite file in a
// scratch directory, a PostgreSQL table and a Redis prefix of their own, removed afterwards.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createStore, type TokenStore } from '../../src/index.ts'
import { scratchPath } from './common.ts'
import { SERVICES, type ServiceName } from './services.ts'

/** One place a store lives: its URL, and a way to open it (as often as wanted) and wipe it. */
export interface StorePlace {
  readonly url: string
  open(): Promise<TokenStore>
  /** Closes what `open` gave and removes the table or keys. */
  cleanup(): Promise<void>
}

/** A kind of store, and the server it needs, if any. */
export interface StoreKind {
  readonly name: string
  readonly service?: ServiceName
  place(dir: string): StorePlace
}

const RUN = `${process.pid}_${randomBytes(3).toString('hex')}`
let serial = 0

function place(url: string, wipe: () => Promise<void> = async () => {}): StorePlace {
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
      await wipe()
    },
  }
}

export const FILE: StoreKind = {
  name: 'FileStore',
  place: (dir) => place(`file:${scratchPath(dir, 'tokens.txt')}`),
}

export const SQLITE: StoreKind = {
  name: 'SQLiteStore',
  place: (dir) => place(`sqlite:${scratchPath(dir, 'tokens.db')}`),
}

export const POSTGRES: StoreKind = {
  name: 'PostgresStore',
  service: 'postgres',
  place: () => {
    const table = `tk_maint_${RUN}_${(serial += 1)}`
    return place(`${SERVICES.postgres.url}?table=${table}`, async () => {
      const admin = new pg.Client({ connectionString: SERVICES.postgres.url })
      await admin.connect()
      try {
        await admin.query(`DROP TABLE IF EXISTS "${table}"`)
      } finally {
        await admin.end()
      }
    })
  },
}

export const REDIS: StoreKind = {
  name: 'RedisStore',
  service: 'redis',
  place: () => {
    const prefix = `tk-maint-${RUN}-${(serial += 1)}:`
    return place(`${SERVICES.redis.url}/0?prefix=${encodeURIComponent(prefix)}`, async () => {
      const admin = new Redis(`${SERVICES.redis.url}/0`)
      try {
        let cursor = '0'
        do {
          const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
          if (keys.length > 0) await admin.del(...keys)
          cursor = next
        } while (cursor !== '0')
      } finally {
        admin.disconnect()
      }
    })
  },
}
