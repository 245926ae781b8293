import { closeSync, openSync, statSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import { TokenStoreError, describeCause, type StoreOperation } from '../../errors.js'
import { loadDriver } from '../driver.js'
import { explainSqliteStorageError } from '../fs-errors.js'
import { COLUMNS } from '../../store/rows.js'
import { SQLITE, numberedId } from '../sql/dialect.js'
import { EXPIRY_DIGITS, expiryKey, type DueColumns } from '../sql/due.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { HEALTH_COLUMN, createBudgetTableSql, healthColumnSql } from '../sql/health.js'
import { addApiDomainSql, createTableSql, lacksApiDomain, lookupIndexes } from '../sql/schema.js'

export type Database = BetterSqlite3.Database

export const STORE = 'SQLiteStore'

/**
 * Opens the database at `path` (creating a new file readable by its owner only) and makes its
 * table ready. A driver error is thrown as it is; the store words it ({@link explain}).
 */
export function openDatabase(
  path: string,
  table: string,
  busyTimeoutMs: number,
  operation: StoreOperation,
): Database {
  const Driver = loadDriver<typeof BetterSqlite3>(STORE, 'better-sqlite3')
  if (path !== ':memory:') {
    try {
      if (statSync(path).isDirectory()) {
        throw new TokenStoreError(STORE, operation, `${path} is a directory, not a database`)
      }
    } catch (err) {
      if (err instanceof TokenStoreError) throw err
      // A new database file: created here, readable by its owner only (SQLite gives its
      // -wal and -shm files the same permissions).
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        try {
          closeSync(openSync(path, 'a', 0o600))
        } catch {
          // The driver says what is wrong (a missing directory, no permission) below.
        }
      }
    }
  }
  const db = new Driver(path, { timeout: busyTimeoutMs })
  try {
    prepareSchema(db, table, path === ':memory:', busyTimeoutMs)
    return db
  } catch (err) {
    db.close()
    throw err
  }
}

/** Says what a driver error means for the user, in one line. */
export function explain(err: unknown, path: string): string {
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
  if (lacksApiDomain(STORE, table, present)) db.exec(addApiDomainSql('sqlite', table))
  // Each token's health in its row, and the budget uses beside the table: both additive.
  if (!present.has(HEALTH_COLUMN)) {
    db.exec(`ALTER TABLE ${name} ADD COLUMN ${healthColumnSql('sqlite')}`)
  }
  for (const sql of createBudgetTableSql('sqlite', table)) db.exec(sql)
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
  const due = dueColumns(table)
  for (const index of [
    // The numbered ids by value: the largest is the last entry, found in O(log n).
    `${indexName(table, 'numeric_id')} ON ${name} (CAST(id AS INTEGER)) WHERE ${numberedId(SQLITE)}`,
    // The due scan's order: one range of it holds exactly the due tokens, in order.
    `${indexName(table, 'expiry')} ON ${name} (${due.key}, ${due.id}) WHERE ${due.indexed}`,
  ]) {
    try {
      db.exec(`CREATE INDEX IF NOT EXISTS ${index}`)
    } catch (err) {
      // The name is taken by another kind of object: the answers are still right, found by a
      // scan.
      if ((err as { code?: unknown }).code !== 'SQLITE_ERROR') throw err
    }
  }
}

/**
 * How the due scan reads the table: the expiry's value where it is digits, and the id in
 * byte order (code-point order, as UTF-8 sorts), the same text in the index and the query.
 */
export function dueColumns(table: string): DueColumns {
  return {
    name: quoteIdentifier(table),
    list: COLUMNS.join(', '),
    key: expiryKey(SQLITE),
    indexed: SQLITE.digits('expiry_time', EXPIRY_DIGITS),
    id: SQLITE.binary('id'),
  }
}

/**
 * The name of one of the partial indexes tokenkeeper adds. It is not cut at 63 like the lookup
 * indexes' (SQLite has no such limit), so it never takes the table's own name.
 */
function indexName(table: string, what: string): string {
  // `table` passed quoteIdentifier: the suffix keeps it a plain identifier.
  return `"${table}_${what}_idx"`
}
