import { randomBytes } from 'node:crypto'
import { promises as fsp, readFileSync, statSync } from 'node:fs'
import { isAscii } from 'node:buffer'
import { basename, dirname, resolve } from 'node:path'
import { TokenStoreError, type StoreOperation } from '../errors.js'
import { withEncryption, type EncryptedStore, type WithKeys } from './encrypted.js'
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
import { explainFsError } from './fs-errors.js'
import { ReplaceError, replaceFile, type Previous } from './file-replace.js'
import { FileLock, LockTimeoutError, isAlive } from './file-lock.js'
import { fileStoreOptions, type FileStoreOptions } from './file-options.js'
import { reloadChanged, reloadCount } from './file-reload.js'
import {
  emptySnapshot,
  naiveIdIs,
  naiveMatches,
  numbering,
  readSnapshot,
  snapshotBuffers,
  type BadRow,
  type Snapshot,
} from './file-snapshot.js'
import { leaseOption, lockOptions } from './lease.js'
import { lockTokenFile } from './token-locks.js'
import { tokensOfRows, type IterateOptions, type TokenIteration } from '../iteration.js'
import { currentRowFinisher, withRowFinisher, type RowFinisher } from '../sealed.js'

export type { FileStoreOptions } from './file-options.js'
export { reloadCount } from './file-reload.js'

/** A row of the file that could not be read. It is kept in the file as it is. */
export interface FileStoreProblem {
  /** The file's path. */
  readonly file: string
  /** The 1-based line where the row starts. */
  readonly line: number
  /** What is wrong, never the row's content. */
  readonly reason: string
}

type Operation =
  | {
      readonly kind: 'save'
      readonly token: OAuthToken
      readonly target: OAuthToken
      /** The encryption wrapper's finisher of this save, if any (see `withRowFinisher`). */
      readonly finish: RowFinisher | undefined
    }
  | {
      readonly kind: 'saveIf'
      readonly token: OAuthToken
      readonly expected: OAuthToken
      /** Set once the write is done: whether the row held `expected` and was replaced. */
      readonly outcome: { saved: boolean }
    }
  | { readonly kind: 'delete'; readonly id: string }
  | { readonly kind: 'clear' }

interface Pending {
  readonly op: Operation
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

const STORE = 'FileStore'

function fail(operation: StoreOperation, message: string, cause?: unknown): TokenStoreError {
  return new TokenStoreError(STORE, operation, message, cause === undefined ? undefined : { cause })
}

function versionOf(stats: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`
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
class FileStore implements TokenStore, TokenLocking, ConditionalSave, TokenIteration {
  /** The token file's path, as given. */
  readonly path: string
  readonly #absolute: string
  readonly #lock: FileLock
  readonly #staleLockMs: number
  readonly #leaseMs: number
  #snapshot: Snapshot | undefined
  #queue: Pending[] = []
  #flushing = false
  #swept = false
  readonly #cleanup = new Set<Promise<void>>()
  /** Files of ours (temporary, previous versions) that could not be removed yet. */
  readonly #litter = new Set<string>()

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
    await Promise.all(this.#cleanup)
    // Previous versions hold tokens: one that could not be removed after its write goes now.
    await this.#removeLitter()
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
    let version: string
    try {
      version = versionOf(statSync(this.#absolute))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw fail(operation, `cannot read ${this.path}: ${explainFsError(err, this.path)}`, err)
      }
      version = 'missing'
    }
    if (this.#snapshot?.version === version) return this.#snapshot
    this.#snapshot = this.#load(operation, version)
    return this.#snapshot
  }

  #load(operation: StoreOperation, version: string): Snapshot {
    if (version === 'missing') return emptySnapshot(version)
    let text: string
    try {
      // Decoded once, as Latin-1 when every byte is ASCII (the same string, made faster).
      const bytes = readFileSync(this.#absolute)
      text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')
    } catch (err) {
      const what =
        (err as NodeJS.ErrnoException).code === 'EISDIR'
          ? 'is a directory, not a token file'
          : `cannot be read: ${explainFsError(err, this.path)}`
      throw fail(operation, `${this.path} ${what}`, err)
    }
    const previous = this.#snapshot
    if (previous?.exact) {
      const changed = reloadChanged(previous, text, version)
      if (changed) return changed
    }
    reloadCount.full += 1
    return readSnapshot(text, version, (message) => fail(operation, `${this.path} ${message}`))
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
    const operation: StoreOperation = batch.length === 1 ? operationName(batch[0]!.op) : 'saveToken'
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
    const outcomes = new Map<Pending, { error: unknown } | { apply?: () => void }>()
    try {
      const snapshot = this.#current(operation)
      let changed = snapshot.upgrade
      for (const pending of batch) {
        try {
          const result = this.#apply(snapshot, pending.op)
          // Changed in memory, the rows no longer are what the text says.
          if (result.changed) snapshot.exact = false
          changed ||= result.changed
          outcomes.set(pending, result.apply ? { apply: result.apply } : {})
        } catch (err) {
          outcomes.set(pending, { error: err })
        }
      }
      if (changed) await this.#write(snapshot, operation)
    } catch (err) {
      // The file was not replaced: forget what was applied in memory, read it again next time.
      this.#snapshot = undefined
      const error =
        err instanceof TokenStoreError
          ? err
          : fail(operation, `cannot write ${this.path}: ${explainFsError(err, this.path)}`, err)
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

  /** Applies one operation to the snapshot in memory. */
  #apply(snapshot: Snapshot, op: Operation): { changed: boolean; apply?: () => void } {
    switch (op.kind) {
      case 'save': {
        const { row } = withRowFinisher(op.finish, () =>
          resolveSave(STORE, op.token, numbering(snapshot)),
        )
        snapshot.table.put(row)
        return { changed: true, apply: () => void (op.target.id = row.id) }
      }
      case 'saveIf': {
        // Decided on the file as it is under the lock; one that does not hold fails alone.
        const current = snapshot.table.get(op.token.id!)
        if (!current || !rowHolds(current, op.expected)) return { changed: false }
        const { row } = withRowFinisher(undefined, () =>
          resolveSave(STORE, op.token, numbering(snapshot)),
        )
        snapshot.table.put(row)
        return { changed: true, apply: () => void (op.outcome.saved = true) }
      }
      case 'delete': {
        return { changed: snapshot.table.delete(op.id) }
      }
      case 'clear': {
        const changed = snapshot.table.size > 0 || snapshot.bad.length > 0
        snapshot.table.clear()
        snapshot.bad.length = 0
        return { changed }
      }
    }
  }

  /**
   * Writes the snapshot as the new file (see {@link replaceFile}: each step checked; on a
   * failure the file is as it was and the error names the cause and the step).
   */
  async #write(snapshot: Snapshot, operation: StoreOperation): Promise<void> {
    const buffers = snapshotBuffers(snapshot)
    this.#assertWritable(operation)
    await this.#sweep()
    await this.#removeLitter()
    // The old version keeps a second name until the new one is in place: freeing its blocks
    // happens after the callers have their answer, and a failed directory sync can put it back.
    const old = this.#sideName('old')
    let previous: Previous
    try {
      previous = await replaceFile(
        {
          path: this.#absolute,
          label: this.path,
          temp: this.#sideName('tmp'),
          old,
          remove: (path) => this.#remove(path),
        },
        buffers,
      )
    } catch (err) {
      if (!(err instanceof ReplaceError)) throw err
      throw fail(
        operation,
        `cannot write ${this.path} (${err.step}): ${explainFsError(err.cause, this.path)}. ${err.state}`,
        err.cause,
      )
    }
    if (previous === 'kept') {
      const removal: Promise<void> = this.#remove(old).finally(() => this.#cleanup.delete(removal))
      this.#cleanup.add(removal)
    }
    try {
      this.#snapshot = {
        ...snapshot,
        version: versionOf(statSync(this.#absolute)),
        upgrade: false,
        exact: false,
      }
    } catch {
      // The file is written; it is read again on the next call.
      this.#snapshot = undefined
    }
  }

  /** Removes a file of ours; one that cannot be removed now is tried again at the next write. */
  async #remove(path: string): Promise<void> {
    try {
      await fsp.unlink(path)
      this.#litter.delete(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#litter.add(path)
      else this.#litter.delete(path)
    }
  }

  async #removeLitter(): Promise<void> {
    for (const path of [...this.#litter]) await this.#remove(path)
  }

  /** A temporary name beside the file, hidden, with this process's pid in it. */
  #sideName(kind: 'tmp' | 'old'): string {
    const base = basename(this.#absolute)
    return `${dirname(this.#absolute)}/.${base}.${process.pid}.${randomBytes(6).toString('hex')}.${kind}`
  }

  /**
   * Removes the temporary files a killed writer left beside the file (they hold tokens), once
   * per store: those of processes that are gone, or older than a minute.
   */
  async #sweep(): Promise<void> {
    if (this.#swept) return
    this.#swept = true
    const directory = dirname(this.#absolute)
    const prefix = `.${basename(this.#absolute)}.`
    const names = await fsp.readdir(directory).catch(() => [] as string[])
    for (const name of names) {
      const match = /^(\d+)\.[0-9a-f]{12}\.(tmp|old)$/.exec(
        name.startsWith(prefix) ? name.slice(prefix.length) : '',
      )
      if (!match) continue
      const pid = Number(match[1])
      const path = `${directory}/${name}`
      const age = await fsp.stat(path).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      )
      if ((pid !== process.pid && !isAlive(pid)) || age > 60_000) {
        await fsp.unlink(path).catch(() => undefined)
      }
    }
  }

  #assertWritable(operation: StoreOperation): void {
    let mode: number
    try {
      mode = statSync(this.#absolute).mode
    } catch {
      return
    }
    if ((mode & 0o222) === 0) {
      throw fail(operation, `${this.path} is read-only; it was left as it is`)
    }
  }
}

function operationName(op: Operation): StoreOperation {
  return op.kind === 'save' || op.kind === 'saveIf'
    ? 'saveToken'
    : op.kind === 'delete'
      ? 'deleteToken'
      : 'deleteTokens'
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
