import { InvalidArgumentError, refuseUnknownOptions } from '../errors.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  type ConditionalSave,
  type LockOptions,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { lookupOf, type Lookup } from '../store/matching.js'
import { rowHolds, tokenFromRow, type StoredRow } from '../store/rows.js'
import { resolveSave, type RowLookups } from '../store/save.js'
import { leaseOption, lockOptions } from './lease.js'
import { tokensOfRows, type IterateOptions, type TokenIteration } from '../iteration.js'
import { InProcessLocks } from './token-locks.js'
import { selectDueRows, type DueScan, type DueScanOptions } from '../due.js'
import type { HealthTracking } from '../health.js'
import { BudgetLog, type Budget, type BudgetAnswer, type BudgetCounting } from '../budget.js'
import { HealthRecords } from './health-records.js'

/** Options of the in-process stores. */
export interface InMemoryStoreOptions {
  /** How long a token lease lasts unless renewed (ms); default 60000. */
  lockLeaseMs?: number
}

/**
 * The rows of an in-process store: what `MemoryStore` and `ListStore` differ in (a
 * map with indexes, or a list scanned each time). Each row is a {@link StoredRow}.
 */
export interface InProcessRows extends RowLookups {
  /** Every row, in the order they were first saved. */
  rows(): Iterable<StoredRow>
  /** The row the lookup matches; of several, the one that wins by `winningRow`. */
  find(lookup: Lookup): StoredRow | undefined
  get(id: string): StoredRow | undefined
  /** Inserts a row (`insert`), or replaces the row with its id in place. */
  put(row: StoredRow, insert: boolean): void
  delete(id: string): void
  clear(): void
}

/** Checks the options of an in-process store; unknown ones are refused. */
function inProcessOptions(store: string, options: unknown): { leaseMs: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `${store} expects an options object`)
  }
  refuseUnknownOptions(store, options, ['lockLeaseMs'], 'options.')
  return { leaseMs: leaseOption(store, (options as InMemoryStoreOptions).lockLeaseMs) }
}

/**
 * A store that lives in the process: the rules of every store (matching, upsert, which row
 * wins, leases, health, budgets) over rows that a subclass keeps as it likes
 * ({@link InProcessRows}). Nothing survives the process.
 */
export abstract class InProcessStore
  implements
    TokenStore,
    TokenLocking,
    ConditionalSave,
    TokenIteration,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  readonly #name: string
  readonly #rows: InProcessRows
  readonly #locks = new InProcessLocks()
  readonly #health = new HealthRecords()
  readonly #budgets = new BudgetLog()
  readonly #leaseMs: number

  /** `name` is the store's name in errors; `options` are checked here. */
  protected constructor(name: string, rows: InProcessRows, options: unknown) {
    this.#name = name
    this.#rows = rows
    this.#leaseMs = inProcessOptions(name, options).leaseMs
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    const row = lookup && this.#rows.find(lookup)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = this.#rows.get(id)
    return row ? tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    this.#save(token)
  }

  /** Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`). */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const row = this.#rows.get(token.id!)
    if (!row || !rowHolds(row, expected)) return false
    this.#save(token)
    return true
  }

  /** A lease on one token within this process (the store lives in it). */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const checked = lockOptions(this.#name, options)
    return this.#locks.lock(this.#name, id, { ...checked, leaseMs: this.#leaseMs })
  }

  #save(token: OAuthToken): void {
    const { row, insert } = resolveSave(this.#name, token, this.#rows)
    this.#rows.put(row, insert)
    token.id = row.id
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    this.#rows.delete(id)
    this.#health.delete(id)
  }

  /** Every token, a page at a time (see `TokenIteration`). */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return tokensOfRows(this.#rows.rows(), options)
  }

  /** The tokens due by `options.before` (see `DueScan`): a scan of the rows, in memory. */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    return selectDueRows(this.#rows.rows(), options)
  }

  async getTokens(): Promise<OAuthToken[]> {
    return Array.from(this.#rows.rows(), tokenFromRow)
  }

  async deleteTokens(): Promise<void> {
    this.#rows.clear()
    this.#health.clear()
  }

  /** The health records of these tokens (see `HealthTracking`). */
  findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    return this.#health.find(ids)
  }

  /** Keeps a token's health record beside it, or removes it with `null`. */
  saveHealth(id: string, record: string | null): Promise<void> {
    return this.#health.save(id, record, (id) => this.#rows.get(id) !== undefined)
  }

  /** Takes one use of a budget (see `BudgetCounting`), counted in this process. */
  takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    return this.#budgets.take(key, budget, now)
  }

  async close(): Promise<void> {}
}
