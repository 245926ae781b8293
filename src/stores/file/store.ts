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
  checkDueScanOptions,
  leaseOption,
  lockOptions,
  lockTokenFile,
  lookupOf,
  parseExpiry,
  selectDue,
  tokenFromRow,
  tokensOfRows,
  wrapStoreError,
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
import { FileLock, LockTimeoutError } from '../file-lock.js'
import { explainFsError } from '../fs-errors.js'
import { fileStoreOptions, type FileStoreOptions } from './options.js'
import {
  dropOrphans,
  keepingPath,
  keptHealth,
  readKeeping,
  writeKeeping,
  type Keeping,
} from './keeping.js'
import {
  STORE,
  applyOperation,
  batchOperation,
  keptAside,
  touchesKeeping,
  type Operation,
  type Pending,
} from './operations.js'
import { fail, readFile, versionNow } from './read.js'
import { SideFiles } from './side-files.js'
import { naiveIdIs, naiveMatches, type BadRow, type Snapshot } from './snapshot.js'
import { writeSnapshot } from './write.js'

/** What each queued operation is told once its batch is written. */
type Outcomes = Map<Pending, { error: unknown } | { apply?: () => void }>

/** A row of the file that could not be read. It is kept in the file as it is. */
export interface FileStoreProblem {
  /** The file's path. */
  readonly file: string
  /** The 1-based line where the row starts. */
  readonly line: number
  /** What is wrong, never the row's content. */
  readonly reason: string
}

/**
 * The official SDKs' CSV token file, done right: it reads every header the official SDKs
 * write and keeps the file readable by them; each write goes to a temporary file that is
 * flushed to disk and renamed over the old one; writers in other processes wait for each other
 * through a lock file; reads are served from an index, and the file is read again only when
 * another process has changed it. Saves that arrive together are written together.
 *
 * @example
 * const store = new FileStore('./sdk_tokens.txt')
 * await store.saveToken(token)
 * const found = await store.findTokenById(token.id!)
 */
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
  readonly #lock: FileLock
  readonly #staleLockMs: number
  readonly #leaseMs: number
  #snapshot: Snapshot | undefined
  #queue: Pending[] = []
  #flushing = false
  readonly #sideFiles: SideFiles

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
    this.#lock = new FileLock(`${this.#absolute}.lock`, {
      timeoutMs: resolved.lockTimeoutMs ?? 10_000,
      staleMs: this.#staleLockMs,
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
    const { before } = checkDueScanOptions(options)
    const due: OAuthToken[] = []
    for (const row of this.#current('getTokens').table.rows()) {
      const expiry = parseExpiry(row.expiry_time)
      if (expiry !== undefined && expiry <= before) due.push(tokenFromRow(row))
    }
    return selectDue(due, options)
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    // The token is copied now: what is written is what it held when saveToken was called.
    return this.#enqueue({
      kind: 'save',
      token: token.clone(),
      target: token,
      finish: currentRowFinisher(),
    })
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    return this.#enqueue({ kind: 'delete', id })
  }

  deleteTokens(): Promise<void> {
    return this.#enqueue({ kind: 'clear' })
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`),
   * decided under the file's write lock on the file as it is then; `false`, and nothing
   * written, otherwise. It is written with the saves that arrive with it.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const outcome = { saved: false }
    await this.#enqueue({
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
    return this.#enqueue({ kind: 'health', id, record })
  }

  /**
   * Takes one use of a budget (see `BudgetCounting`) for every process using this file: the
   * uses are in the side file, read, decided and written under the write lock.
   */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    const outcome: { answer?: BudgetAnswer } = {}
    await this.#enqueue({ kind: 'budget', key, budget, now, outcome })
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
    while (this.#flushing || this.#queue.length > 0) {
      await new Promise((done) => setImmediate(done))
    }
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

  #enqueue(op: Operation): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject })
      if (!this.#flushing) {
        this.#flushing = true
        // From the next microtask: operations started in the same turn share one write.
        queueMicrotask(() => void this.#flush())
      }
    })
  }

  /** Writes queued operations, all that arrived meanwhile together, until none is left. */
  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        await this.#writeBatch(batch)
      }
    } finally {
      this.#flushing = false
    }
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    const operation = batchOperation(batch)
    let release: () => Promise<void>
    try {
      release = await this.#lock.acquire()
    } catch (err) {
      const error =
        err instanceof LockTimeoutError
          ? fail('lock', `${this.path}: ${err.message}`, err)
          : fail(
              'lock',
              `cannot create the write lock beside ${this.path}: ${explainFsError(err, this.path)}; ` +
                'nothing was written',
              err,
            )
      for (const pending of batch) pending.reject(error)
      return
    }
    // Outcomes are settled once the lock is released, so that a caller who has its answer
    // never finds the file still locked by its own write.
    const outcomes: Outcomes = new Map()
    let keeping: Keeping | undefined
    try {
      const snapshot = this.#current(operation)
      if (batch.some((pending) => touchesKeeping(pending.op))) {
        keeping = await readKeeping(keepingPath(this.#absolute))
      }
      let changed = snapshot.upgrade
      for (const pending of batch) {
        try {
          const result = applyOperation(snapshot, pending.op, keeping)
          // Changed in memory, the rows no longer are what the text says.
          if (result.changed) snapshot.exact = false
          changed ||= result.changed
          outcomes.set(pending, result.apply ? { apply: result.apply } : {})
        } catch (err) {
          outcomes.set(pending, { error: err })
        }
      }
      if (changed) {
        const file = { absolute: this.#absolute, label: this.path }
        this.#snapshot = await writeSnapshot(file, this.#sideFiles, snapshot, operation)
      }
      if (keeping) await this.#writeKeeping(keeping, snapshot, batch, outcomes)
    } catch (err) {
      // The file was not replaced: forget what was applied in memory, read it again next time.
      this.#snapshot = undefined
      const error = wrapStoreError(STORE, operation, err, {
        explain: (e) => `cannot write ${this.path}: ${explainFsError(e, this.path)}`,
      })
      for (const pending of batch) {
        const outcome = outcomes.get(pending)
        if (!outcome || !('error' in outcome)) outcomes.set(pending, { error })
      }
    }
    await release().catch(() => undefined)
    for (const pending of batch) {
      const outcome = outcomes.get(pending)!
      if ('error' in outcome) {
        pending.reject(outcome.error)
      } else {
        outcome.apply?.()
        pending.resolve()
      }
    }
  }

  /**
   * Writes the side file after the token file, when the batch changed it. Its failure fails
   * only the operations kept in it: the tokens are written (see `writeKeeping`).
   */
  async #writeKeeping(keeping: Keeping, snapshot: Snapshot, batch: Pending[], outcomes: Outcomes) {
    dropOrphans(keeping, snapshot.table)
    if (!keeping.changed) return
    const failed = await writeKeeping(this.#absolute, this.#sideFiles, keeping)
    for (const pending of batch) {
      if (failed && keptAside(pending.op) && !('error' in outcomes.get(pending)!)) {
        outcomes.set(pending, { error: failed(batchOperation([pending])) })
      }
    }
  }
}

/**
 * {@link FileStore}, typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
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
