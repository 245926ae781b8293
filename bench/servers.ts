// The server stores in the benchmark: filled in bulk through the driver (the fill is not
// measured), then measured through the store like the embedded ones.
import { createConnection } from 'node:net'
import { COLUMNS, type TokenStore } from '../src/index.ts'
import { rowFromToken } from '../src/store/rows.ts'
import { realisticToken } from './data.ts'

export interface ServerKind {
  readonly name: string
  readonly host: string
  readonly port: number
  /** A new, empty store of `size` tokens (users 0..size-1), and how to remove it afterwards. */
  fill(size: number): Promise<{ store: TokenStore; drop: () => Promise<void> }>
  /** The driver's bare round trip (`SELECT 1`, `PING`): the floor under one look-up. */
  roundTrip(): Promise<{ once: () => Promise<unknown>; end: () => Promise<void> }>
}

/** Whether a server listens on host:port (a TCP connect within a second); tests use it too. */
export function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** The rows of `size` realistic tokens, in column order, in batches. */
export function* rowBatches(size: number, batch = 1000): Generator<(string | null)[][]> {
  const now = Date.now()
  for (let start = 0; start < size; start += batch) {
    const rows: (string | null)[][] = []
    for (let i = start; i < Math.min(size, start + batch); i += 1) {
      const row = rowFromToken(realisticToken(i, now), String(i + 1))
      rows.push(COLUMNS.map((c) => row[c]))
    }
    yield rows
  }
}

export const MYSQL: ServerKind = {
  async roundTrip() {
    const mysql = await import('mysql2/promise')
    const connection = await mysql.createConnection({ uri: 'mysql://root@127.0.0.1:3306' })
    return { once: () => connection.execute('SELECT 1'), end: () => connection.end() }
  },
  name: 'DBStore',
  host: '127.0.0.1',
  port: 3306,
  async fill(size) {
    const { DBStore } = await import('../src/stores/mysql.ts')
    const mysql = await import('mysql2/promise')
    const table = `bench_${process.pid}_${size}`
    const url = 'mysql://root@127.0.0.1:3306/tokenkeeper_bench'
    const store = new DBStore({ url, table, poolSize: 32 })
    await store.getTokens() // creates the database and the table
    const admin = await mysql.createConnection({ uri: url })
    for (const rows of rowBatches(size)) {
      await admin.query(`INSERT INTO \`${table}\` (${COLUMNS.join(', ')}) VALUES ?`, [rows])
    }
    return {
      store,
      drop: async () => {
        await store.close()
        await admin.query(`DROP TABLE \`${table}\``)
        await admin.end()
      },
    }
  },
}

export const POSTGRES: ServerKind = {
  async roundTrip() {
    const pg = (await import('pg')).default
    const client = new pg.Client({
      connectionString: 'postgres://postgres@127.0.0.1:5432/postgres',
    })
    await client.connect()
    return { once: () => client.query({ name: 'ping', text: 'SELECT 1' }), end: () => client.end() }
  },
  name: 'PostgresStore',
  host: '127.0.0.1',
  port: 5432,
  async fill(size) {
    const { PostgresStore } = await import('../src/stores/postgres.ts')
    const pg = (await import('pg')).default
    const table = `bench_${process.pid}_${size}`
    const connectionString = 'postgres://postgres@127.0.0.1:5432/postgres'
    const store = new PostgresStore({ connectionString, table, poolSize: 32 })
    await store.getTokens() // creates the table
    const admin = new pg.Client({ connectionString })
    await admin.connect()
    for (const rows of rowBatches(size)) {
      const columns = COLUMNS.map((_, c) => rows.map((row) => row[c]))
      await admin.query(
        `INSERT INTO ${table} (${COLUMNS.join(', ')}) SELECT * FROM unnest(${COLUMNS.map((_, i) => `$${i + 1}::text[]`).join(', ')})`,
        columns,
      )
    }
    return {
      store,
      drop: async () => {
        await store.close()
        await admin.query(`DROP TABLE ${table}`)
        await admin.end()
      },
    }
  },
}

export const REDIS_URL = 'redis://127.0.0.1:6379'

export const REDIS: ServerKind = {
  async roundTrip() {
    const { Redis } = await import('ioredis')
    const client = new Redis(REDIS_URL)
    return { once: () => client.ping(), end: async () => void client.disconnect() }
  },
  name: 'RedisStore',
  host: '127.0.0.1',
  port: 6379,
  async fill(size) {
    const { RedisStore } = await import('../src/stores/redis.ts')
    const store = new RedisStore({
      url: REDIS_URL,
      prefix: `tk-bench-${process.pid}-${size}:`,
    })
    // No bulk path around the store here: its saves keep the indexes; 64 at a time.
    const now = Date.now()
    let next = 0
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < size) await store.saveToken(realisticToken(next++, now))
      }),
    )
    return {
      store,
      drop: async () => {
        await store.deleteTokens()
        await store.close()
      },
    }
  },
}
