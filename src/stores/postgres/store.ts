import type Pg from 'pg'
import type { Pool, PoolConfig } from 'pg'
import { SDKException, TokenStoreError, type StoreOperation } from '../../errors.js'
import type { DueScan, DueScanOptions } from '../../due.js'
import {
  keysetPages,
  pageSizeOf,
  type IterateOptions,
  type TokenIteration,
} from '../../iteration.js'
import { storeCall, wrapStoreError } from '../../store-kit/errors.js'
import { checkOptions } from '../../store-kit/options.js'
import { StoreConflict, retry } from '../../store-kit/retry.js'
import { assertToken, type OAuthToken } from '../../token.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  tokenFromRow,
  type ConditionalSave,
  type LockOptions,
  type StoredRow,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../../store.js'
import { loadDriver } from '../driver.js'
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
import { POSTGRES } from '../sql/dialect.js'
import { dueQuery, type DueColumns } from '../sql/due.js'
import { lookupBatchers } from '../sql/lookups.js'
import { OPTIONS, type PostgresStoreOptions } from './options.js'
import { Unretryable, bind, explain, retryable, statement } from './client.js'
import { takeBudget } from './health.js'
import type { HeldLock } from './locks.js'
import { lockToken } from './locks.js'
import { saveOnce } from './save.js'
import { STORE, dueColumns, prepare, type Ready } from './schema.js'

export type { PostgresPool, PostgresStoreOptions } from './options.js'

/** How often a save is tried in all after it lost a race (unique key, deadlock, lost connection). */
const SAVE_ATTEMPTS = 6
/** How often any other operation is tried in all after a lost connection. */
const CONNECTION_ATTEMPTS = 3

/**
 * Tokens in a PostgreSQL table (node-postgres): the official SDKs' columns, one row per user.
 * It creates the table when it is missing and otherwise works on the existing one in place,
 * changing it only by adding (a missing `api_domain`, indexes on md5 of every lookup column,
 * unique on the user name, and a partial index on the numeric ids). Every statement is
 * parameterized; look-ups are one indexed query; a save is one transaction that locks the rows
 * it reads. A new id is the next after the largest numeric id (`nextTokenId`), read from that
 * index under a transaction-level advisory lock per table, so that concurrent savers never take
 * one id. It also offers {@link TokenLocking}:
 * a session advisory lock per token that the server frees when its holder's connection ends.
 *
 * @example
 * import { PostgresStore } from 'tokenkeeper/stores/postgres'
 * const store = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/zohooauth' })
 * await store.saveToken(token)
 * const lock = await store.lockToken(token.id!)
 * try { ... } finally { await lock.release() }
 */
export class PostgresStore
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
  readonly #connectionString: string | undefined
  readonly #givenPool: Pool | undefined
  readonly #poolSize: number
  readonly #connectTimeoutMs: number
  readonly #applicationName: string
  #pool: Pool | undefined
  #ready: Promise<Ready> | undefined
  readonly #locks = new Set<HeldLock>()
  readonly #due: DueColumns
  /** Budgets where this role may not create the budget table: counted in the process. */
  readonly #budgetLog = new BudgetLog()

  constructor(options: PostgresStoreOptions) {
    const checked = checkOptions(STORE, options, OPTIONS, {
      exactlyOne: [['connectionString', 'pool']],
    })
    this.table = checked.table
    this.#connectionString = checked.connectionString
    this.#givenPool = checked.pool as unknown as Pool | undefined
    this.#poolSize = checked.poolSize
    this.#connectTimeoutMs = checked.connectTimeoutMs
    this.#applicationName = checked.applicationName
    this.#due = dueColumns(this.table)
    if (checked.encryption) return withEncryption(this, checked.encryption)
  }

  /**
   * The `pg.Pool` in use: the one given, or the store's own (created on first use). Typed as
   * `unknown` so that the declarations need no driver types: cast it to `pg.Pool`.
   */
  get pool(): unknown {
    return this.#poolFor('open')
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (lookup === undefined) return null
    const row = await this.#batchers[lookup.column].load(lookup.value)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = await this.#batchers.id.load(id)
    return row ? tokenFromRow(row) : null
  }

  /**
   * Look-ups that arrive together go to the server as one query (see LookupBatcher): under
   * concurrent callers, many answers per round trip.
   */
  readonly #batchers = lookupBatchers(async (key, values) => {
    const operation = key === 'id' ? 'findTokenById' : 'findToken'
    const result = await this.#run(operation, CONNECTION_ATTEMPTS, (r) =>
      r.pool.query<StoredRow>(
        key === 'id'
          ? bind(r.statements.byIds, [values])
          : values.length === 1
            ? // A lone look-up takes the simpler plan.
              bind(r.statements.find[key], values)
            : bind(r.statements.findMany[key], [values]),
      ),
    )
    return result.rows
  })

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    const id = await this.#run('saveToken', SAVE_ATTEMPTS, (ready) =>
      saveOnce(ready, this.table, token),
    )
    token.id = id!
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`):
   * one transaction locks the row, checks it and writes. `false`, and nothing written, otherwise.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const id = await this.#run('saveToken', SAVE_ATTEMPTS, (ready) =>
      saveOnce(ready, this.table, token, expected),
    )
    return id !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#run('deleteToken', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.delete, [id])),
    )
  }

  async getTokens(): Promise<OAuthToken[]> {
    const result = await this.#run('getTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query<StoredRow>(bind(r.statements.all, [])),
    )
    return result.rows.map((row) => tokenFromRow(row))
  }

  /**
   * Every token, a page at a time in the order of their ids: each page is one short read on the
   * primary key (`WHERE id > last ORDER BY id LIMIT pageSize`), so a pass holds one page in
   * memory and no transaction between pages. The comparison and the order are both in the id
   * column's own collation, the one its primary key index is built in.
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return keysetPages(
      pageSizeOf(options),
      async (after, size) =>
        (
          await this.#run('getTokens', CONNECTION_ATTEMPTS, (r) =>
            r.pool.query<StoredRow>(
              after === undefined
                ? bind(r.statements.firstPage, [size])
                : bind(r.statements.pageAfter, [after, size]),
            ),
          )
        ).rows,
      (row) => row.id,
      tokenFromRow,
    )
  }

  /**
   * The tokens due by `before`, soonest first (see `DueScan`): one range of a partial expression
   * index on (expiry, id), so a pass costs in proportion to the tokens due, not to all stored.
   * An expiry that is not 1 to 15 digits (the epoch milliseconds every SDK writes) is never due.
   * The index is added on open where the role may (not on a read-only server, nor by a role
   * that does not own the table); without it the same query reads every row.
   */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    const query = dueQuery(POSTGRES, this.#due, options)
    if (query === undefined) return []
    const result = await this.#run('findDueTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query<StoredRow>(bind(statement(query.text), query.values)),
    )
    return result.rows.map((row) => tokenFromRow(row))
  }

  async deleteTokens(): Promise<void> {
    await this.#run('deleteTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.clear, [])),
    )
  }

  /**
   * The health records of these tokens (see `HealthTracking`), from the `tk_health` column of
   * their rows, in one query. Where the role may not add the column, none is kept.
   */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    const { rows } = await this.#run('findHealth', CONNECTION_ATTEMPTS, async (r) =>
      r.health.health && ids.length > 0
        ? r.pool.query<{ id: string; record: string }>(bind(r.health.find, [ids]))
        : { rows: [] },
    )
    return new Map(rows.map((row) => [row.id, row.record]))
  }

  /** Keeps a token's health record in its row (`null` clears it); a missing row is left missing. */
  async saveHealth(id: string, record: string | null): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    await this.#run('saveHealth', CONNECTION_ATTEMPTS, async (r) => {
      if (r.health.health) await r.pool.query(bind(r.health.save, [record, id]))
    })
  }

  /**
   * Takes one use of a budget (see `BudgetCounting`), counted in a table beside the token table
   * under an advisory lock per key, so every process and machine on the database shares it.
   * Where the role may not create that table, budgets are counted in this process only.
   */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const answer = await this.#run('takeBudget', CONNECTION_ATTEMPTS, async (r) =>
      r.health.budgets ? takeBudget(r.pool, r.health, this.table, key, budget, now) : undefined,
    )
    return answer ?? this.#budgetLog.take(key, budget, now)
  }

  /**
   * A lease on one token across processes and machines until `release()`: a session-level
   * advisory lock, keyed by table and id, on a connection of the pool kept for the holder. It
   * lasts as long as that connection: if the holder dies, its connection closes and the server
   * frees the lock; a holder that is only paused keeps it, and the others wait. `renew()`
   * confirms the connection still holds it (`pg_locks`); there is no time limit to push back,
   * so `autoRenew` changes nothing. Not had within `timeoutMs` (default 10000) is a
   * `TokenStoreError` with operation `'lock'`. Each held lock occupies one connection of the
   * pool until it is released.
   *
   * @example
   * const lock = await store.lockToken(token.id!, { timeoutMs: 5000 })
   * try { ... } finally { await lock.release() }
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const { timeoutMs } = lockOptions(STORE, options)
    const ready = await this.#open('lock')
    const { lease, held } = await lockToken(ready.pool, {
      store: STORE,
      table: this.table,
      id,
      timeoutMs,
      explain: (err) => explain(err, this.#connectTimeoutMs),
      onDone: (lock) => this.#locks.delete(lock),
    })
    this.#locks.add(held)
    return lease
  }

  /**
   * Releases the locks still held, and ends the store's own pool (a pool given in the options is
   * left open). A later call opens the store again.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#locks].map((lock) => lock.release()))
    const pool = this.#pool
    const ready = this.#ready
    this.#pool = undefined
    this.#ready = undefined
    await ready?.catch(() => undefined)
    if (pool && pool !== this.#givenPool) {
      await storeCall(STORE, 'close', () => pool.end(), this.#wording)
    }
  }

  /**
   * Runs `body` on the open store, again after a lost connection (the pool replaces it) or a
   * lost race, up to `attempts` times in all; any other failure becomes a TokenStoreError.
   */
  async #run<T>(
    operation: StoreOperation,
    attempts: number,
    body: (ready: Ready) => Promise<T>,
  ): Promise<T> {
    try {
      return await retry(async () => body(await this.#open(operation)), {
        // tokenkeeper's own errors are final, whatever their message says.
        retryable: (err) => !(err instanceof SDKException) && retryable(err),
        attempts,
        maxDelayMs: 50,
      })
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #poolFor(operation: StoreOperation): Pool {
    if (this.#pool) return this.#pool
    if (this.#givenPool) {
      this.#pool = this.#givenPool
      return this.#pool
    }
    const { Pool: PoolClass } = loadDriver<typeof Pg>(STORE, 'pg')
    const config: PoolConfig = {
      connectionString: this.#connectionString!,
      max: this.#poolSize,
      connectionTimeoutMillis: this.#connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: this.#applicationName,
      keepAlive: true,
      allowExitOnIdle: true,
    }
    let pool: Pool
    try {
      pool = new PoolClass(config)
    } catch (err) {
      throw this.#wrap(operation, err)
    }
    // An idle connection that breaks (server restart, terminated backend) is dropped by the
    // pool, which then emits 'error': without a listener that would end the process.
    pool.on('error', () => undefined)
    this.#pool = pool
    return pool
  }

  /** The table made ready, once; a failure is not kept, so a later call tries again. */
  async #open(operation: StoreOperation): Promise<Ready> {
    if (!this.#ready) {
      const pool = this.#poolFor(operation)
      const ready = prepare(pool, this.table)
      this.#ready = ready
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = undefined
      })
    }
    try {
      return await this.#ready
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  /** How a driver error is worded: in one line, without any value. */
  readonly #wording = { explain: (err: unknown) => explain(err, this.#connectTimeoutMs) }

  #wrap(operation: StoreOperation, err: unknown): Error {
    if (err instanceof Unretryable) {
      return wrapStoreError(STORE, operation, err.cause, {
        explain: (cause) =>
          'the connection was lost while the save was committing, so it may or may not have ' +
          `been written (${explain(cause, this.#connectTimeoutMs)})`,
      })
    }
    if (err instanceof StoreConflict) {
      return new TokenStoreError(
        STORE,
        operation,
        `gave up after ${SAVE_ATTEMPTS} attempts: other saves kept changing the same rows`,
      )
    }
    return wrapStoreError(STORE, operation, err, this.#wording)
  }
}
