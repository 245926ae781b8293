import type { Pool } from 'pg'
import type { DueScan, DueScanOptions } from '../../due.js'
import {
  keysetPages,
  pageSizeOf,
  type IterateOptions,
  type TokenIteration,
} from '../../iteration.js'
import { checkOptions } from '../../store-kit/options.js'
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
import { POSTGRES } from '../sql/dialect.js'
import { dueQuery, type DueColumns } from '../sql/due.js'
import { lookupBatchers } from '../sql/lookups.js'
import { OPTIONS, type PostgresStoreOptions } from './options.js'
import { bind, statement } from './client.js'
import { takeBudget } from './health.js'
import type { HeldLock } from './locks.js'
import { lockToken } from './locks.js'
import { saveOnce } from './save.js'
import { CONNECTION_ATTEMPTS, SAVE_ATTEMPTS, StorePool } from './pool.js'
import { STORE, dueColumns } from './schema.js'

export type { PostgresPool, PostgresStoreOptions } from './options.js'

// Documented where it is exported, typed for encryption (see the `PostgresStore` constant).
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
  /** The pool, the table made ready, retries and error wording (see `pool.ts`). */
  readonly #pool: StorePool
  readonly #locks = new Set<HeldLock>()
  readonly #due: DueColumns
  /** Budgets where this role may not create the budget table: counted in the process. */
  readonly #budgetLog = new BudgetLog()

  constructor(options: PostgresStoreOptions) {
    const checked = checkOptions(STORE, options, OPTIONS, {
      exactlyOne: [['connectionString', 'pool']],
    })
    this.table = checked.table
    this.#pool = new StorePool({
      table: this.table,
      connectionString: checked.connectionString,
      pool: checked.pool as unknown as Pool | undefined,
      poolSize: checked.poolSize,
      connectTimeoutMs: checked.connectTimeoutMs,
      applicationName: checked.applicationName,
    })
    this.#due = dueColumns(this.table)
    if (checked.encryption) return withEncryption(this, checked.encryption)
  }

  /**
   * The `pg.Pool` in use: the one given, or the store's own (created on first use). Typed as
   * `unknown` so that the declarations need no driver types: cast it to `pg.Pool`.
   */
  get pool(): unknown {
    return this.#pool.pool('open')
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
    const result = await this.#pool.run(operation, CONNECTION_ATTEMPTS, (r) =>
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
    const id = await this.#pool.run('saveToken', SAVE_ATTEMPTS, (ready) =>
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
    const id = await this.#pool.run('saveToken', SAVE_ATTEMPTS, (ready) =>
      saveOnce(ready, this.table, token, expected),
    )
    return id !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#pool.run('deleteToken', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.delete, [id])),
    )
  }

  async getTokens(): Promise<OAuthToken[]> {
    const result = await this.#pool.run('getTokens', CONNECTION_ATTEMPTS, (r) =>
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
          await this.#pool.run('getTokens', CONNECTION_ATTEMPTS, (r) =>
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
    const result = await this.#pool.run('findDueTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query<StoredRow>(bind(statement(query.text), query.values)),
    )
    return result.rows.map((row) => tokenFromRow(row))
  }

  async deleteTokens(): Promise<void> {
    await this.#pool.run('deleteTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.clear, [])),
    )
  }

  /**
   * The health records of these tokens (see `HealthTracking`), from the `tk_health` column of
   * their rows, in one query. Where the role may not add the column, none is kept.
   */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    const { rows } = await this.#pool.run('findHealth', CONNECTION_ATTEMPTS, async (r) =>
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
    await this.#pool.run('saveHealth', CONNECTION_ATTEMPTS, async (r) => {
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
    const answer = await this.#pool.run('takeBudget', CONNECTION_ATTEMPTS, async (r) =>
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
    const ready = await this.#pool.open('lock')
    const { lease, held } = await lockToken(ready.pool, {
      store: STORE,
      table: this.table,
      id,
      timeoutMs,
      explain: (err) => this.#pool.explain(err),
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
    await this.#pool.close()
  }
}
