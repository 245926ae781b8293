import {
  assertBudgetArguments,
  type Budget,
  type BudgetAnswer,
  type BudgetCounting,
} from '../../budget.js'
import { assertHealthIds, assertHealthRecord, type HealthTracking } from '../../health.js'
import { resolve } from 'node:path'
import type { StoreOperation } from '../../errors.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  assertToken,
  leaseOption,
  lockOptions,
  lockTokenFile,
  lookupOf,
  selectDueRows,
  tokenFromRow,
  tokensOfRows,
  type ConditionalSave,
  type DueScan,
  type DueScanOptions,
  type IterateOptions,
  type LockOptions,
  type TokenIteration,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
import { currentRowFinisher } from '../../sealed.js'
import { withEncryption, type EncryptedStore, type WithKeys } from '../encrypted.js'
import { FileLock } from '../file-lock.js'
import { fileStoreOptions, type FileStoreOptions } from './options.js'
import { keptHealth } from './keeping.js'
import { STORE } from './operations.js'
import { fail, readFile, versionNow } from './read.js'
import { SideFiles } from './side-files.js'
import { naiveIdIs, naiveMatches, type BadRow, type Snapshot } from './snapshot.js'
import { BatchWriter } from './writer.js'

/** A row of the file that could not be read. It is kept in the file as it is. */
export interface FileStoreProblem {
  /** The file's path. */
  readonly file: string
  /** The 1-based line where the row starts. */
  readonly line: number
  /** What is wrong, never the row's content. */
  readonly reason: string
}

// Documented where it is exported, typed for encryption (see the `FileStore` constant).
class FileStore
  implements
    TokenStore,
    TokenLocking,
    ConditionalSave,
    TokenIteration,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  /** The token file's path, as given. */
  readonly path: string
  readonly #absolute: string
  readonly #staleLockMs: number
  readonly #leaseMs: number
  #snapshot: Snapshot | undefined
  readonly #sideFiles: SideFiles
  /** Saves, deletes and side-file changes go through it, batched (see `writer.ts`). */
  readonly #writer: BatchWriter

  /**
   * @param pathOrOptions The token file's path, or all the options (path included).
   * @param options With a path first: the other options, for example `{ encryption }`.
   */
  constructor(
    pathOrOptions: string | FileStoreOptions = {},
    options?: Omit<FileStoreOptions, 'path'>,
  ) {
    const resolved = fileStoreOptions(pathOrOptions, options)
    this.#absolute = resolve(resolved.path)
    this.path = resolved.path
    this.#sideFiles = new SideFiles(this.#absolute)
    this.#staleLockMs = resolved.staleLockMs ?? 30_000
    this.#leaseMs = leaseOption(STORE, resolved.lockLeaseMs)
    this.#writer = new BatchWriter({
      file: { absolute: this.#absolute, label: this.path },
      lock: new FileLock(`${this.#absolute}.lock`, {
        timeoutMs: resolved.lockTimeoutMs ?? 10_000,
        staleMs: this.#staleLockMs,
      }),
      sideFiles: this.#sideFiles,
      current: (operation) => this.#current(operation),
      replace: (snapshot) => {
        this.#snapshot = snapshot
      },
    })
    if (resolved.encryption) return withEncryption(this, resolved.encryption)
  }

  /** The rows of the file that could not be read, as of the last read. */
  get problems(): FileStoreProblem[] {
    return (this.#snapshot?.bad ?? []).map(({ line, reason }) => ({
      file: this.path,
      line,
      reason,
    }))
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const snapshot = this.#current('findToken')
    const lookup = lookupOf(token)
    if (!lookup) return null
    const row = snapshot.table.find(lookup)
    if (row) return tokenFromRow(row)
    this.#throwIfBad(snapshot, 'findToken', (bad) => naiveMatches(bad, snapshot.layout, lookup))
    return null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const snapshot = this.#current('findTokenById')
    const row = snapshot.table.get(id)
    if (row) return tokenFromRow(row)
    this.#throwIfBad(snapshot, 'findTokenById', (bad) => naiveIdIs(bad, snapshot.layout, id))
    return null
  }

  /** Every token, a page at a time (see `TokenIteration`). */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return tokensOfRows(this.#current('getTokens').table.rows(), options)
  }

  async getTokens(): Promise<OAuthToken[]> {
    return Array.from(this.#current('getTokens').table.rows(), tokenFromRow)
  }

  /**
   * The tokens due by `before` (see `DueScan`): the kit's `selectDue` over the rows the store
   * holds in memory, the file read again only when another process changed it. Only rows whose
   * expiry is due are made into tokens.
   */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    return selectDueRows(this.#current('getTokens').table.rows(), options)
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    // The token is copied now: what is written is what it held when saveToken was called.
    return this.#writer.enqueue({
      kind: 'save',
      token: token.clone(),
      target: token,
      finish: currentRowFinisher(),
    })
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    return this.#writer.enqueue({ kind: 'delete', id })
  }

  deleteTokens(): Promise<void> {
    return this.#writer.enqueue({ kind: 'clear' })
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`),
   * decided under the file's write lock on the file as it is then; `false`, and nothing
   * written, otherwise. It is written with the saves that arrive with it.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const outcome = { saved: false }
    await this.#writer.enqueue({
      kind: 'saveIf',
      token: token.clone(),
      expected: expected.clone(),
      outcome,
    })
    return outcome.saved
  }

  /**
   * The health records of these tokens (see `HealthTracking`), from the side file beside the
   * token file (`<path>.keeper.json`); a record of a row the file no longer holds is left out.
   */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    if (ids.length === 0) return new Map()
    return keptHealth(this.#absolute, this.#current('findHealth').table, ids)
  }

  /** Keeps a token's health record in the side file, under the write lock, or removes it (`null`). */
  async saveHealth(id: string, record: string | null): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    return this.#writer.enqueue({ kind: 'health', id, record })
  }

  /**
   * Takes one use of a budget (see `BudgetCounting`) for every process using this file: the
   * uses are in the side file, read, decided and written under the write lock.
   */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const outcome: { answer?: BudgetAnswer } = {}
    await this.#writer.enqueue({ kind: 'budget', key, budget, now, outcome })
    return outcome.answer!
  }

  /**
   * A lease on one token between the processes of this machine, for a coordinated refresh: a
   * file beside the token file, renewed while held (`lockLeaseMs`). A holder that died, or
   * whose pid now names another process, is taken over at once.
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    return lockTokenFile(STORE, this.#absolute, id, {
      ...lockOptions(STORE, options),
      leaseMs: this.#leaseMs,
    })
  }

  /**
   * Waits for pending writes and removes what they could not remove at once. The store holds
   * no open file between operations.
   */
  async close(): Promise<void> {
    await this.#writer.idle()
    await this.#sideFiles.settle()
  }

  #throwIfBad(snapshot: Snapshot, operation: StoreOperation, test: (bad: BadRow) => boolean): void {
    const bad = snapshot.bad.find(test)
    if (bad) {
      throw fail(
        operation,
        `${this.path} line ${bad.line}: the row asked for cannot be read (${bad.reason}); ` +
          'it is kept in the file as it is',
      )
    }
  }

  /** The snapshot of the file as it is now: the cached one unless the file has changed. */
  #current(operation: StoreOperation): Snapshot {
    const file = { absolute: this.#absolute, label: this.path }
    const version = versionNow(file, operation)
    if (this.#snapshot?.version === version) return this.#snapshot
    this.#snapshot = readFile(file, version, this.#snapshot, operation)
    return this.#snapshot
  }
}

/**
 * The official SDKs' CSV token file, done right: it reads every header the official SDKs
 * write and keeps the file readable by them; each write goes to a temporary file that is
 * flushed to disk and renamed over the old one; writers in other processes wait for each other
 * through a lock file; reads are served from an index, and the file is read again only when
 * another process has changed it. Saves that arrive together are written together.
 *
 * Built with `encryption`, the store also has `rekey()`: the constructor returns the
 * encrypting store then (see `withEncryption`), and its type says so.
 *
 * @class
 * @typeParam _NotForExtends - Never given: it keeps the encrypting constructor out of
 * `class X extends FileStore`, which must see one base constructor.
 *
 * @example
 * const store = new FileStore('./sdk_tokens.txt')
 * await store.saveToken(token)
 * const found = await store.findTokenById(token.id!)
 */
const EncryptingFileStore = FileStore as {
  // The unused type parameters hide these from `class X extends FileStore` (see EncryptingStoreClass).
  new <_NotForExtends>(options: WithKeys<FileStoreOptions>): FileStore & EncryptedStore
  new <_NotForExtends>(
    path: string,
    options: WithKeys<Omit<FileStoreOptions, 'path'>>,
  ): FileStore & EncryptedStore
} & typeof FileStore
type EncryptingFileStore = FileStore
export { EncryptingFileStore as FileStore }
