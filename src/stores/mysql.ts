import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type * as MySQL from 'mysql2/promise'
import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  describeCause,
  type StoreOperation,
} from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'
import { EncryptionError } from '../sealed.js'
import { keysetPages, pageSizeOf, type IterateOptions, type TokenIteration } from '../iteration.js'
import { withEncryption, type EncryptingStoreClass } from './encrypted.js'
import { assertToken, typeName, type OAuthToken } from '../token.js'
import {
  COLUMNS,
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  resolveSaveAsync,
  rowHolds,
  tokenFromRow,
  type Column,
  type ConditionalSave,
  type LockOptions,
  type Lookup,
  type LookupColumn,
  type StoredRow,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { LookupBatcher } from './batch.js'
import { loadDriver as loadOptional } from './driver.js'
import { Lease, lockOptions } from './lease.js'
import { quoteIdentifier } from './sql/identifiers.js'

/** Options of {@link DBStore}: the official defaults, and more. */
export interface DBStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /** Default `localhost`. */
  host?: string
  /** Default 3306. */
  port?: number
  /** Default `root`. */
  user?: string
  /** Default empty. */
  password?: string
  /** Default `zohooauth`; created when missing. */
  database?: string
  /** Default `oauthtoken`; created when missing, used in place when it exists. */
  table?: string
  /** A connection URL instead of the fields above: `mysql://user:password@host:3306/database`. */
  url?: string
  /** An existing mysql2 pool (`mysql2/promise`'s `createPool`); `close()` leaves it open. */
  pool?: unknown
  /** Connections in the store's own pool; default 10. */
  poolSize?: number
  /** Give up connecting after this long (ms); default 5000. */
  connectTimeoutMs?: number
  /** While the server is unreachable (a restart), keep trying an operation this long (ms); default 10000. */
  reconnectTimeoutMs?: number
}

/** Every option of {@link DBStore}: the compiler keeps this list complete. */
const OPTION_KEYS: Record<keyof DBStoreOptions, true> = {
  encryption: true,
  host: true,
  port: true,
  user: true,
  password: true,
  database: true,
  table: true,
  url: true,
  pool: true,
  poolSize: true,
  connectTimeoutMs: true,
  reconnectTimeoutMs: true,
}

type Pool = MySQL.Pool
type Connection = MySQL.PoolConnection
type Row = Record<Column, string | null>

const STORE = 'DBStore'
const LOOKUP_COLUMNS: readonly LookupColumn[] = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
]
/** Errors of the connection, not of the statement: worth another try once the server is back. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
])
/** Whether mysql2 refused a command because the connection had already closed. */
function isClosed(err: unknown): boolean {
  return err instanceof Error && /closed state|connection is closed/i.test(err.message)
}

/** Races between saves that a new try resolves. */
const RACE_ERRORS = new Set(['ER_DUP_ENTRY', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])

function loadDriver(): typeof MySQL {
  return loadOptional<typeof MySQL>(STORE, 'mysql2/promise')
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** The generated column that holds a lookup column's SHA-256, so that any length is indexed. */
const hashColumn = (column: LookupColumn): string => `${column}_sha256`

/**
 * The invisible generated column that holds an id's place in the numbering (`numericIdValue`:
 * one to ten digits, else NULL), indexed, so that the largest is read from the index end.
 * INVISIBLE keeps `select *` to the official columns. The digit test comes before the CAST, so
 * strict mode never sees a CAST warning; no `$` in the pattern (it would let '12\n' through).
 */
const ID_NUMBER = 'id_number'
/** Whether `id` is numbered (`numericIdValue`): one to ten characters, all ASCII digits. */
const NUMBERED = "CHAR_LENGTH(id) BETWEEN 1 AND 10 AND id NOT REGEXP '[^0-9]'"
const ID_NUMBER_SQL = `${ID_NUMBER} bigint unsigned AS (IF(${NUMBERED}, CAST(id AS UNSIGNED), NULL)) STORED INVISIBLE`
/** How long a save that lost races (a duplicate key, a deadlock) tries again (ms). */
const RACE_RETRY_MS = 10_000
/** How long a save waits for another saver's new id to be committed (s). */
const ALLOCATION_WAIT_S = 10

/**
 * Tokens in MySQL or MariaDB (mysql2): the official SDKs' database store, done right. It keeps
 * the official table and column names, so that the official SDK can go on using the same table,
 * and it creates the database and the table when they are missing. Each lookup column gets a
 * stored SHA-256 column with an index (unique for user names), so values of any length are
 * found exactly and fast; every change to an existing table is additive. Statements are
 * prepared and parameterized; a pool of connections serves concurrent callers; a value too long
 * for a legacy column is an error, never truncated. A new id is the next after the largest numeric
 * id (`nextTokenId`), read from an index under a lock that every tokenkeeper process on the
 * server respects, so that concurrent savers never take one id.
 *
 * @example
 * import { DBStore } from 'tokenkeeper/stores/mysql'
 * const store = new DBStore({ host: '127.0.0.1', user: 'root', database: 'zohooauth' })
 */
class DBStore implements TokenStore, TokenIteration, TokenLocking, ConditionalSave {
  /** The table's name. */
  readonly table: string
  readonly #options: DBStoreOptions
  readonly #ownsPool: boolean
  #pool: Pool | undefined
  #ready: Promise<Schema> | undefined

  constructor(options: DBStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'DBStore expects an options object')
    }
    refuseUnknownOptions('DBStore', options, Object.keys(OPTION_KEYS))
    const { table = 'oauthtoken', database = 'zohooauth', poolSize = 10, port = 3306 } = options
    quoteIdentifier(table, 'table')
    quoteIdentifier(database, 'database')
    if (!(Number.isInteger(poolSize) && poolSize > 0)) {
      throw new InvalidArgumentError('poolSize', 'DBStore poolSize must be a positive integer')
    }
    if (!(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new InvalidArgumentError('port', 'DBStore port must be a port number')
    }
    if (options.url !== undefined && typeof options.url !== 'string') {
      throw new InvalidArgumentError(
        'url',
        `DBStore url must be a string, got ${typeName(options.url)}`,
      )
    }
    if (
      options.pool !== undefined &&
      typeof (options.pool as { getConnection?: unknown }).getConnection !== 'function'
    ) {
      throw new InvalidArgumentError('pool', 'DBStore pool must be a mysql2/promise pool')
    }
    this.table = table
    this.#options = options
    this.#ownsPool = options.pool === undefined
    if (options.encryption) return withEncryption(this, options.encryption)
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (!lookup) return null
    const row = await this.#run('findToken', (schema) =>
      schema.batchers[lookup.column].load(lookup.value),
    )
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = await this.#run('findTokenById', (schema) => schema.batchers.id.load(id))
    return row ? tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    const snapshot = token.clone()
    const id = await this.#run('saveToken', (schema) => this.#save(schema, snapshot))
    token.id = id
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`):
   * one transaction locks the row (`FOR UPDATE`), checks it and writes. `false`, and nothing
   * written, otherwise.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const snapshot = token.clone()
    const fence = expected.clone()
    const id = await this.#run('saveToken', (schema) => this.#save(schema, snapshot, fence))
    return id !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#run('deleteToken', (schema) =>
      this.#pool!.execute(`DELETE FROM ${schema.name} WHERE id = ?`, [id]),
    )
  }

  async getTokens(): Promise<OAuthToken[]> {
    const rows = await this.#run('getTokens', async (schema) => {
      const [result] = await this.#pool!.query(`SELECT ${COLUMNS.join(', ')} FROM ${schema.name}`)
      return result as Row[]
    })
    return rows.map((row) => tokenFromRow(row as StoredRow))
  }

  /**
   * Every token, a page at a time in the order of their ids: each page is one short read on the
   * primary key (`WHERE id > last ORDER BY id LIMIT pageSize`), so a pass holds one page in
   * memory and no transaction between pages. The comparison and the order are both the id
   * column's own collation (a parameter yields to a column's), the one its primary key is unique
   * under, so even in a case-insensitive table every row is given once.
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return this.#pages(pageSizeOf(options))
  }

  #pages(pageSize: number): AsyncGenerator<OAuthToken> {
    return keysetPages(
      pageSize,
      (after, size) => this.#run('getTokens', (schema) => schema.page(after, size)),
      (row) => row.id,
      tokenFromRow,
    )
  }

  async deleteTokens(): Promise<void> {
    await this.#run('deleteTokens', (schema) => this.#pool!.query(`DELETE FROM ${schema.name}`))
  }

  /**
   * A lease on one token shared by every process and machine using this database: `GET_LOCK`
   * on a connection held until `release()`. It lasts as long as that connection: if the holder
   * dies, its connection closes and the server frees the lock; a holder that is only paused
   * keeps it, and the others wait. `renew()` confirms the connection still holds it
   * (`IS_USED_LOCK`); there is no time limit to push back, so `autoRenew` changes nothing.
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const { timeoutMs } = lockOptions(STORE, options)
    const name = `tk:${createHash('sha256').update(`${this.#databaseName()}.${this.table}:${id}`).digest('hex').slice(0, 48)}`
    const connection = await this.#run('lock', () => this.#pool!.getConnection())
    try {
      const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [
        name,
        Math.max(0, timeoutMs / 1000),
      ])
      if ((rows as { got: number | null }[])[0]?.got !== 1) {
        throw new TokenStoreError(
          STORE,
          'lock',
          `could not lock token ${id} within ${timeoutMs} ms`,
        )
      }
    } catch (err) {
      connection.release()
      throw err instanceof TokenStoreError ? err : this.#wrap('lock', err)
    }
    return new Lease(
      STORE,
      `token ${id}`,
      {
        extend: async () => {
          try {
            const [rows] = await connection.query(
              'SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine',
              [name],
            )
            return Number((rows as { mine: number | null }[])[0]?.mine) === 1
          } catch (err) {
            // A lost connection took the lock with it.
            if (CONNECTION_ERRORS.has(errorCode(err) ?? '') || isClosed(err)) return false
            throw err
          }
        },
        release: async () => {
          try {
            await connection.query('SELECT RELEASE_LOCK(?)', [name])
            connection.release()
          } catch {
            // The connection is gone, and the lock with it: the connection is not reused.
            connection.destroy()
          }
        },
      },
      undefined,
    )
  }

  /** Ends the store's own pool; a pool given to it is left open. */
  async close(): Promise<void> {
    const pool = this.#pool
    this.#pool = undefined
    this.#ready = undefined
    if (pool && this.#ownsPool) await pool.end()
  }

  #databaseName(): string {
    if (this.#options.url) return new URL(this.#options.url).pathname.slice(1) || 'zohooauth'
    return this.#options.database ?? 'zohooauth'
  }

  /**
   * Runs an operation once the schema is ready, trying again while the server is unreachable
   * (a restart) for up to `reconnectTimeoutMs`; a driver error becomes a TokenStoreError.
   */
  async #run<T>(operation: StoreOperation, body: (schema: Schema) => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.#options.reconnectTimeoutMs ?? 10_000)
    let delay = 50
    for (;;) {
      try {
        return await body(await this.#schema())
      } catch (err) {
        if (
          err instanceof TokenStoreError ||
          err instanceof InvalidArgumentError ||
          err instanceof EncryptionError
        ) {
          throw err
        }
        const code = errorCode(err)
        if (code === undefined || !CONNECTION_ERRORS.has(code) || Date.now() + delay > deadline) {
          throw this.#wrap(operation, err)
        }
        if (code === 'ECONNREFUSED' || code === 'ER_SERVER_SHUTDOWN') this.#ready = undefined
        await sleep(delay + Math.random() * delay)
        delay = Math.min(delay * 2, 1000)
      }
    }
  }

  #wrap(operation: StoreOperation, err: unknown): TokenStoreError {
    return new TokenStoreError(STORE, operation, `${this.#where()}: ${describeCause(err)}`, {
      cause: err,
    })
  }

  #where(): string {
    if (this.#options.url) {
      const url = new URL(this.#options.url)
      return `${url.host}${url.pathname}.${this.table}`
    }
    return `${this.#options.host ?? 'localhost'}:${this.#options.port ?? 3306}/${this.#databaseName()}.${this.table}`
  }

  #schema(): Promise<Schema> {
    this.#ready ??= this.#open().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async #open(): Promise<Schema> {
    if (!this.#pool) {
      this.#pool = (this.#options.pool as Pool | undefined) ?? this.#createPool()
    }
    try {
      return await Schema.prepare(this.#pool, this.table)
    } catch (err) {
      if (errorCode(err) !== 'ER_BAD_DB_ERROR' || !this.#ownsPool) throw err
      await this.#createDatabase()
      return Schema.prepare(this.#pool, this.table)
    }
  }

  #connectionOptions(): MySQL.PoolOptions {
    const { host = 'localhost', port = 3306, user = 'root', password = '', url } = this.#options
    const base: MySQL.PoolOptions = url
      ? { uri: url }
      : { host, port, user, password, database: this.#databaseName() }
    return {
      ...base,
      connectionLimit: this.#options.poolSize ?? 10,
      connectTimeout: this.#options.connectTimeoutMs ?? 5000,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      supportBigNumbers: true,
    }
  }

  #createPool(): Pool {
    const driver = loadDriver()
    const pool = driver.createPool(this.#connectionOptions())
    // Values are never truncated: the server refuses what does not fit, whatever its sql_mode.
    pool.pool.on('connection', (connection) => {
      connection.query(
        "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES')",
      )
    })
    return pool
  }

  async #createDatabase(): Promise<void> {
    const driver = loadDriver()
    // The same server, without the database that does not exist yet.
    const { database: _database, connectionLimit: _limit, uri, ...rest } = this.#connectionOptions()
    const connection = await driver.createConnection(
      uri ? { uri: uri.replace(/\/[^/?]*(\?|$)/, '/$1') } : rest,
    )
    try {
      await connection.query(
        `CREATE DATABASE IF NOT EXISTS \`${this.#databaseName()}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
      )
    } finally {
      await connection.end()
    }
  }

  /**
   * The upsert rule inside one transaction, tried again when a concurrent save won a race. With
   * `expected`, only while row `token.id` holds its values (undefined, nothing written, if not).
   */
  async #save(schema: Schema, token: OAuthToken): Promise<string>
  async #save(schema: Schema, token: OAuthToken, expected: OAuthToken): Promise<string | undefined>
  async #save(
    schema: Schema,
    token: OAuthToken,
    expected?: OAuthToken,
  ): Promise<string | undefined> {
    const deadline = Date.now() + RACE_RETRY_MS
    for (let attempt = 0; ; attempt += 1) {
      const connection = await this.#pool!.getConnection()
      // Whether this connection may hold the id allocation lock (asked for, answer unknown).
      let allocating = false
      try {
        await connection.beginTransaction()
        if (expected) {
          // The row stays locked from this check to the commit.
          const row = await schema.findById(connection, token.id!, true)
          if (!row || !rowHolds(row, expected)) {
            await connection.rollback()
            return undefined
          }
        }
        const { row, insert } = await resolveSaveAsync(STORE, token, {
          hasId: async (id) => (await schema.findById(connection, id)) !== undefined,
          findId: async (lookup) => (await schema.findRow(connection, lookup))?.id,
          // Asked only by a store without keys, before an update: locked, so no keyed writer
          // seals the row between this check and the write.
          get: (id) => schema.findById(connection, id, true),
          // Asked only before an insert under a new id, when nothing is written or locked yet.
          // The lock is held to the commit, so a saver that waited for it reads the id this one
          // wrote: the read is the first of a new transaction (a REPEATABLE READ snapshot taken
          // after the lock) and takes no row lock, which an unsynchronized official writer's
          // scanning UPDATE would deadlock with.
          largestNumericId: async () => {
            await connection.commit()
            allocating = true
            await schema.lockAllocation(connection)
            await connection.beginTransaction()
            return schema.largestNumericId(connection)
          },
        })
        schema.checkLengths(row)
        if (insert) {
          await connection.execute(
            schema.insertSql,
            COLUMNS.map((c) => row[c]),
          )
        } else {
          await connection.execute(schema.updateSql, [
            ...COLUMNS.slice(1).map((c) => row[c]),
            row.id,
          ])
        }
        await connection.commit()
        return row.id
      } catch (err) {
        await connection.rollback().catch(() => undefined)
        // A new try reads the largest id again, in a new transaction. A writer outside the
        // allocation lock (an official SDK) can win several races in a row: keep trying a while.
        if (!RACE_ERRORS.has(errorCode(err) ?? '')) throw err
        if (attempt >= 8 && Date.now() >= deadline) throw err
        await sleep(Math.random() * Math.min(5 * (attempt + 1), 50))
      } finally {
        // Only after the commit or rollback, and never back to the pool while possibly held.
        if (allocating && !(await schema.unlockAllocation(connection))) connection.destroy()
        else connection.release()
      }
    }
  }
}

interface ColumnInfo {
  readonly maxLength: number | null
}

/** The table as found (or made): its columns' limits and the statements for it. */
class Schema {
  readonly name: string
  readonly #columns: ReadonlyMap<string, ColumnInfo>
  readonly insertSql: string
  readonly updateSql: string
  readonly #selectById: string
  readonly #selectBy: Record<LookupColumn, string>
  readonly #largestSql: string
  readonly #pool: Pool
  /** The pages of a pass, without their LIMIT: keyset on the primary key. */
  readonly #pageSql: string
  readonly #pageAfterSql: string
  /** The name of the id allocation lock: one per database and table on the server. */
  readonly #allocationLock: string

  /** Look-ups through the pool, batched: by id and by each lookup column. */
  readonly batchers: Record<LookupColumn | 'id', LookupBatcher<StoredRow>>

  private constructor(
    pool: Pool,
    table: string,
    columns: ReadonlyMap<string, ColumnInfo>,
    database: string,
  ) {
    quoteIdentifier(table)
    this.name = `\`${table}\``
    this.#columns = columns
    // Without the column (a server older than MariaDB 10.3 or MySQL 8.0.23) the same value
    // comes from a scan of every id: correct, but its cost grows with the table.
    this.#largestSql = columns.has(ID_NUMBER)
      ? `SELECT MAX(${ID_NUMBER}) AS largest FROM ${this.name}`
      : `SELECT MAX(CAST(id AS UNSIGNED)) AS largest FROM ${this.name} WHERE ${NUMBERED}`
    // compareRowIds in SQL, for the few rows that share a looked-up value (found through the
    // hash index, then sorted): numbered ids by value, the others after them, ties by the id's
    // bytes (a legacy table's collation may ignore case or trailing spaces).
    const rank = columns.has(ID_NUMBER) ? ID_NUMBER : `IF(${NUMBERED}, CAST(id AS UNSIGNED), NULL)`
    const winnerFirst = `ORDER BY ${rank} IS NULL, ${rank}, CAST(id AS BINARY)`
    this.#allocationLock = `tk:ids:${createHash('sha256').update(`${database}.${table}`).digest('hex').slice(0, 48)}`
    const list = COLUMNS.join(', ')
    this.insertSql = `INSERT INTO ${this.name} (${list}) VALUES (${COLUMNS.map(() => '?').join(', ')})`
    this.updateSql = `UPDATE ${this.name} SET ${COLUMNS.slice(1)
      .map((c) => `${c} = ?`)
      .join(', ')} WHERE id = ?`
    this.#selectById = `SELECT ${list} FROM ${this.name} WHERE id = ?`
    this.#pool = pool
    this.#pageSql = `SELECT ${list} FROM ${this.name} ORDER BY id`
    this.#pageAfterSql = `SELECT ${list} FROM ${this.name} WHERE id > ? ORDER BY id`
    this.#selectBy = Object.fromEntries(
      LOOKUP_COLUMNS.map((column) => [
        column,
        `SELECT ${list} FROM ${this.name} WHERE ${hashColumn(column)} = UNHEX(SHA2(?, 256)) AND ${column} = ? ${winnerFirst} LIMIT 1`,
      ]),
    ) as Record<LookupColumn, string>
    const batcher = (column: LookupColumn | 'id') =>
      new LookupBatcher<StoredRow>(async (values) => {
        const where =
          column === 'id'
            ? `id IN (${values.map(() => '?').join(', ')})`
            : `${hashColumn(column)} IN (${values.map(() => 'UNHEX(SHA2(?, 256))').join(', ')})`
        const order = column === 'id' ? '' : ` ${winnerFirst}`
        const [rows] = await pool.execute(
          `SELECT ${list} FROM ${this.name} WHERE ${where}${order}`,
          values,
        )
        const found = new Map<string, StoredRow>()
        // The hash narrows; the value itself decides. The first row of a value, the winner in
        // that order, answers for it.
        for (const row of rows as StoredRow[]) {
          const value = row[column]
          if (value !== null && !found.has(value)) found.set(value, row)
        }
        return found
      })
    this.batchers = {
      id: batcher('id'),
      user_name: batcher('user_name'),
      access_token: batcher('access_token'),
      grant_token: batcher('grant_token'),
      refresh_token: batcher('refresh_token'),
    }
  }

  /** Creates the table when missing, adds what an older table lacks, and reads its limits. */
  static async prepare(pool: Pool, table: string): Promise<Schema> {
    const name = `\`${table}\``
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${name} (id varchar(10) NOT NULL, user_name text, client_id text, ` +
        'client_secret text, refresh_token text, access_token text, grant_token text, ' +
        'expiry_time varchar(20), redirect_url text, api_domain text, PRIMARY KEY (id)) ' +
        'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
    )
    let columns = await Schema.#readColumns(pool, table)
    const alter: string[] = []
    if (!columns.has('api_domain')) alter.push('ADD COLUMN api_domain varchar(255)')
    for (const column of LOOKUP_COLUMNS) {
      if (!columns.has(hashColumn(column))) {
        alter.push(
          `ADD COLUMN ${hashColumn(column)} binary(32) AS (UNHEX(SHA2(${column}, 256))) STORED`,
        )
      }
    }
    const numbered = columns.has(ID_NUMBER) ? [] : [`ADD COLUMN ${ID_NUMBER_SQL}`]
    if (alter.length + numbered.length > 0) {
      try {
        await Schema.#ignoreRace(
          pool.query(`ALTER TABLE ${name} ${[...alter, ...numbered].join(', ')}`),
        )
      } catch (err) {
        // A server without INVISIBLE columns: the rest is added, the largest id is scanned for.
        if (numbered.length === 0 || errorCode(err) !== 'ER_PARSE_ERROR') throw err
        if (alter.length > 0)
          await Schema.#ignoreRace(pool.query(`ALTER TABLE ${name} ${alter.join(', ')}`))
      }
    }
    columns = await Schema.#readColumns(pool, table)
    await Schema.#ensureIndexes(pool, table, columns.has(ID_NUMBER))
    const missing = COLUMNS.filter((column) => !columns.has(column))
    if (missing.length > 0) {
      throw new TokenStoreError(
        STORE,
        'open',
        `table ${table} lacks the columns ${missing.join(', ')}`,
      )
    }
    const [[current]] = (await pool.query('SELECT DATABASE() AS db')) as unknown as [
      [{ db: string | null }],
    ]
    return new Schema(pool, table, columns, current?.db ?? '')
  }

  static async #readColumns(pool: Pool, table: string): Promise<Map<string, ColumnInfo>> {
    const [rows] = await pool.query(
      'SELECT COLUMN_NAME AS name, CHARACTER_MAXIMUM_LENGTH AS maxLength FROM information_schema.COLUMNS ' +
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [table],
    )
    return new Map(
      (rows as { name: string; maxLength: number | string | null }[]).map((r) => [
        r.name.toLowerCase(),
        { maxLength: r.maxLength === null ? null : Number(r.maxLength) },
      ]),
    )
  }

  static async #ensureIndexes(pool: Pool, table: string, numbered: boolean): Promise<void> {
    const [rows] = await pool.query(
      'SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [table],
    )
    const present = new Set((rows as { name: string }[]).map((r) => r.name))
    for (const column of LOOKUP_COLUMNS) {
      const index = `${table}_${column}_idx`.slice(0, 64)
      if (present.has(index)) continue
      const target = `\`${table}\` (${hashColumn(column)})`
      if (column === 'user_name') {
        try {
          await Schema.#ignoreRace(pool.query(`CREATE UNIQUE INDEX \`${index}\` ON ${target}`))
          continue
        } catch (err) {
          // A legacy table that already holds a user twice gets a plain index; the store still
          // never writes a second row for a user.
          if (errorCode(err) !== 'ER_DUP_ENTRY') throw err
        }
      }
      await Schema.#ignoreRace(pool.query(`CREATE INDEX \`${index}\` ON ${target}`))
    }
    const index = `${table}_${ID_NUMBER}_idx`.slice(0, 64)
    if (numbered && !present.has(index)) {
      await Schema.#ignoreRace(
        pool.query(`CREATE INDEX \`${index}\` ON \`${table}\` (${ID_NUMBER})`),
      )
    }
  }

  /** Another process opening the same new database made the same change first: fine. */
  static async #ignoreRace(change: Promise<unknown>): Promise<void> {
    try {
      await change
    } catch (err) {
      if (
        !['ER_DUP_FIELDNAME', 'ER_DUP_KEYNAME', 'ER_TABLE_EXISTS_ERROR'].includes(
          errorCode(err) ?? '',
        )
      )
        throw err
    }
  }

  /**
   * A page of rows in id order: the first, or the one after id `after`. The limit is written
   * into the text (a checked whole number): MySQL refuses a prepared LIMIT bound as a double.
   */
  async page(after: string | undefined, pageSize: number): Promise<StoredRow[]> {
    const [rows] =
      after === undefined
        ? await this.#pool.execute(`${this.#pageSql} LIMIT ${pageSize}`)
        : await this.#pool.execute(`${this.#pageAfterSql} LIMIT ${pageSize}`, [after])
    return rows as StoredRow[]
  }

  /** The row with this id; with `lock`, locked until the transaction ends. */
  async findById(db: Pool | Connection, id: string, lock = false): Promise<StoredRow | undefined> {
    const [rows] = await db.execute(`${this.#selectById}${lock ? ' FOR UPDATE' : ''}`, [id])
    return (rows as StoredRow[])[0]
  }

  async findRow(db: Pool | Connection, lookup: Lookup): Promise<StoredRow | undefined> {
    const [rows] = await db.execute(this.#selectBy[lookup.column], [lookup.value, lookup.value])
    return (rows as StoredRow[])[0]
  }

  /**
   * Takes the id allocation lock on the transaction's connection: `GET_LOCK`, shared by every
   * process and machine using this table, held until {@link unlockAllocation} after the commit.
   * InnoDB row locks alone would not do: two savers' locking reads of the index end share its gap
   * lock, and each one's insert then waits for the other's (a deadlock per race).
   */
  async lockAllocation(connection: Connection): Promise<void> {
    const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [
      this.#allocationLock,
      ALLOCATION_WAIT_S,
    ])
    if ((rows as { got: number | null }[])[0]?.got !== 1) {
      throw new TokenStoreError(
        STORE,
        'saveToken',
        `another saver kept the new-id lock of table ${this.name} for ${ALLOCATION_WAIT_S} s; nothing was written`,
      )
    }
  }

  /** Gives the allocation lock up; `false` when that is unknown (the connection broke). */
  async unlockAllocation(connection: Connection): Promise<boolean> {
    try {
      await connection.query('DO RELEASE_LOCK(?)', [this.#allocationLock])
      return true
    } catch {
      return false
    }
  }

  /** The largest `numericIdValue` among the ids in the transaction's snapshot. */
  async largestNumericId(connection: Connection): Promise<number | undefined> {
    const [rows] = await connection.query(this.#largestSql)
    const largest = (rows as { largest: number | string | null }[])[0]?.largest
    return largest === null || largest === undefined ? undefined : Number(largest)
  }

  /** A value longer than a (legacy) column holds is refused, never truncated. */
  checkLengths(row: StoredRow): void {
    for (const column of COLUMNS) {
      const value = row[column]
      const limit = this.#columns.get(column)?.maxLength
      // A string's length in UTF-16 units is never less than its characters: most skip the count.
      if (value === null || limit === null || limit === undefined || value.length <= limit) continue
      const length = [...value].length
      if (length > limit) {
        throw new TokenStoreError(
          STORE,
          'saveToken',
          `the ${column} value has ${length} characters, more than the ${limit} that column ${column} of table ${this.name} holds; nothing was written`,
        )
      }
    }
  }
}

/**
 * {@link DBStore}, typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const EncryptingDBStore = DBStore as EncryptingStoreClass<typeof DBStore>
type EncryptingDBStore = DBStore
export { EncryptingDBStore as DBStore }
