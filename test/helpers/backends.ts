// Each persistent backend, opened through tokenkeeper and also reached directly, as someone with
// read or write access to it (and no key) would: to read what it really holds, and to change it.
import { createCipheriv, createHmac, hkdfSync } from 'node:crypto'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { Redis } from 'ioredis'
import { COLUMNS, FileStore, type EncryptionOptions, type TokenStore } from '../../src/index.ts'
import type { Column } from '../../src/store/rows.ts'
import { formatRecord, parseRecords } from '../../src/stores/csv.ts'
import { DBStore } from '../../src/stores/mysql.ts'
import { PostgresStore } from '../../src/stores/postgres.ts'
import { RedisStore } from '../../src/stores/redis.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { SERVICES } from './services.ts'

/** A stored row, column by column, as the backend holds it. */
export type RawRow = Record<Column, string | null>

/** A backend under test: stores on the same data, with or without keys, and its raw content. */
export interface Backend {
  readonly name: string
  open(encryption?: EncryptionOptions): TokenStore
  /** Everything the backend holds, as text. */
  raw(): Promise<string>
  /** One row as stored, or undefined. */
  row(id: string): Promise<RawRow | undefined>
  /** Writes columns of a stored row directly, as someone with write access to the backend can. */
  patch(id: string, changes: Partial<RawRow>): Promise<void>
}

/**
 * A value as the first format (tk1) sealed it, written from its description in
 * docs/encryption.md (and pinned by a known-answer test): test rows of that format.
 */
export function sealTk1(key: Buffer, keyId: string, value: string): string {
  const derive = (purpose: string): Buffer =>
    Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `tokenkeeper ${purpose}`, 32))
  const nonce = createHmac('sha256', derive('synthetic iv'))
    .update(value, 'utf8')
    .digest()
    .subarray(0, 12)
  const cipher = createCipheriv('aes-256-gcm', derive('aes-256-gcm'), nonce)
  cipher.setAAD(Buffer.from(`tk1.${keyId}`))
  const body = Buffer.concat([
    nonce,
    cipher.update(value, 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ])
  return `tk1.${keyId}.${body.toString('base64url')}`
}

export function fileBackend(path: string): Backend {
  const read = (): string => {
    try {
      return readFileSync(path, 'utf8')
    } catch (err) {
      // No file yet is an empty store; any other failure must fail the test, not read as ''.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ''
      throw err
    }
  }
  const records = (): (string | null)[][] =>
    [...parseRecords(read())].map((r) => ('fields' in r ? r.fields : [])).slice(1)
  return {
    name: 'FileStore',
    open: (encryption) => new FileStore({ path, encryption }),
    raw: async () => read(),
    row: async (id) => {
      const found = records().find((fields) => fields[0] === id)
      return found && (Object.fromEntries(COLUMNS.map((c, i) => [c, found[i] || null])) as RawRow)
    },
    patch: async (id, changes) => {
      const lines = [formatRecord(COLUMNS)]
      for (const fields of records()) {
        if (fields[0] === id) {
          for (const [column, value] of Object.entries(changes)) {
            fields[COLUMNS.indexOf(column as Column)] = value
          }
        }
        lines.push(formatRecord(fields))
      }
      // A new file under the name, as any writer does: the store sees a new version.
      writeFileSync(`${path}.patch`, `${lines.join('\n')}\n`)
      renameSync(`${path}.patch`, path)
    },
  }
}

export function sqliteBackend(path: string): Backend {
  const withDb = <T>(work: (db: Database.Database) => T): T => {
    const db = new Database(path)
    try {
      return work(db)
    } finally {
      db.close()
    }
  }
  return {
    name: 'SQLiteStore',
    open: (encryption) => new SQLiteStore({ path, encryption }),
    raw: async () => withDb((db) => JSON.stringify(db.prepare('SELECT * FROM oauthtoken').all())),
    row: async (id) =>
      withDb(
        (db) =>
          db.prepare(`SELECT ${COLUMNS.join(', ')} FROM oauthtoken WHERE id = ?`).get(id) as RawRow,
      ),
    patch: async (id, changes) =>
      withDb((db) => {
        const set = Object.keys(changes).map((c) => `${c} = ?`)
        db.prepare(`UPDATE oauthtoken SET ${set.join(', ')} WHERE id = ?`).run(
          ...Object.values(changes),
          id,
        )
      }),
  }
}

export function mysqlBackend(url: string, table: string): Backend {
  const withDb = async <T>(work: (db: mysql.Connection) => Promise<T>): Promise<T> => {
    const db = await mysql.createConnection({ uri: url })
    try {
      return await work(db)
    } finally {
      await db.end()
    }
  }
  return {
    name: 'DBStore',
    open: (encryption) => new DBStore({ url, table, encryption }),
    raw: () =>
      withDb(async (db) => JSON.stringify((await db.query(`SELECT * FROM \`${table}\``))[0])).catch(
        (err: { code?: string }) => {
          // No table yet is an empty store; a broken read must fail the test.
          if (err.code === 'ER_NO_SUCH_TABLE') return ''
          throw err
        },
      ),
    row: (id) =>
      withDb(async (db) => {
        const [rows] = await db.query(
          `SELECT ${COLUMNS.join(', ')} FROM \`${table}\` WHERE id = ?`,
          [id],
        )
        return (rows as RawRow[])[0]
      }),
    patch: (id, changes) =>
      withDb(async (db) => {
        const set = Object.keys(changes).map((c) => `\`${c}\` = ?`)
        await db.query(`UPDATE \`${table}\` SET ${set.join(', ')} WHERE id = ?`, [
          ...Object.values(changes),
          id,
        ])
      }),
  }
}

export function postgresBackend(connectionString: string, table: string): Backend {
  const withDb = async <T>(work: (db: pg.Client) => Promise<T>): Promise<T> => {
    const db = new pg.Client({ connectionString })
    await db.connect()
    try {
      return await work(db)
    } finally {
      await db.end()
    }
  }
  return {
    name: 'PostgresStore',
    open: (encryption) => new PostgresStore({ connectionString, table, encryption }),
    raw: () =>
      withDb(async (db) => JSON.stringify((await db.query(`SELECT * FROM ${table}`)).rows)).catch(
        (err: { code?: string }) => {
          // No table yet (42P01) is an empty store; a broken read must fail the test.
          if (err.code === '42P01') return ''
          throw err
        },
      ),
    row: (id) =>
      withDb(
        async (db) =>
          (await db.query<RawRow>(`SELECT ${COLUMNS.join(', ')} FROM ${table} WHERE id = $1`, [id]))
            .rows[0],
      ),
    patch: (id, changes) =>
      withDb(async (db) => {
        const set = Object.keys(changes).map((c, i) => `${c} = $${i + 2}`)
        await db.query(`UPDATE ${table} SET ${set.join(', ')} WHERE id = $1`, [
          id,
          ...Object.values(changes),
        ])
      }),
  }
}

export function redisBackend(prefix: string): Backend {
  const withDb = async <T>(work: (db: Redis) => Promise<T>): Promise<T> => {
    const db = new Redis(SERVICES.redis.url)
    try {
      return await work(db)
    } finally {
      db.disconnect()
    }
  }
  return {
    name: 'RedisStore',
    open: (encryption) => new RedisStore({ url: SERVICES.redis.url, prefix, encryption }),
    raw: () =>
      withDb(async (db) => {
        // Everything under the prefix, keys and values.
        const out: string[] = []
        let cursor = '0'
        do {
          const [next, keys] = await db.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
          cursor = next
          for (const key of keys) {
            const type = await db.type(key)
            const value =
              type === 'hash'
                ? // Sorted: a large hash's field order moves as Redis rehashes it, even on reads.
                  Object.fromEntries(Object.entries(await db.hgetall(key)).sort())
                : type === 'string'
                  ? await db.get(key)
                  : await db.zrange(key, 0, -1)
            out.push(`${key}=${JSON.stringify(value)}`)
          }
        } while (cursor !== '0')
        return out.sort().join('\n')
      }),
    row: (id) =>
      withDb(async (db) => {
        const hash = await db.hgetall(`${prefix}token:${id}`)
        if (Object.keys(hash).length === 0) return undefined
        return Object.fromEntries(COLUMNS.map((c) => [c, hash[c] || null])) as RawRow
      }),
    patch: (id, changes) =>
      withDb(async (db) => {
        let key = `${prefix}token:${id}`
        if (changes.id !== undefined && changes.id !== null && changes.id !== id) {
          // The row moves to the other id: its key and its place in the list of ids.
          const moved = `${prefix}token:${changes.id}`
          await db.rename(key, moved)
          const score = await db.zscore(`${prefix}ids`, id)
          await db.zrem(`${prefix}ids`, id)
          await db.zadd(`${prefix}ids`, score ?? '0', changes.id)
          key = moved
        }
        for (const [column, value] of Object.entries(changes)) {
          if (value === null) await db.hdel(key, column)
          else await db.hset(key, column, value)
        }
      }),
  }
}

export { SERVICES }
