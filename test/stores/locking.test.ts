// Every store of tokenkeeper against the published locking suite: leases that exclude, are
// renewed while held, lapse (or end with their connection) and report their loss; and the
// conditional save that fences a refresh. Server stores run against the real servers.
import { createHash, randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { Redis } from 'ioredis'
import { afterAll, describe, it } from 'vitest'
import { FileStore, ListStore, MemoryStore } from '../../src/index.ts'
import { DBStore } from '../../src/stores/mysql.ts'
import { PostgresStore } from '../../src/stores/postgres.ts'
import { RedisStore } from '../../src/stores/redis.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { tokenLockingConformance, type LockingStore } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const dir = scratchDir()
const tag = `${process.pid}_${randomBytes(3).toString('hex')}`
let serial = 0
const next = (): number => (serial += 1)
const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }

describe('MemoryStore leases and conditional saves', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => new MemoryStore({ lockLeaseMs }),
  }))
    it(t.name, t.run)
})

describe('ListStore leases and conditional saves', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => new ListStore({ lockLeaseMs }),
  }))
    it(t.name, t.run)
})

describe('FileStore leases and conditional saves (two stores on one file)', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => new FileStore({ path: scratchPath(dir, 'tokens.csv'), lockLeaseMs }),
    share: (store) => new FileStore({ path: (store as FileStore).path, lockLeaseMs: 300 }),
  }))
    it(t.name, t.run)
})

describe('FileStore with encryption: leases and conditional saves', () => {
  const paths = new WeakMap<object, string>()
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => {
      const path = scratchPath(dir, 'sealed.csv')
      const store = new FileStore({ path, lockLeaseMs, encryption })
      paths.set(store, path)
      return store
    },
    share: (store) => new FileStore({ path: paths.get(store)!, lockLeaseMs: 300, encryption }),
  }))
    it(t.name, t.run)
})

describe('SQLiteStore leases and conditional saves (two stores on one database)', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => new SQLiteStore({ path: scratchPath(dir, 'tokens.db'), lockLeaseMs }),
    share: (store) => new SQLiteStore({ path: (store as SQLiteStore).path, lockLeaseMs: 300 }),
  }))
    it(t.name, t.run)
})

describe('SQLiteStore in memory: leases and conditional saves', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) => new SQLiteStore({ path: ':memory:', lockLeaseMs }),
  }))
    it(t.name, t.run)
})

await describeWithService('redis', 'RedisStore leases and conditional saves', () => {
  const prefixes: string[] = []
  afterAll(async () => {
    const admin = new Redis(SERVICES.redis.url)
    for (const prefix of prefixes) {
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length > 0) await admin.del(...keys)
    }
    admin.disconnect()
  })
  const open = (prefix: string, lockLeaseMs: number, sealed = false) =>
    new RedisStore({
      url: SERVICES.redis.url,
      prefix,
      lockLeaseMs,
      ...(sealed ? { encryption } : {}),
    })
  for (const sealed of [false, true]) {
    describe(sealed ? 'with encryption' : 'plain', () => {
      const prefixOf = new WeakMap<object, string>()
      for (const t of tokenLockingConformance({
        create: (lockLeaseMs) => {
          const prefix = `tk-lease-${tag}-${next()}:`
          prefixes.push(prefix)
          const store = open(prefix, lockLeaseMs, sealed)
          prefixOf.set(store, prefix)
          return store
        },
        share: (store) => open(prefixOf.get(store)!, 300, sealed),
      }))
        it(t.name, t.run)
    })
  }
})

await describeWithService('postgres', 'PostgresStore leases and conditional saves', () => {
  const admin = new pg.Pool({ connectionString: SERVICES.postgres.url, max: 2 })
  const tables: string[] = []
  afterAll(async () => {
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS "${table}"`)
    await admin.end()
  })
  for (const t of tokenLockingConformance({
    create: () => {
      const table = `tk_lease_${tag}_${next()}`
      tables.push(table)
      return new PostgresStore({
        connectionString: SERVICES.postgres.url,
        table,
        applicationName: `holder_${table}`,
      })
    },
    share: (store) =>
      new PostgresStore({
        connectionString: SERVICES.postgres.url,
        table: (store as PostgresStore).table,
        applicationName: `waiter_${(store as PostgresStore).table}`,
      }),
    leases: 'connection',
    // The holder's backend ends as if its process had crashed: its advisory locks go with it.
    dropHolder: async (store) => {
      const { rowCount } = await admin.query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND a.application_name = $1",
        [`holder_${(store as PostgresStore).table}`],
      )
      if (rowCount !== 1) throw new Error(`expected one holder connection, found ${rowCount}`)
    },
  }))
    it(t.name, t.run)
})

await describeWithService('mariadb', 'DBStore leases and conditional saves', () => {
  const database = 'tokenkeeper_test'
  const url = `${SERVICES.mariadb.url}/${database}`
  const tables: string[] = []
  let admin: mysql.Connection | undefined
  const connect = async (): Promise<mysql.Connection> => {
    admin ??= await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${database}`)
    return admin
  }
  afterAll(async () => {
    if (!admin) return
    for (const table of tables)
      await admin.query(`DROP TABLE IF EXISTS \`${database}\`.\`${table}\``)
    await admin.end()
  })
  const locking = (store: LockingStore) => store as unknown as DBStore
  for (const t of tokenLockingConformance({
    create: async () => {
      await connect()
      const table = `tk_lease_${tag}_${next()}`
      tables.push(table)
      return new DBStore({ url, table })
    },
    share: (store) => new DBStore({ url, table: locking(store).table }),
    leases: 'connection',
    // The connection holding the named lock is killed, as if its process had crashed.
    dropHolder: async (store, id) => {
      const name = `tk:${createHash('sha256')
        .update(`${database}.${locking(store).table}:${id}`)
        .digest('hex')
        .slice(0, 48)}`
      const connection = await connect()
      const [rows] = await connection.query('SELECT IS_USED_LOCK(?) AS holder', [name])
      const holder = (rows as { holder: number | null }[])[0]?.holder
      if (!holder) throw new Error('nobody holds the lock')
      await connection.query(`KILL ${Number(holder)}`)
    },
  }))
    it(t.name, t.run)
})
