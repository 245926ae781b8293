import { resolve } from 'node:path'
import type { StoreOperation } from '../../errors.js'
import type { EncryptionOptions } from '../../crypto.js'
import type { DueScan, DueScanOptions } from '../../due.js'
import {
  keysetPages,
  pageSizeOf,
  type IterateOptions,
  type TokenIteration,
} from '../../iteration.js'
import { checkOptions, number, text } from '../../store-kit/options.js'
import { wrapStoreError } from '../../store-kit/errors.js'
import { assertToken, type OAuthToken } from '../../token.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  type Compaction,
  type ConditionalSave,
  type LockOptions,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../../store.js'
import { lookupOf } from '../../store/matching.js'
import { tokenFromValues } from '../../store/rows.js'
import {
  BudgetLog,
  assertBudgetArguments,
  type Budget,
  type BudgetAnswer,
  type BudgetCounting,
} from '../../budget.js'
import { assertHealthIds, assertHealthRecord, type HealthTracking } from '../../health.js'
import { withEncryption } from '../encrypted.js'
import { DEFAULT_LEASE_MS, MIN_LEASE_MS, lockOptions } from '../lease.js'
import { SQLITE } from '../sql/dialect.js'
import { dueQuery, type DueColumns } from '../sql/due.js'
import { SQL_OPTIONS } from '../sql/options.js'
import { InProcessLocks, lockTokenFile } from '../token-locks.js'
import { STORE, dueColumns, explain, openDatabase, type Database } from './schema.js'
import { prepareStatements, type Statements } from './statements.js'

/** Options of {@link SQLiteStore}. */
export interface SQLiteStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /** The database file, or `':memory:'`; default `zohooauth.db`, as in the reference. */
  path?: string
  /** The table; default `oauthtoken`. */
  table?: string
  /** How long a write waits for another process's write (ms); default 5000. */
  busyTimeoutMs?: number
  /**
   * How long a token lease from `lockToken` lasts unless renewed (ms); its
   * holder renews it every third of that while it holds it; default 60000.
   */
  lockLeaseMs?: number
}

/** The rules of {@link SQLiteStoreOptions}, key for key. */
const OPTIONS = {
  ...SQL_OPTIONS,
  path: text({ nonEmpty: true }).or('zohooauth.db'),
  busyTimeoutMs: number({ min: 0 }).or(5000),
  lockLeaseMs: number({ min: MIN_LEASE_MS }).or(DEFAULT_LEASE_MS),
} satisfies Record<keyof SQLiteStoreOptions, unknown>

// Documented where it is exported, typed for encryption (see the `SQLiteStore` constant).
export class SQLiteStore
  implements
    TokenStore,
    TokenIteration,
    TokenLocking,
    ConditionalSave,
    Compaction,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  /** The database file, or `':memory:'`. */
  readonly path: string
  /** The table's name. */
  readonly table: string
  readonly #busyTimeoutMs: number
  readonly #leaseMs: number
  #db: Database | undefined
  #statements: Statements | undefined
  readonly #memoryLocks = new InProcessLocks()
  readonly #due: DueColumns
  /** Budgets of a read-only database that predates the budget table: counted in the process. */
  readonly #budgetLog = new BudgetLog()

  constructor(options: SQLiteStoreOptions = {}) {
    const checked = checkOptions(STORE, options, OPTIONS)
    this.path = checked.path
    this.table = checked.table
    this.#busyTimeoutMs = checked.busyTimeoutMs
    this.#leaseMs = checked.lockLeaseMs
    this.#due = dueColumns(this.table)
    if (checked.encryption) return withEncryption(this, checked.encryption)
  }

  /**
   * The better-sqlite3 connection, opened (and the table made ready) on first use. Typed as
   * `unknown` so that the declarations need no driver types: cast it to `Database.Database`.
   */
  get database(): unknown {
    return this.#open('open').db
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    const row = this.#use('findToken', (s) => lookup && s.byColumn[lookup.column].get(lookup.value))
    return row ? tokenFromValues(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = this.#use('findTokenById', (s) => s.byId.get(id))
    return row ? tokenFromValues(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    token.id = this.#use('saveToken', (s) => s.save(token).id)
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    this.#use('deleteToken', (s) => s.delete.run(id))
  }

  async getTokens(): Promise<OAuthToken[]> {
    return this.#use('getTokens', (s) => s.all.all()).map(tokenFromValues)
  }

  /**
   * Every token, a page at a time in the order of their ids: each page is one short read
   * (`WHERE id > last ORDER BY id LIMIT pageSize`, on the primary key), so a pass holds one page
   * in memory whatever the table's size, and holds no transaction between pages (writers and
   * checkpoints are not held up by a long pass; rows changed meanwhile are read as they are then).
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return keysetPages(
      pageSizeOf(options),
      (after, size) =>
        this.#use('getTokens', (s) =>
          after === undefined ? s.firstPage.all(size) : s.pageAfter.all(after, size),
        ),
      // A NULL id (only in a table made without NOT NULL) sorts first: the pass goes on after it.
      (values) => values[0] ?? '',
      tokenFromValues,
    )
  }

  /**
   * The tokens due by `before`, soonest first (see `DueScan`): one range of a partial index on
   * (expiry, id), so a pass costs in proportion to the tokens due, not to all stored. An expiry
   * that is not 1 to 15 digits (the epoch milliseconds every SDK writes) is never due. The index
   * is added on open, except on a read-only database, where the same query reads every row.
   */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    const query = dueQuery(SQLITE, this.#due, options)
    if (query === undefined) return []
    return this.#use('findDueTokens', (s) => s.prepared(query.text).all(...query.values)).map(
      tokenFromValues,
    )
  }

  async deleteTokens(): Promise<void> {
    this.#use('deleteTokens', (s) => s.clear.run())
  }

  /**
   * Drops the old versions of rows the database still keeps in its files: the write-ahead log
   * is checkpointed and truncated, the database vacuumed (rebuilt without free pages), and the
   * log truncated again. `rekey()` calls it at the end. Resolves `false` when another connection
   * kept the log in use (its reader is in the middle of a read): run it again later.
   */
  async compact(): Promise<boolean> {
    return this.#use('compact', (_s, db) => {
      if (this.path === ':memory:') return true
      const truncate = (): boolean =>
        (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy === 0
      const first = truncate()
      db.exec('VACUUM')
      return truncate() && first
    })
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`): the
   * check and the write are one immediate transaction. `false`, and nothing written, otherwise.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    return this.#use('saveToken', (s) => s.saveIf(token, expected))
  }

  /**
   * A lease on one token between the processes of this machine, for a coordinated refresh: a
   * file beside the database (in memory: within this process), renewed while held
   * (`lockLeaseMs`). A holder that died, or whose pid now names another process, is taken
   * over at once.
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const held = { ...lockOptions(STORE, options), leaseMs: this.#leaseMs }
    if (this.path === ':memory:') return this.#memoryLocks.lock(STORE, id, held)
    return lockTokenFile(STORE, resolve(this.path), id, held)
  }

  /**
   * The health records of these tokens (see `HealthTracking`), from the `tk_health` column of
   * their rows, in one query. A read-only database that predates the column keeps none.
   */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    if (ids.length === 0) return new Map()
    return this.#use('findHealth', (s) => s.health.find?.(ids) ?? new Map<string, string>())
  }

  /** Keeps a token's health record in its row (`null` clears it); a missing row is left missing. */
  async saveHealth(id: string, record: string | null): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    this.#use('saveHealth', (s) => s.health.save?.(id, record))
  }

  /**
   * Takes one use of a budget (see `BudgetCounting`): one immediate transaction on the budget
   * table beside the token table, so every process sharing the file counts the same uses. A
   * read-only database that predates the table counts in this process only.
   */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const take = this.#use('takeBudget', (s) => s.health.take)
    if (!take) return this.#budgetLog.take(key, budget, now)
    return this.#use('takeBudget', () => take(key, budget, now))
  }

  /** Closes the database; a later call opens it again. */
  async close(): Promise<void> {
    const db = this.#db
    this.#db = undefined
    this.#statements = undefined
    try {
      db?.close()
    } catch (err) {
      throw this.#wrap('close', err)
    }
  }

  /** Runs a statement on the open database; a driver error becomes a TokenStoreError. */
  #use<T>(operation: StoreOperation, body: (s: Statements, db: Database) => T): T {
    try {
      const { statements, db } = this.#open(operation)
      return body(statements, db)
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #wrap(operation: StoreOperation, err: unknown): Error {
    return wrapStoreError(STORE, operation, err, {
      where: this.path,
      explain: (e) => explain(e, this.path),
    })
  }

  #open(operation: StoreOperation): { db: Database; statements: Statements } {
    if (this.#db && this.#statements) return { db: this.#db, statements: this.#statements }
    try {
      const db = openDatabase(this.path, this.table, this.#busyTimeoutMs, operation)
      try {
        this.#statements = prepareStatements(db, this.table)
      } catch (err) {
        db.close()
        throw err
      }
      this.#db = db
      return { db, statements: this.#statements }
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }
}
