import { assertToken, type OAuthToken } from '../token.js'
import {
  COLUMNS,
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  largestNumericId,
  resolveSave,
  rowHolds,
  rowMatches,
  tokenFromRow,
  type ConditionalSave,
  type LockOptions,
  type Lookup,
  type StoredRow,
  type TokenLock,
  type TokenLocking,
  type TokenRow,
  type TokenStore,
  winningRow,
} from '../store.js'
import { tokensOfRows, type IterateOptions, type TokenIteration } from '../iteration.js'
import { lockOptions } from './lease.js'
import { inMemoryOptions, type InMemoryStoreOptions } from './memory.js'
import { InProcessLocks } from './token-locks.js'
import { selectDue, type DueScan, type DueScanOptions } from '../due.js'
import type { HealthTracking } from '../health.js'
import { BudgetLog, type Budget, type BudgetAnswer, type BudgetCounting } from '../budget.js'
import { HealthRecords } from './health-records.js'

/** One record of a {@link ListStore}: the values in the official column order. */
export type TokenRecord = (string | null)[]

function toRecord(row: TokenRow): TokenRecord {
  return COLUMNS.map((column) => row[column])
}

function toRow(record: TokenRecord): StoredRow {
  const row = Object.fromEntries(COLUMNS.map((column, i) => [column, record[i] ?? null]))
  return row as StoredRow
}

/**
 * Tokens as a list of lists, each inner list a token's values in the official column order:
 * the reference's list-based store. Lookups scan the list; fine for a handful of users.
 *
 * @example
 * const store = new ListStore()
 * store.records // [['k3Jx0aQ9Zt', 'ada@example.com', '1000.CLIENT', ...]]
 */
export class ListStore
  implements
    TokenStore,
    TokenLocking,
    ConditionalSave,
    TokenIteration,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  /** The records themselves, in the official column order. */
  readonly records: TokenRecord[] = []
  readonly #locks = new InProcessLocks()
  readonly #health = new HealthRecords()
  readonly #budgets = new BudgetLog()
  readonly #leaseMs: number

  constructor(options: InMemoryStoreOptions = {}) {
    this.#leaseMs = inMemoryOptions('ListStore', options).leaseMs
  }

  #find(predicate: (row: StoredRow) => boolean): StoredRow | undefined {
    for (const record of this.records) {
      const row = toRow(record)
      if (predicate(row)) return row
    }
    return undefined
  }

  /** The row the lookup matches; of several, the one that wins by `winningRow`. */
  #findByLookup(lookup: Lookup): StoredRow | undefined {
    return winningRow(this.records.map(toRow).filter((row) => rowMatches(row, lookup)))
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    const row = lookup && this.#findByLookup(lookup)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = this.#find((candidate) => candidate.id === id)
    return row ? tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    this.#save(token)
  }

  /** Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`). */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const row = this.#find((candidate) => candidate.id === token.id)
    if (!row || !rowHolds(row, expected)) return false
    this.#save(token)
    return true
  }

  /** A lease on one token within this process (the store lives in it). */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const checked = lockOptions('ListStore', options)
    return this.#locks.lock('ListStore', id, { ...checked, leaseMs: this.#leaseMs })
  }

  #save(token: OAuthToken): void {
    const { row, insert } = resolveSave('ListStore', token, {
      hasId: (id) => this.#find((candidate) => candidate.id === id) !== undefined,
      findId: (lookup) => this.#findByLookup(lookup)?.id,
      largestNumericId: () => largestNumericId(this.records.map((record) => record[0] ?? null)),
      get: (id) => this.#find((candidate) => candidate.id === id),
    })
    if (insert) {
      this.records.push(toRecord(row))
    } else {
      const at = this.records.findIndex((record) => record[0] === row.id)
      this.records[at] = toRecord(row)
    }
    token.id = row.id
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    const at = this.records.findIndex((record) => record[0] === id)
    if (at >= 0) this.records.splice(at, 1)
    this.#health.delete(id)
  }

  /** Every token, a page at a time (see `TokenIteration`). */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return tokensOfRows(this.records.map(toRow), options)
  }

  /** The tokens due by `options.before` (see `DueScan`): a scan of the list, in memory. */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    return selectDue(
      this.records.map((record) => tokenFromRow(toRow(record))),
      options,
    )
  }

  async getTokens(): Promise<OAuthToken[]> {
    return this.records.map((record) => tokenFromRow(toRow(record)))
  }

  async deleteTokens(): Promise<void> {
    this.records.length = 0
    this.#health.clear()
  }

  /** The health records of these tokens (see `HealthTracking`). */
  findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    return this.#health.find(ids)
  }

  /** Keeps a token's health record beside it, or removes it with `null`. */
  saveHealth(id: string, record: string | null): Promise<void> {
    return this.#health.save(id, record, (id) => this.records.some((record) => record[0] === id))
  }

  /** Takes one use of a budget (see `BudgetCounting`), counted in this process. */
  takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    return this.#budgets.take(key, budget, now)
  }

  async close(): Promise<void> {}
}
