import type * as MySQL from 'mysql2/promise'
import type { StoreOperation } from '../../errors.js'
import type { EncryptionOptions } from '../../crypto.js'
import { checkDueScanOptions, type DueScan, type DueScanOptions } from '../../due.js'
import {
  keysetPages,
  pageSizeOf,
  type IterateOptions,
  type TokenIteration,
} from '../../iteration.js'
import { wrapStoreError } from '../../store-kit/errors.js'
import { checkOptions, number, shaped, text, type CheckedOptions } from '../../store-kit/options.js'
import { retry } from '../../store-kit/retry.js'
import { assertToken, type OAuthToken } from '../../token.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  type ConditionalSave,
  type LockOptions,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../../store.js'
import { lookupOf } from '../../store/matching.js'
import { tokenFromRow, type StoredRow } from '../../store/rows.js'
import {
  BudgetLog,
  assertBudgetArguments,
  type Budget,
  type BudgetAnswer,
  type BudgetCounting,
} from '../../budget.js'
import { assertHealthIds, assertHealthRecord, type HealthTracking } from '../../health.js'
import { withEncryption } from '../encrypted.js'
import { lockOptions } from '../lease.js'
import { MYSQL } from '../sql/dialect.js'
import { dueQuery } from '../sql/due.js'
import { identifier } from '../sql/identifiers.js'
import { SERVER_OPTIONS } from '../sql/options.js'
import { createDatabase, createPool, lockToken } from './connections.js'
import { STORE, errorCode, isConnectionError } from './errors.js'
import * as health from './health.js'
import { save } from './save.js'
import { prepare } from './schema.js'
import type { Schema } from './table.js'

type Pool = MySQL.Pool

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

/** The rules of {@link DBStoreOptions}, key for key. */
const OPTIONS = {
  ...SERVER_OPTIONS,
  host: text().or('localhost'),
  port: number({ integer: true, min: 1, max: 65535 }).or(3306),
  user: text().or('root'),
  password: text().or(''),
  database: identifier().or('zohooauth'),
  url: text(),
  pool: shaped(
    'a mysql2/promise pool',
    (v): v is Pool =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as { getConnection?: unknown }).getConnection === 'function',
  ),
  connectTimeoutMs: number({ min: 0 }).or(5000),
  reconnectTimeoutMs: number({ min: 0 }).or(10_000),
} satisfies Record<keyof DBStoreOptions, unknown>

type Checked = CheckedOptions<typeof OPTIONS>

// Documented where it is exported, typed for encryption (see the `DBStore` constant).
export class DBStore
  implements
    TokenStore,
    TokenIteration,
    TokenLocking,
    ConditionalSave,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  /** The table's name. */
  readonly table: string
  readonly #options: Checked
  #pool: Pool | undefined
  #ready: Promise<Schema> | undefined
  /** Budgets where this user may not create the budget table: counted in the process. */
  readonly #budgetLog = new BudgetLog()

  constructor(options: DBStoreOptions = {}) {
    this.#options = checkOptions(STORE, options, OPTIONS)
    this.table = this.#options.table
    if (this.#options.encryption) return withEncryption(this, this.#options.encryption)
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
    const id = await this.#run('saveToken', (schema) => save(this.#pool!, schema, snapshot))
    token.id = id!
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
    const id = await this.#run('saveToken', (schema) => save(this.#pool!, schema, snapshot, fence))
    return id !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#run('deleteToken', (schema) => this.#pool!.execute(schema.sql.delete, [id]))
  }

  async getTokens(): Promise<OAuthToken[]> {
    const rows = await this.#run('getTokens', async (schema) => {
      const [result] = await this.#pool!.query(`SELECT ${schema.sql.list} FROM ${schema.name}`)
      return result as StoredRow[]
    })
    return rows.map((row) => tokenFromRow(row))
  }

  /**
   * Every token, a page at a time in the order of their ids: each page is one short read on the
   * primary key (`WHERE id > last ORDER BY id LIMIT pageSize`), so a pass holds one page in
   * memory and no transaction between pages. The comparison and the order are both the id
   * column's own collation (a parameter yields to a column's), the one its primary key is unique
   * under, so even in a case-insensitive table every row is given once.
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return keysetPages(
      pageSizeOf(options),
      (after, size) => this.#run('getTokens', (schema) => schema.page(after, size)),
      (row) => row.id,
      tokenFromRow,
    )
  }

  /**
   * The tokens due by `before`, soonest first (see `DueScan`): one range of an index on an
   * invisible virtual column of the expiry and the id, so a pass costs in proportion to the
   * tokens due, not to all stored. An expiry that is not 1 to 15 digits (the epoch milliseconds
   * every SDK writes) is never due. The column and index are added on open where the server
   * lets this user; without them the same query reads every row.
   */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    checkDueScanOptions(options)
    const rows = await this.#run('findDueTokens', async (schema) => {
      const query = dueQuery(MYSQL, schema.due, options)
      if (query === undefined) return []
      const [result] = await this.#pool!.execute(query.text, query.values)
      return result as StoredRow[]
    })
    return rows.map((row) => tokenFromRow(row))
  }

  async deleteTokens(): Promise<void> {
    await this.#run('deleteTokens', (schema) => this.#pool!.query(schema.sql.clear))
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
    const connection = await this.#run('lock', () => this.#pool!.getConnection())
    try {
      return await lockToken(
        connection,
        `${this.#databaseName()}.${this.table}:${id}`,
        id,
        timeoutMs,
      )
    } catch (err) {
      throw this.#wrap('lock', err)
    }
  }

  /**
   * The health records of these tokens (see `HealthTracking`), from the `tk_health` column of
   * their rows, in one query. Where the user may not add the column, none is kept.
   */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    return this.#run('findHealth', (schema) => health.findHealth(this.#pool!, schema, ids))
  }

  /** Keeps a token's health record in its row (`null` clears it); a missing row is left missing. */
  async saveHealth(id: string, record: string | null): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    await this.#run('saveHealth', (schema) => health.saveHealth(this.#pool!, schema, id, record))
  }

  /**
   * Takes one use of a budget (see `BudgetCounting`), counted in a table beside the token table
   * under a `GET_LOCK` per key, so every process and machine on this table shares it. Where the
   * user may not create that table, budgets are counted in this process only.
   */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const answer = await this.#run('takeBudget', async (schema) =>
      schema.budgets ? health.takeBudget(this.#pool!, schema, key, budget, now) : undefined,
    )
    return answer ?? this.#budgetLog.take(key, budget, now)
  }

  /** Ends the store's own pool; a pool given to it is left open. */
  async close(): Promise<void> {
    const pool = this.#pool
    this.#pool = undefined
    this.#ready = undefined
    if (pool && this.#options.pool === undefined) await pool.end()
  }

  #databaseName(): string {
    if (this.#options.url) return new URL(this.#options.url).pathname.slice(1) || 'zohooauth'
    return this.#options.database
  }

  /**
   * Runs an operation once the schema is ready, trying again while the server is unreachable
   * (a restart) for up to `reconnectTimeoutMs`; a driver error becomes a TokenStoreError.
   */
  async #run<T>(operation: StoreOperation, body: (schema: Schema) => Promise<T>): Promise<T> {
    try {
      return await retry(async () => body(await this.#schema()), {
        retryable: isConnectionError,
        attempts: Number.MAX_SAFE_INTEGER,
        deadlineMs: this.#options.reconnectTimeoutMs,
        baseDelayMs: 50,
        maxDelayMs: 1000,
        onRetry: (err) => {
          // The server restarted: the schema is made ready again on the next try.
          const code = errorCode(err)
          if (code === 'ECONNREFUSED' || code === 'ER_SERVER_SHUTDOWN') this.#ready = undefined
        },
      })
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #wrap(operation: StoreOperation, err: unknown): Error {
    return wrapStoreError(STORE, operation, err, { where: this.#where() })
  }

  #where(): string {
    if (this.#options.url) {
      const url = new URL(this.#options.url)
      return `${url.host}${url.pathname}.${this.table}`
    }
    return `${this.#options.host}:${this.#options.port}/${this.#databaseName()}.${this.table}`
  }

  #schema(): Promise<Schema> {
    this.#ready ??= this.#open().catch((err: unknown) => {
      this.#ready = undefined
      throw err
    })
    return this.#ready
  }

  async #open(): Promise<Schema> {
    this.#pool ??= this.#options.pool ?? createPool(this.#connectionOptions())
    try {
      return await prepare(this.#pool, this.table)
    } catch (err) {
      if (errorCode(err) !== 'ER_BAD_DB_ERROR' || this.#options.pool !== undefined) throw err
      await createDatabase(this.#connectionOptions(), this.#databaseName())
      return prepare(this.#pool, this.table)
    }
  }

  #connectionOptions(): MySQL.PoolOptions {
    const { host, port, user, password, url } = this.#options
    const base: MySQL.PoolOptions = url
      ? { uri: url }
      : { host, port, user, password, database: this.#databaseName() }
    return {
      ...base,
      connectionLimit: this.#options.poolSize,
      connectTimeout: this.#options.connectTimeoutMs,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      supportBigNumbers: true,
    }
  }
}
