import { InvalidArgumentError, refuseUnknownOptions } from '../errors.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  resolveSave,
  rowHolds,
  tokenFromRow,
  type ConditionalSave,
  type LockOptions,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { leaseOption, lockOptions } from './lease.js'
import { RowTable } from './table.js'
import { tokensOfRows, type IterateOptions, type TokenIteration } from '../iteration.js'
import { InProcessLocks } from './token-locks.js'
import { selectDue, type DueScan, type DueScanOptions } from '../due.js'
import type { HealthTracking } from '../health.js'
import { BudgetLog, type Budget, type BudgetAnswer, type BudgetCounting } from '../budget.js'
import { HealthRecords } from './health-records.js'

/** Options of the in-memory stores. */
export interface InMemoryStoreOptions {
  /** How long a token lease lasts unless renewed (ms); default 60000. */
  lockLeaseMs?: number
}

/** Checks the options of an in-memory store; unknown ones are refused. */
export function inMemoryOptions(store: string, options: unknown): { leaseMs: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `${store} expects an options object`)
  }
  refuseUnknownOptions(store, options, ['lockLeaseMs'], 'options.')
  return { leaseMs: leaseOption(store, (options as InMemoryStoreOptions).lockLeaseMs) }
}

/**
 * Tokens in a map keyed by id, with an index on every lookup column: the reference's
 * dictionary store. Nothing survives the process; use it for tests and short-lived scripts.
 *
 * @example
 * const store = new MemoryStore()
 * await store.saveToken(new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'at' }))
 */
export class MemoryStore
  implements
    TokenStore,
    TokenLocking,
    ConditionalSave,
    TokenIteration,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  readonly #table = new RowTable()
  readonly #locks = new InProcessLocks()
  readonly #health = new HealthRecords()
  readonly #budgets = new BudgetLog()
  readonly #leaseMs: number

  constructor(options: InMemoryStoreOptions = {}) {
    this.#leaseMs = inMemoryOptions('MemoryStore', options).leaseMs
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    const row = lookup && this.#table.find(lookup)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = this.#table.get(id)
    return row ? tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    this.#save(token)
  }

  /** Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`). */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const row = this.#table.get(token.id!)
    if (!row || !rowHolds(row, expected)) return false
    this.#save(token)
    return true
  }

  /** A lease on one token within this process (the store lives in it). */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const checked = lockOptions('MemoryStore', options)
    return this.#locks.lock('MemoryStore', id, { ...checked, leaseMs: this.#leaseMs })
  }

  #save(token: OAuthToken): void {
    const { row } = resolveSave('MemoryStore', token, this.#table)
    this.#table.put(row)
    token.id = row.id
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    this.#table.delete(id)
    this.#health.delete(id)
  }

  /** Every token, a page at a time (see `TokenIteration`). */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return tokensOfRows(this.#table.rows(), options)
  }

  /** The tokens due by `options.before` (see `DueScan`): a scan of the map, in memory. */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    return selectDue(Array.from(this.#table.rows(), tokenFromRow), options)
  }

  async getTokens(): Promise<OAuthToken[]> {
    return Array.from(this.#table.rows(), tokenFromRow)
  }

  async deleteTokens(): Promise<void> {
    this.#table.clear()
    this.#health.clear()
  }

  /** The health records of these tokens (see `HealthTracking`). */
  findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    return this.#health.find(ids)
  }

  /** Keeps a token's health record beside it, or removes it with `null`. */
  saveHealth(id: string, record: string | null): Promise<void> {
    return this.#health.save(id, record, (id) => this.#table.get(id) !== undefined)
  }

  /** Takes one use of a budget (see `BudgetCounting`), counted in this process. */
  takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    return this.#budgets.take(key, budget, now)
  }

  async close(): Promise<void> {}
}
