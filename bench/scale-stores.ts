// The stores of the scale benchmark, filled in bulk the way a user who switches from the official
// SDKs already has them: the token file or table alone (ids 1..N, no tokenkeeper index), or for
// Redis the store's own key layout written directly. Each is named by the store URL the CLI
// takes, so that the benchmark, its child processes and the CLI open the same store.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, copyFileSync, createReadStream, existsSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { COLUMNS, rowFromToken } from '../src/store/rows.ts'
import { formatRecord } from '../src/stores/csv.ts'
import { budgetTable } from '../src/stores/sql/health.ts'
import { createTableSql } from '../src/stores/sql/schema.ts'
import { officialTable } from './official.ts'
import { realisticToken, userName } from './data.ts'
import { REDIS_URL } from './servers.ts'

export const SCALE_KINDS = ['file', 'sqlite', 'mysql', 'postgres', 'redis'] as const
export type ScaleKind = (typeof SCALE_KINDS)[number]

export const STORE_NAMES: Record<ScaleKind, string> = {
  file: 'FileStore',
  sqlite: 'SQLiteStore',
  mysql: 'DBStore (MariaDB)',
  postgres: 'PostgresStore',
  redis: 'RedisStore',
}

/** What the first open of the filled store does besides reading (reported beside its time). */
export const FIRST_OPEN: Record<ScaleKind, string> = {
  file: 'reads the official CSV file; builds no index',
  sqlite: 'builds the lookup-hash and numeric-id indexes on the official table',
  mysql:
    'ALTER TABLE adds 4 stored SHA-256 columns and the invisible id_number column (a table rebuild), then 5 indexes',
  postgres: 'creates 4 md5 expression indexes and the partial numeric-id index',
  redis:
    'nothing: the layout is the store’s own (ids, numbers and numbered are written by the fill)',
}

/** A filled store: its URL, where its bytes are (embedded), and how to remove it. */
export interface FilledStore {
  readonly url: string
  /** The file the store lives in (file, SQLite), for its size. */
  readonly path?: string
  /** The official SDK's view of it, where the official SDK can take part. */
  readonly official?: { readonly kind: 'file' | 'mysql'; readonly location: string }
  readonly fillMs: number
  /** What the fill time covers. */
  readonly fillNote: string
  drop(): Promise<void>
}

/**
 * The rows of `rows` tokens in column order, in batches, as `rowBatches` gives them (users
 * 0..rows-1, ids 1..rows, the same client and shape) but about 20 times faster: the row of
 * one realistic token is the template, and each row gets its own user and its own random
 * grant, refresh and access tokens from one buffer of random bytes per batch.
 */
export function* fastRows(rows: number, batch = 10_000): Generator<(string | null)[][]> {
  const template = COLUMNS.map((c) => rowFromToken(realisticToken(0), '1')[c])
  const at = (column: (typeof COLUMNS)[number]) => COLUMNS.indexOf(column)
  const secrets = [at('grant_token'), at('refresh_token'), at('access_token')]
  for (let start = 0; start < rows; start += batch) {
    const size = Math.min(batch, rows - start)
    const hex = randomBytes(size * secrets.length * 32).toString('hex')
    const out: (string | null)[][] = []
    for (let i = 0; i < size; i += 1) {
      const row = [...template]
      row[at('id')] = String(start + i + 1)
      row[at('user_name')] = userName(start + i)
      secrets.forEach((column, s) => {
        const from = (i * secrets.length + s) * 64
        row[column] = `1000.${hex.slice(from, from + 32)}.${hex.slice(from + 32, from + 64)}`
      })
      out.push(row)
    }
    yield out
  }
}

const MYSQL_ROOT = 'mysql://root@127.0.0.1:3306'
const MYSQL_DATABASE = 'tokenkeeper_scale'
const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

/**
 * The official token file of `rows` tokens in `dir` (written once per size, then copied): the
 * CSV the official SDKs write, and the source of the SQL bulk loads. Written a batch at a time,
 * as a million rows (about 400 MB) would not fit one string.
 */
function sourceCsv(dir: string, rows: number): string {
  const path = join(dir, `source-${rows}.csv`)
  if (existsSync(path)) return path
  const fd = openSync(path, 'w', 0o644)
  try {
    writeSync(fd, formatRecord(COLUMNS) + '\n')
    for (const batch of fastRows(rows)) {
      writeSync(fd, batch.map((row) => formatRecord(row) + '\n').join(''))
    }
  } finally {
    closeSync(fd)
  }
  return path
}

const unique = (rows: number) => `scale_${process.pid}_${rows}`

async function fillFile(dir: string, rows: number): Promise<FilledStore> {
  const started = performance.now()
  const source = sourceCsv(dir, rows)
  const path = join(dir, `sdk_tokens-${rows}.txt`)
  copyFileSync(source, path)
  return {
    url: `file:${path}`,
    path,
    official: { kind: 'file', location: path },
    fillMs: performance.now() - started,
    fillNote: 'rows generated and written as CSV',
    drop: async () => undefined,
  }
}

async function fillSqlite(dir: string, rows: number): Promise<FilledStore> {
  const started = performance.now()
  const path = join(dir, `zohooauth-${rows}.db`)
  const db = new Database(path)
  db.exec(createTableSql('sqlite', 'oauthtoken'))
  const insert = db.prepare(
    `INSERT INTO oauthtoken (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
  )
  db.transaction(() => {
    for (const batch of fastRows(rows)) for (const row of batch) insert.run(row)
  })()
  db.close()
  return {
    url: `sqlite:${path}`,
    path,
    fillMs: performance.now() - started,
    fillNote: 'rows generated, inserted in one transaction',
    drop: async () => undefined,
  }
}

/** The official table (as the official SDK's README has it), loaded by LOAD DATA LOCAL INFILE. */
async function fillMysql(dir: string, rows: number): Promise<FilledStore> {
  const source = sourceCsv(dir, rows)
  const mysql = await import('mysql2/promise')
  const table = unique(rows)
  const admin = await mysql.createConnection({
    uri: MYSQL_ROOT,
    infileStreamFactory: (path: string) => createReadStream(path),
  })
  const started = performance.now()
  await admin.query(`CREATE DATABASE IF NOT EXISTS ${MYSQL_DATABASE}`)
  await admin.query(`USE ${MYSQL_DATABASE}`)
  await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
  await admin.query(officialTable(table))
  await admin.query(
    `LOAD DATA LOCAL INFILE ? INTO TABLE \`${table}\` CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ` +
      `OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n' IGNORE 1 LINES (${COLUMNS.join(', ')})`,
    [source],
  )
  const fillMs = performance.now() - started
  return {
    url: `${MYSQL_ROOT}/${MYSQL_DATABASE}?table=${table}`,
    official: { kind: 'mysql', location: table },
    fillMs,
    fillNote: 'LOAD DATA LOCAL INFILE of the CSV into the official table',
    drop: async () => {
      // The store's budget table beside it too (created when the store is opened).
      await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${budgetTable(table)}\``)
      await admin.end()
    },
  }
}

/** The official columns (no official PostgreSQL store exists), loaded by psql's \copy. */
async function fillPostgres(dir: string, rows: number): Promise<FilledStore> {
  const source = sourceCsv(dir, rows)
  const table = unique(rows)
  const psql = (command: string) =>
    execFileSync('psql', [POSTGRES_URL, '-v', 'ON_ERROR_STOP=1', '-qc', command], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, PGOPTIONS: '-c client_min_messages=warning' },
    })
  const started = performance.now()
  psql(`DROP TABLE IF EXISTS ${table}`)
  // The reference's table, column for column: plain standard SQL that PostgreSQL takes as is.
  psql(createTableSql('sqlite', table))
  psql(`\\copy ${table} (${COLUMNS.join(', ')}) FROM '${source}' WITH (FORMAT csv, HEADER true)`)
  psql(`VACUUM ANALYZE ${table}`)
  return {
    url: `${POSTGRES_URL}?table=${table}`,
    fillMs: performance.now() - started,
    fillNote: 'psql \\copy of the CSV into a table of the official columns, then VACUUM ANALYZE',
    drop: async () => void psql(`DROP TABLE IF EXISTS ${table}, ${budgetTable(table)}`),
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex')

/**
 * RedisStore's own layout (src/stores/redis.ts), by pipelines: per token the hash `token:<id>`
 * of its non-null columns, the user name index `idx:user_name:<sha256>` (the id), the token
 * indexes `idx:<column>:<sha256>` (sorted sets of ids, score: the insertion sequence); the `ids`
 * set by sequence, the `numbers` set by numeric value, `seq` at N and the `numbered` mark.
 */
async function fillRedis(rows: number): Promise<FilledStore> {
  const { Redis } = await import('ioredis')
  const client = new Redis(REDIS_URL)
  const prefix = `tk-scale-${process.pid}-${rows}:`
  const started = performance.now()
  let sequence = 0
  for (const batch of fastRows(rows, 2000)) {
    const pipeline = client.pipeline()
    const ids: (string | number)[] = []
    const numbers: (string | number)[] = []
    const names: string[] = []
    for (const row of batch) {
      sequence += 1
      const id = row[0]!
      const fields: string[] = []
      COLUMNS.forEach((column, c) => {
        if (row[c] !== null) fields.push(column, row[c]!)
      })
      pipeline.hset(`${prefix}token:${id}`, ...fields)
      for (const column of ['access_token', 'grant_token', 'refresh_token'] as const) {
        const value = row[COLUMNS.indexOf(column)]
        if (value) pipeline.zadd(`${prefix}idx:${column}:${sha256(value)}`, sequence, id)
      }
      names.push(`${prefix}idx:user_name:${sha256(row[COLUMNS.indexOf('user_name')]!)}`, id)
      ids.push(sequence, id)
      numbers.push(Number(id), id)
    }
    pipeline.mset(...names)
    pipeline.zadd(`${prefix}ids`, ...ids)
    pipeline.zadd(`${prefix}numbers`, ...numbers)
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err
  }
  await client.mset(`${prefix}seq`, String(sequence), `${prefix}numbered`, '1')
  const fillMs = performance.now() - started
  return {
    url: `${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`,
    fillMs,
    fillNote: 'rows generated, written in the store’s key layout by pipelines',
    drop: async () => {
      // Every key of the prefix, a SCAN page at a time.
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000)
        cursor = next
        if (keys.length > 0) await client.unlink(...keys)
      } while (cursor !== '0')
      client.disconnect()
    },
  }
}

/** Fills a store of `kind` with `rows` tokens (scratch files in `dir`). */
export function fillStore(kind: ScaleKind, dir: string, rows: number): Promise<FilledStore> {
  switch (kind) {
    case 'file':
      return fillFile(dir, rows)
    case 'sqlite':
      return fillSqlite(dir, rows)
    case 'mysql':
      return fillMysql(dir, rows)
    case 'postgres':
      return fillPostgres(dir, rows)
    case 'redis':
      return fillRedis(rows)
  }
}

/** The server each kind needs, if any. */
export const SERVER_OF: Partial<Record<ScaleKind, { host: string; port: number }>> = {
  mysql: { host: '127.0.0.1', port: 3306 },
  postgres: { host: '127.0.0.1', port: 5432 },
  redis: { host: '127.0.0.1', port: 6379 },
}

export { MYSQL_ROOT, MYSQL_DATABASE }
