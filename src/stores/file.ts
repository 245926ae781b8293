import { randomBytes } from 'node:crypto'
import { promises as fsp, readFileSync, statSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  type StoreOperation,
} from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'
import { withEncryption } from './encrypted.js'
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
  tokenFromRow,
  type Column,
  type ConditionalSave,
  type LockOptions,
  type Lookup,
  type RowLookups,
  type TokenRow,
  type StoredRow,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { countNewlines, formatRecord, parseRecords, type CsvRecord } from './csv.js'
import { explainFsError } from './fs-errors.js'
import { ReplaceError, replaceFile, type Previous } from './file-replace.js'
import { FileLock, LockTimeoutError, isAlive } from './file-lock.js'
import { leaseOption, lockOptions } from './lease.js'
import { lockTokenFile } from './token-locks.js'
import { RowTable } from './table.js'
import { tokensOfRows, type IterateOptions, type TokenIteration } from '../iteration.js'
import { currentRowFinisher, withRowFinisher, type RowFinisher } from '../sealed.js'

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /** The token file; default `./sdk_tokens.txt`, the official SDKs' default. */
  path?: string
  /** How long a write waits for another process's write (ms); default 10000. */
  lockTimeoutMs?: number
  /**
   * The write lock's lease (ms): its holder renews it while writing; one left untouched longer
   * than this is taken over; default 30000.
   */
  staleLockMs?: number
  /**
   * How long a token lease from {@link FileStore.lockToken} lasts unless renewed (ms); its holder
   * renews it every third of that while it holds it; default 60000.
   */
  lockLeaseMs?: number
}

/** The keys {@link FileStoreOptions} has: any other key is refused, never ignored. */
const OPTION_KEYS: ReadonlySet<string> = new Set<keyof FileStoreOptions>([
  'encryption',
  'path',
  'lockTimeoutMs',
  'staleLockMs',
  'lockLeaseMs',
])

/**
 * The options of `new FileStore(path)`, `new FileStore(options)` or `new FileStore(path,
 * options)`, checked: a path given twice, an option that does not exist or a value of the wrong
 * kind is an InvalidArgumentError.
 */
function fileStoreOptions(
  first: unknown,
  second: unknown,
): FileStoreOptions & { readonly path: string } {
  if (second !== undefined) {
    if (typeof first !== 'string') {
      throw new InvalidArgumentError(
        'options',
        'FileStore takes its options once: new FileStore(path, options) or new FileStore(options)',
      )
    }
    if (typeof second !== 'object' || second === null) {
      throw new InvalidArgumentError('options', 'FileStore options must be an object')
    }
    if ((second as { path?: unknown }).path !== undefined) {
      throw new InvalidArgumentError(
        'path',
        'FileStore was given a path twice (as its first argument and as options.path); give it once',
      )
    }
  }
  const options: unknown = typeof first === 'string' ? { ...second, path: first } : first
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'FileStore expects a path or an options object')
  }
  refuseUnknownOptions('FileStore', options, OPTION_KEYS)
  const checked = options as FileStoreOptions
  const path = checked.path ?? './sdk_tokens.txt'
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError('path', 'FileStore path must be a non-empty string')
  }
  for (const key of ['lockTimeoutMs', 'staleLockMs'] as const) {
    const value = checked[key]
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new InvalidArgumentError(key, `FileStore ${key} must be a positive number`)
    }
  }
  return { ...checked, path }
}

/** A row of the file that could not be read. It is kept in the file as it is. */
export interface FileStoreProblem {
  /** The file's path. */
  readonly file: string
  /** The 1-based line where the row starts. */
  readonly line: number
  /** What is wrong, never the row's content. */
  readonly reason: string
}

/** The header names the official SDKs have written, mapped to our columns. */
const HEADER_NAMES: Readonly<Record<string, Column>> = {
  id: 'id',
  user_name: 'user_name',
  user_mail: 'user_name',
  client_id: 'client_id',
  client_secret: 'client_secret',
  refresh_token: 'refresh_token',
  access_token: 'access_token',
  grant_token: 'grant_token',
  expiry_time: 'expiry_time',
  redirect_url: 'redirect_url',
  redirect_uri: 'redirect_url',
  api_domain: 'api_domain',
}

/** How a file lays out its rows: kept as found, so that the SDK that wrote it still reads it. */
interface Layout {
  /** The header names as written. */
  readonly header: readonly string[]
  /** Our column for each position. */
  readonly columns: readonly Column[]
  readonly eol: '\n' | '\r\n'
}

const DEFAULT_LAYOUT: Layout = { header: COLUMNS, columns: COLUMNS, eol: '\n' }

interface BadRow {
  readonly line: number
  readonly reason: string
  readonly raw: string
  /** The values a plain comma split finds, to tell when the bad row is the one asked for. */
  readonly naive: readonly string[]
  /** Where it starts in the snapshot's text. */
  readonly start: number
  /** For a record that could not be read: the furthest place its reading looked. */
  readonly reach?: number
  /** For a row whose id an earlier row holds: that id. */
  readonly twice?: string
}

/** What the store knows of the file as it was when last read or written. */
interface Snapshot {
  /** Identity of the file version: inode, size, times; `missing` when there is no file. */
  readonly version: string
  readonly table: RowTable
  readonly bad: BadRow[]
  /** The file's text as last read (rows point into it), or '' for a new file. */
  readonly text: string
  readonly layout: Layout
  /** Whether the layout must be written out (a 9-column file gains `api_domain`). */
  readonly upgrade: boolean
  /**
   * Whether the rows and bad rows are exactly what reading `text` whole gives, every row
   * pointing into it (see {@link Reading}): only then can a change be applied alone.
   */
  exact: boolean
  /** Where the header record ends (past its line ending). */
  readonly headerNext: number
  /** Records whose quoted values hold line breaks, in file order (see `reloadChanged`). */
  readonly spans: readonly Span[]
  /** No row starts at or after this place in `text`. */
  readonly rowsEnd: number
}

/** A record spanning lines: a line start inside it is not a record start. */
interface Span {
  readonly start: number
  readonly next: number
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

/**
 * A row as the file store keeps it: where its text is in the file as last read (`start` to
 * `end` in the snapshot's `text`), so that unchanged rows are written back as they were, and
 * without holding a string per row. A row saved since has `start` -1 and is formatted.
 */
type FileRow = StoredRow & { start?: number; end?: number }

/** A row with every column absent, built as one literal: a million of them share one shape. */
function emptyRow(): TokenRow & { start: number; end: number } {
  return {
    start: -1,
    end: -1,
    id: null,
    user_name: null,
    client_id: null,
    client_secret: null,
    refresh_token: null,
    access_token: null,
    grant_token: null,
    expiry_time: null,
    redirect_url: null,
    api_domain: null,
  }
}

/**
 * The snapshot's lookups for a save: its rows, and for a new id every id the file holds, the
 * rows it could not read included (they are written back as they are).
 */
function numbering(snapshot: Snapshot): RowLookups {
  const { table, bad } = snapshot
  return {
    hasId: (id) => table.hasId(id),
    findId: (lookup) => table.findId(lookup),
    get: (id) => table.get(id),
    largestNumericId: () =>
      bad.length === 0
        ? table.largestNumericId()
        : largestNumericId([
            String(table.largestNumericId() ?? ''),
            ...bad.map((row) => row.naive[0]?.replace(/^"|"$/g, '') ?? null),
          ]),
  }
}

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
export class FileStore implements TokenStore, TokenLocking, ConditionalSave, TokenIteration {
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
    this.#throwIfBad(
      snapshot,
      'findTokenById',
      (bad) => naiveValue(bad, snapshot.layout, 'id') === id,
    )
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
    const empty = (): Snapshot => ({
      version,
      table: new RowTable(),
      bad: [],
      text: '',
      layout: DEFAULT_LAYOUT,
      upgrade: false,
      exact: false,
      headerNext: 0,
      spans: [],
      rowsEnd: 0,
    })
    if (version === 'missing') return empty()
    let text: string
    try {
      text = readFileSync(this.#absolute, 'utf8')
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
    const records = parseRecords(text)
    const first = records.next()
    if (first.done) return empty()
    if (!('fields' in first.value)) {
      throw fail(operation, `${this.path} line 1: the header cannot be read (${first.value.error})`)
    }
    const parsed = this.#parseHeader(operation, first.value.fields, text)
    const table = new RowTable()
    const bad: BadRow[] = []
    const spans: Span[] = []
    let rowsEnd = first.value.next
    for (const record of records) {
      if ('fields' in record && record.multiline) spans.push(record)
      const read = readRecord(record, parsed, (id) => table.hasId(id))
      if ('line' in read) {
        bad.push(read)
        continue
      }
      table.put(read)
      rowsEnd = record.start + 1
    }
    return {
      version,
      table,
      bad,
      text,
      layout: parsed.layout,
      upgrade: parsed.upgrade,
      // An upgraded file's rows are all written anew: they keep no place in the text.
      exact: !parsed.upgrade,
      headerNext: first.value.next,
      spans,
      rowsEnd,
    }
  }

  #parseHeader(operation: StoreOperation, fields: string[], text: string): Reading {
    const columns: Column[] = []
    for (const name of fields) {
      const column = HEADER_NAMES[name.trim().toLowerCase()]
      if (column === undefined) {
        throw fail(
          operation,
          `${this.path} line 1: '${name.slice(0, 40)}' is not a column of a token file; ` +
            `expected the header ${COLUMNS.join(',')}`,
        )
      }
      if (columns.includes(column)) {
        throw fail(operation, `${this.path} line 1: the header names ${column} twice`)
      }
      columns.push(column)
    }
    if (columns[0] !== 'id') {
      throw fail(operation, `${this.path} line 1: the header must start with id`)
    }
    const eol = text.includes('\r\n') ? '\r\n' : '\n'
    const missing = COLUMNS.filter((column) => !columns.includes(column))
    if (missing.length === 0) {
      return { layout: { header: fields, columns, eol }, upgrade: false }
    }
    if (missing.length === 1 && missing[0] === 'api_domain') {
      // The official SDKs' older 9-column file: it gains the column at the next write.
      return {
        layout: { header: [...fields, 'api_domain'], columns: [...columns, 'api_domain'], eol },
        upgrade: true,
      }
    }
    throw fail(operation, `${this.path} line 1: the header lacks ${missing.join(', ')}`)
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
    const { layout } = snapshot
    // Unchanged rows are written as the file held them: only changed rows are formatted. Lines
    // are joined into chunks, not a Buffer each.
    const buffers: Buffer[] = [Buffer.from(formatRecord(layout.header) + layout.eol)]
    let chunk: string[] = []
    for (const row of snapshot.table.rows() as IterableIterator<FileRow>) {
      const { start = -1, end = -1 } = row
      chunk.push(
        start >= 0
          ? snapshot.text.slice(start, end)
          : formatRecord(layout.columns.map((column) => row[column])),
      )
      if (chunk.length === 4096) {
        buffers.push(Buffer.from(chunk.join(layout.eol) + layout.eol))
        chunk = []
      }
    }
    if (chunk.length > 0) buffers.push(Buffer.from(chunk.join(layout.eol) + layout.eol))
    for (const bad of snapshot.bad) buffers.push(Buffer.from(bad.raw + layout.eol))

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

function naiveValue(bad: BadRow, layout: Layout, column: Column): string | undefined {
  return bad.naive[layout.columns.indexOf(column)]
}

function naiveMatches(bad: BadRow, layout: Layout, lookup: Lookup): boolean {
  return naiveValue(bad, layout, lookup.column) === lookup.value
}

/** How the header lays out the rows: `layout.columns.length` values a row. */
interface Reading {
  readonly layout: Layout
  /** A 9-column file: its rows may lack the last value. */
  readonly upgrade: boolean
}

/** How the file was read again when it changed: whole, or only where it changed. */
export const reloadCount = { full: 0, partial: 0 }

/** A record as a row of the table, or as a bad row; `seen` tells an id an earlier row holds. */
function readRecord(
  record: CsvRecord,
  { layout, upgrade }: Reading,
  seen: (id: string) => boolean,
): (FileRow & { start: number; end: number }) | BadRow {
  if (!('fields' in record)) return badRow(record, record.error)
  const { fields } = record
  const { columns } = layout
  const width = columns.length
  if (fields.length !== width && !(upgrade && fields.length === width - 1)) {
    return badRow(record, `expected ${width} values, found ${fields.length}`)
  }
  const row = emptyRow()
  for (let i = 0; i < width; i += 1) {
    const value = fields[i]
    row[columns[i]!] = value === undefined || value.length === 0 ? null : value
  }
  if (row.id === null) return badRow(record, 'the row has no id')
  if (seen(row.id)) return badRow(record, `id ${row.id} appears twice`, row.id)
  if (!upgrade) {
    row.start = record.start
    row.end = record.end
  }
  return row as FileRow & { start: number; end: number }
}

function badRow(record: CsvRecord, reason: string, twice?: string): BadRow {
  const bad: BadRow = {
    line: record.line,
    reason,
    raw: record.raw,
    naive: record.raw.split(','),
    start: record.start,
  }
  if ('reach' in record) return { ...bad, reach: record.reach }
  return twice === undefined ? bad : { ...bad, twice }
}

/** Below this many characters a difference is found char by char. */
const COMPARE_FLOOR = 64

/** The length of the longest common start of `a` and `b`, found by comparing halves natively. */
function commonPrefix(a: string, b: string): number {
  let hi = Math.min(a.length, b.length)
  if (a.slice(0, hi) === b.slice(0, hi)) return hi
  let lo = 0
  // a and b agree on [0, lo) and differ somewhere in [lo, hi).
  while (hi - lo > COMPARE_FLOOR) {
    const mid = lo + ((hi - lo) >>> 1)
    if (a.slice(lo, mid) === b.slice(lo, mid)) lo = mid
    else hi = mid
  }
  while (lo < hi && a.charCodeAt(lo) === b.charCodeAt(lo)) lo += 1
  return lo
}

/** The length of the longest common end of `a` and `b`, at most `most`. */
function commonSuffix(a: string, b: string, most: number): number {
  const al = a.length
  const bl = b.length
  if (a.slice(al - most) === b.slice(bl - most)) return most
  let lo = 0
  let hi = most
  while (hi - lo > COMPARE_FLOOR) {
    const mid = lo + ((hi - lo) >>> 1)
    if (a.slice(al - mid, al - lo) === b.slice(bl - mid, bl - lo)) lo = mid
    else hi = mid
  }
  while (lo < hi && a.charCodeAt(al - 1 - lo) === b.charCodeAt(bl - 1 - lo)) lo += 1
  return lo
}

/** The span a place lies strictly inside, if any (spans are in file order). */
function spanAround(spans: readonly Span[], at: number): Span | undefined {
  let lo = 0
  let hi = spans.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (spans[mid]!.start < at) lo = mid + 1
    else hi = mid
  }
  const span = spans[lo - 1]
  return span !== undefined && span.next > at ? span : undefined
}

/**
 * The snapshot of `text`, the file's new content, made from `old` (exact) by reading again
 * only the records where the two differ; `undefined` when the change cannot be applied alone,
 * and the file is then read whole. The result is what reading `text` whole gives.
 *
 * Reading a record depends only on the text from its start on, so records wholly before the
 * first difference (and whose reading looked no further) are read the same, and once reading
 * the new text reaches, inside the common end, a place where a record of the old text started,
 * every record from there on is the old one moved by the difference in length. A line start is
 * a record start unless a quoted value spanning lines holds it (`spans`).
 */
function reloadChanged(old: Snapshot, text: string, version: string): Snapshot | undefined {
  const before = old.text
  const prefix = commonPrefix(before, text)
  if (prefix === before.length && prefix === text.length) return { ...old, version }
  const suffix = commonSuffix(before, text, Math.min(before.length, text.length) - prefix)
  // The header (and a byte order mark) must be read the same: its line ending is in the prefix.
  if (prefix < old.headerNext || before.charCodeAt(old.headerNext - 1) !== 10) return undefined
  // The line ending a file is written with depends on the whole text.
  const crlf =
    old.layout.eol === '\r\n'
      ? before.indexOf('\r\n') + 1 < prefix || text.includes('\r\n')
      : text.slice(prefix - 1, text.length - suffix + 1).includes('\r\n')
  if (crlf !== (old.layout.eol === '\r\n')) return undefined

  // Where reading starts again: the record holding the first difference, or an earlier one
  // that could not be read and whose reading looked as far.
  let from = before.lastIndexOf('\n', prefix - 1) + 1
  from = spanAround(old.spans, from)?.start ?? from
  for (const bad of old.bad) {
    if (bad.start >= from) break
    if (bad.reach !== undefined && bad.reach >= prefix) {
      from = bad.start
      break
    }
  }
  if (from < old.headerNext) return undefined

  const shift = text.length - before.length
  const tail = text.length - suffix
  const isOldStart = (at: number): boolean =>
    at === before.length ||
    (before.charCodeAt(at - 1) === 10 && spanAround(old.spans, at) === undefined)
  let until = text.length
  const added = Array.from(
    parseRecords(text, from, 1, (pos) => {
      if (pos < tail || !isOldStart(pos - shift)) return false
      until = pos
      return true
    }),
  )
  const oldUntil = until - shift
  const removed = Array.from(parseRecords(before, from, 1, (pos) => pos >= oldUntil))

  const { table } = old
  const reading: Reading = { layout: old.layout, upgrade: old.upgrade }
  // The rows the changed records held, in file order.
  const gone: string[] = []
  for (const record of removed) {
    if (!('fields' in record)) continue
    const id = record.fields[0]
    if (id && (table.get(id) as FileRow | undefined)?.start === record.start) gone.push(id)
  }
  const goneIds = new Set(gone)
  const rows: (FileRow & { start: number; end: number })[] = []
  const bad: BadRow[] = []
  const taken = new Set<string>()
  for (const record of added) {
    const read = readRecord(record, reading, (id) => {
      if (taken.has(id)) return true
      const row = table.get(id) as FileRow | undefined
      return row !== undefined && row.start! < from
    })
    if ('line' in read) {
      bad.push(read)
      continue
    }
    // A row whose id a later row holds: that one turns bad, rows move. Read whole.
    if (table.hasId(read.id) && !goneIds.has(read.id)) return undefined
    taken.add(read.id)
    rows.push(read)
  }
  // Rows the change keeps stay in place, in their order; a new row can only be added at the end.
  const rowsAfter = old.rowsEnd > oldUntil
  let next = 0
  let grew = false
  for (const row of rows) {
    if (goneIds.has(row.id)) {
      while (next < gone.length && gone[next] !== row.id) next += 1
      if (grew || next === gone.length) return undefined
      next += 1
    } else {
      if (rowsAfter) return undefined
      grew = true
    }
  }
  const tailBad = old.bad.filter((row) => row.start >= oldUntil)
  // A later row bad only because an earlier row held its id, now gone: it is a row again.
  const freed = (id: string | undefined): boolean =>
    id !== undefined && goneIds.has(id) && !taken.has(id)
  if (tailBad.some((row) => freed(row.twice))) return undefined

  reloadCount.partial += 1
  if (shift !== 0 && rowsAfter) {
    for (const row of table.rows() as IterableIterator<FileRow>) {
      if (row.start! >= oldUntil) {
        row.start! += shift
        row.end! += shift
      }
    }
  }
  for (const id of gone) if (!taken.has(id)) table.delete(id)
  for (const row of rows) table.put(row)

  const headBad = old.bad.filter((row) => row.start < from)
  if (bad.length > 0) {
    const anchor = headBad.at(-1) ?? { start: 0, line: 1 }
    const base = anchor.line + countNewlines(before, anchor.start, from) - 1
    for (let i = 0; i < bad.length; i += 1) bad[i] = { ...bad[i]!, line: bad[i]!.line + base }
  }
  const lines =
    tailBad.length > 0
      ? countNewlines(text, from, until) - countNewlines(before, from, oldUntil)
      : 0
  const moved = (row: BadRow): BadRow => ({
    ...row,
    line: row.line + lines,
    start: row.start + shift,
    ...(row.reach === undefined ? {} : { reach: row.reach + shift }),
  })
  const spans: Span[] = old.spans.filter((span) => span.start < from)
  for (const record of added) if ('fields' in record && record.multiline) spans.push(record)
  for (const span of old.spans) {
    if (span.start >= oldUntil) spans.push({ start: span.start + shift, next: span.next + shift })
  }
  return {
    ...old,
    version,
    text,
    bad: [...headBad, ...bad, ...tailBad.map(moved)],
    spans,
    rowsEnd: rowsAfter ? old.rowsEnd + shift : (rows.at(-1)?.start ?? from - 1) + 1,
  }
}
