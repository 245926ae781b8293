import { closeSync, openSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  describeCause,
  type StoreOperation,
} from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'
import { EncryptionError } from '../sealed.js'
import { keysetPages, pageSizeOf, type IterateOptions, type TokenIteration } from '../iteration.js'
import { withEncryption, type EncryptingStoreClass } from './encrypted.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  COLUMNS,
  MAX_TOKEN_ID,
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  resolveSave,
  rowHolds,
  tokenFromValues,
  type ConditionalSave,
  type LockOptions,
  type LookupColumn,
  type Compaction,
  type RowLookups,
  type StoredRow,
  type TokenLock,
  type TokenRow,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { leaseOption, lockOptions } from './lease.js'
import { InProcessLocks, lockTokenFile } from './token-locks.js'
import { loadDriver as loadOptional } from './driver.js'
import { explainSqliteStorageError } from './fs-errors.js'
import { quoteIdentifier } from './sql/identifiers.js'
import { createTableSql, lookupIndexes } from './sql/schema.js'

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

/** Every option of {@link SQLiteStore}: the compiler keeps this list complete. */
const OPTION_KEYS: Record<keyof SQLiteStoreOptions, true> = {
  encryption: true,
  path: true,
  table: true,
  busyTimeoutMs: true,
  lockLeaseMs: true,
}

type Database = BetterSqlite3.Database
/** A look-up in raw mode: the values in COLUMNS order, with no object made per row. */
type Statement = BetterSqlite3.Statement<unknown[], (string | null)[]>

interface Statements {
  byId: Statement
  byColumn: Record<LookupColumn, Statement>
  all: Statement
  /** A page of rows by id: the first one, and the one after a given id (keyset paging). */
  firstPage: Statement
  pageAfter: Statement
  insert: BetterSqlite3.Statement<unknown[]>
  update: BetterSqlite3.Statement<unknown[]>
  delete: BetterSqlite3.Statement<unknown[]>
  clear: BetterSqlite3.Statement<unknown[]>
  save: (token: OAuthToken) => StoredRow
  /** The save, in the same transaction as the check that row `token.id` holds `expected`. */
  saveIf: (token: OAuthToken, expected: OAuthToken) => boolean
}

const STORE = 'SQLiteStore'

function loadDriver(): typeof BetterSqlite3 {
  return loadOptional<typeof BetterSqlite3>(STORE, 'better-sqlite3')
}

/**
 * Tokens in a SQLite database (better-sqlite3), on a file or in memory: the reference's
 * `CustomStoreSQLite` with its exact table, done right. It opens a database that the reference
 * created and keeps working on it, changing its schema only by adding (indexes, a missing
 * `api_domain` column). Statements are prepared once and parameterized; the database runs in
 * WAL mode; a save is one immediate transaction, so processes sharing the file never interleave.
 * A new row takes the next id after the largest numeric id (`nextTokenId`), read in that
 * transaction through a partial index, so its cost does not grow with the table.
 *
 * @example
 * import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
 * const store = new SQLiteStore({ path: 'zohooauth.db' })
 * await store.saveToken(token)
 */
class SQLiteStore implements TokenStore, TokenIteration, TokenLocking, ConditionalSave, Compaction {
  /** The database file, or `':memory:'`. */
  readonly path: string
  /** The table's name. */
  readonly table: string
  readonly #busyTimeoutMs: number
  readonly #leaseMs: number
  #db: Database | undefined
  #statements: Statements | undefined
  readonly #memoryLocks = new InProcessLocks()

  constructor(options: SQLiteStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'SQLiteStore expects an options object')
    }
    refuseUnknownOptions('SQLiteStore', options, Object.keys(OPTION_KEYS))
    const { path = 'zohooauth.db', table = 'oauthtoken', busyTimeoutMs = 5000 } = options
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidArgumentError('path', 'SQLiteStore path must be a non-empty string')
    }
    if (!(typeof busyTimeoutMs === 'number' && busyTimeoutMs >= 0)) {
      throw new InvalidArgumentError(
        'busyTimeoutMs',
        'SQLiteStore busyTimeoutMs must be a number >= 0',
      )
    }
    quoteIdentifier(table, 'table')
    this.path = path
    this.table = table
    this.#busyTimeoutMs = busyTimeoutMs
    this.#leaseMs = leaseOption(STORE, options.lockLeaseMs)
    if (options.encryption) return withEncryption(this, options.encryption)
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
    return this.#pages(pageSizeOf(options))
  }

  #pages(pageSize: number): AsyncGenerator<OAuthToken> {
    return keysetPages(
      pageSize,
      (after, size) =>
        this.#use('getTokens', (s) =>
          after === undefined ? s.firstPage.all(size) : s.pageAfter.all(after, size),
        ),
      // A NULL id (only in a table made without NOT NULL) sorts first: the pass goes on after it.
      (values) => values[0] ?? '',
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
    try {
      const { db } = this.#open('compact')
      if (this.path === ':memory:') return true
      const truncate = (): boolean =>
        (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]?.busy === 0
      const first = truncate()
      db.exec('VACUUM')
      return truncate() && first
    } catch (err) {
      throw this.#wrap('compact', err)
    }
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
  #use<T>(operation: StoreOperation, body: (s: Statements) => T): T {
    try {
      return body(this.#open(operation).statements)
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #wrap(operation: StoreOperation, err: unknown): unknown {
    if (
      err instanceof TokenStoreError ||
      err instanceof InvalidArgumentError ||
      err instanceof EncryptionError
    ) {
      return err
    }
    return new TokenStoreError(STORE, operation, `${this.path}: ${explain(err, this.path)}`, {
      cause: err,
    })
  }

  #open(operation: StoreOperation): { db: Database; statements: Statements } {
    if (this.#db && this.#statements) return { db: this.#db, statements: this.#statements }
    const Driver = loadDriver()
    if (this.path !== ':memory:') {
      try {
        if (statSync(this.path).isDirectory()) {
          throw new TokenStoreError(STORE, operation, `${this.path} is a directory, not a database`)
        }
      } catch (err) {
        if (err instanceof TokenStoreError) throw err
        // A new database file: created here, readable by its owner only (SQLite gives its
        // -wal and -shm files the same permissions).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          try {
            closeSync(openSync(this.path, 'a', 0o600))
          } catch {
            // The driver says what is wrong (a missing directory, no permission) below.
          }
        }
      }
    }
    let db: Database | undefined
    try {
      db = new Driver(this.path, { timeout: this.#busyTimeoutMs })
      prepareSchema(db, this.table, this.path === ':memory:', this.#busyTimeoutMs)
      this.#statements = prepareStatements(db, this.table)
      this.#db = db
      return { db, statements: this.#statements }
    } catch (err) {
      db?.close()
      throw this.#wrap(operation, err)
    }
  }
}

/** Says what a driver error means for the user, in one line. */
function explain(err: unknown, path: string): string {
  // A full disk, an I/O error, a read-only file system: named, with what to do.
  const storage = explainSqliteStorageError(err, path)
  if (storage !== undefined) return storage
  const code = (err as { code?: unknown }).code
  switch (code) {
    case 'SQLITE_NOTADB':
      return 'the file is not a SQLite database; it was left as it is'
    case 'SQLITE_READONLY':
      return 'the database is read-only; nothing was written'
    case 'SQLITE_BUSY':
      return 'the database stayed locked by another connection past the busy timeout'
    case 'SQLITE_CANTOPEN':
      return 'the database file cannot be opened (missing directory or no permission)'
    default:
      return describeCause(err)
  }
}

/**
 * Switches the database to WAL. SQLite answers SQLITE_BUSY at once, without waiting, when
 * another connection is switching the same new file at the same moment: tried again, with short
 * sleeps, until `patienceMs` has passed.
 */
function switchToWal(db: Database, patienceMs: number): void {
  const deadline = Date.now() + patienceMs
  for (;;) {
    try {
      const mode = db.pragma('journal_mode', { simple: true })
      if (mode !== 'wal') db.pragma('journal_mode = WAL')
      return
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err
      // A synchronous sleep: opening is synchronous, like every call of the driver.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 + Math.random() * 8)
    }
  }
}

function prepareSchema(db: Database, table: string, memory: boolean, patienceMs: number): void {
  // Reading first: this is where a file that is not a database says so, before any write.
  const exists = db
    .prepare('SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?')
    .get('table', table)
  if (!memory) {
    try {
      switchToWal(db, patienceMs)
    } catch (err) {
      // A read-only database (file mode, read-only medium) is served as it is; writes then
      // fail with a clear error, and nothing is changed.
      if (exists && (err as { code?: unknown }).code === 'SQLITE_READONLY') return
      throw err
    }
    db.pragma('synchronous = FULL')
    // Reads through a memory map: no system call per page on the lookups of every API call.
    db.pragma('mmap_size = 268435456')
  }
  // Deleted and replaced rows are zeroed in the file, not left in free space: a revoked or
  // re-keyed token is gone from the disk, whether the store is encrypted or not.
  db.pragma('secure_delete = ON')
  // One immediate transaction: processes opening a new database together create it once.
  db.transaction(() => ensureTable(db, table)).immediate()
}

function ensureTable(db: Database, table: string): void {
  const name = quoteIdentifier(table)
  const exists = db
    .prepare('SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?')
    .get('table', table)
  if (!exists) db.exec(createTableSql('sqlite', table))
  const present = new Set(
    (db.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[]).map((c) =>
      c.name.toLowerCase(),
    ),
  )
  const missing = COLUMNS.filter((column) => !present.has(column))
  if (missing.some((column) => column !== 'api_domain')) {
    throw new TokenStoreError(
      STORE,
      'open',
      `table ${table} lacks the columns ${missing.join(', ')}`,
    )
  }
  if (missing.includes('api_domain'))
    db.exec(`ALTER TABLE ${name} ADD COLUMN api_domain varchar(255)`)
  for (const index of lookupIndexes(table)) {
    try {
      db.exec(index.sql)
    } catch (err) {
      // A legacy table may already hold a user twice: then the index on user names is a plain
      // one, and the store still never writes a second row for a user.
      if (!index.fallbackSql) throw err
      db.exec(index.fallbackSql)
    }
  }
  try {
    db.exec(
      `CREATE INDEX IF NOT EXISTS ${numericIdIndex(table)} ON ${name} ` +
        `(CAST(id AS INTEGER)) WHERE ${NUMERIC_ID}`,
    )
  } catch (err) {
    // The name is taken by another kind of object: new ids are still right, found by a scan.
    if ((err as { code?: unknown }).code !== 'SQLITE_ERROR') throw err
  }
}

/**
 * The ids `numericIdValue` numbers: one to ten characters, all ASCII digits. `length` and GLOB
 * stop at a NUL character; the byte length keeps out a text with one. The index below and the
 * look-up of the largest id use this text as it is, so that the planner matches them.
 */
const NUMERIC_ID =
  "length(id) BETWEEN 1 AND 10 AND length(CAST(id AS BLOB)) = length(id) AND NOT id GLOB '*[^0-9]*'"

/**
 * `compareRowIds` in SQL, for the rows that share a looked-up value (found through the
 * column's index; they are few, so sorting them costs nothing): numbered ids by value, the
 * others after them (their rank is past the largest ten-digit value), ties by the id's bytes
 * whatever the column's declared collation.
 */
const WINNER_FIRST =
  `ORDER BY CASE WHEN ${NUMERIC_ID} THEN CAST(id AS INTEGER) ELSE ${MAX_TOKEN_ID + 1} END, ` +
  'id COLLATE BINARY'

/**
 * The partial index on the numbered ids' values: the largest is its last entry, found in
 * O(log n). The name is not cut at 63 like the lookup indexes' (SQLite has no such limit), so
 * it never takes the table's own name.
 */
function numericIdIndex(table: string): string {
  // `table` passed quoteIdentifier: the suffix keeps it a plain identifier.
  return `"${table}_numeric_id_idx"`
}

/** A row read in raw mode (values in COLUMNS order) as a row object. */
function tokenRow(values: (string | null)[]): StoredRow {
  return Object.fromEntries(COLUMNS.map((column, i) => [column, values[i] ?? null])) as StoredRow
}

function prepareStatements(db: Database, table: string): Statements {
  const name = quoteIdentifier(table)
  const columns = COLUMNS.join(', ')
  const select = (where: string): Statement =>
    db.prepare<unknown[], (string | null)[]>(`SELECT ${columns} FROM ${name} ${where}`).raw(true)
  const byColumn = {
    user_name: select(`WHERE user_name = ? ${WINNER_FIRST} LIMIT 1`),
    access_token: select(`WHERE access_token = ? ${WINNER_FIRST} LIMIT 1`),
    grant_token: select(`WHERE grant_token = ? ${WINNER_FIRST} LIMIT 1`),
    refresh_token: select(`WHERE refresh_token = ? ${WINNER_FIRST} LIMIT 1`),
  }
  const byId = select('WHERE id = ?')
  const insert = db.prepare(
    `INSERT INTO ${name} (${columns}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
  )
  const update = db.prepare(
    `UPDATE ${name} SET ${COLUMNS.slice(1)
      .map((c) => `${c} = @${c}`)
      .join(', ')} WHERE id = @id`,
  )
  const largest = db
    .prepare<unknown[], number | null>(
      `SELECT max(CAST(id AS INTEGER)) FROM ${name} WHERE ${NUMERIC_ID}`,
    )
    .pluck(true)
  const lookups: RowLookups = {
    hasId: (id: string) => byId.get(id) !== undefined,
    get: (id: string) => {
      const values = byId.get(id)
      return (
        values && (Object.fromEntries(COLUMNS.map((c, i) => [c, values[i] ?? null])) as TokenRow)
      )
    },
    findId: (lookup: { column: LookupColumn; value: string }) =>
      byColumn[lookup.column].get(lookup.value)?.[0] ?? undefined,
    // Read inside the save's immediate transaction, which holds the database's write lock from
    // its start: no other connection (another process, the Python SDK) can add a row between
    // this read and the insert, so the new id is free and the primary key never refuses it.
    largestNumericId: () => largest.get() ?? undefined,
  }
  const save = db.transaction((token: OAuthToken): StoredRow => {
    const { row, insert: isNew } = resolveSave(STORE, token, lookups)
    ;(isNew ? insert : update).run(row)
    return row
  })
  const saveIf = db.transaction((token: OAuthToken, expected: OAuthToken): boolean => {
    const values = byId.get(token.id)
    if (!values || !rowHolds(tokenRow(values), expected)) return false
    save(token)
    return true
  })
  return {
    byId,
    byColumn,
    all: select('ORDER BY rowid'),
    firstPage: select('ORDER BY id LIMIT ?'),
    pageAfter: select('WHERE id > ? ORDER BY id LIMIT ?'),
    insert,
    update,
    delete: db.prepare(`DELETE FROM ${name} WHERE id = ?`),
    clear: db.prepare(`DELETE FROM ${name}`),
    save: (token) => save.immediate(token),
    saveIf: (token, expected) => saveIf.immediate(token, expected),
  }
}

/**
 * {@link SQLiteStore}, typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const EncryptingSQLiteStore = SQLiteStore as EncryptingStoreClass<typeof SQLiteStore>
type EncryptingSQLiteStore = SQLiteStore
export { EncryptingSQLiteStore as SQLiteStore }
