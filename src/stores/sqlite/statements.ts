import type BetterSqlite3 from 'better-sqlite3'
import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import { type LookupColumn } from '../../store/matching.js'
import { COLUMNS, rowHolds, type StoredRow } from '../../store/rows.js'
import { resolveSave, type RowLookups } from '../../store/save.js'
import type { OAuthToken } from '../../token.js'
import { SQLITE, numberedId, tableSql, winnerFirst } from '../sql/dialect.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { prepareHealth, type HealthStatements } from './health.js'
import { STORE, type Database } from './schema.js'

/** A look-up in raw mode: the values in COLUMNS order, with no object made per row. */
export type Statement = BetterSqlite3.Statement<unknown[], (string | null)[]>

/** The store's statements, prepared once per connection. */
export interface Statements {
  byId: Statement
  byColumn: Record<LookupColumn, Statement>
  all: Statement
  /** A page of rows by id: the first one, and the one after a given id (keyset paging). */
  firstPage: Statement
  pageAfter: Statement
  delete: BetterSqlite3.Statement<unknown[]>
  clear: BetterSqlite3.Statement<unknown[]>
  save: (token: OAuthToken) => StoredRow
  /** The save, in the same transaction as the check that row `token.id` holds `expected`. */
  saveIf: (token: OAuthToken, expected: OAuthToken) => boolean
  /** A statement built at run time (the due scan's few shapes), prepared once per text. */
  prepared: (text: string) => Statement
  /** The health column's and the budget table's, where the database has them. */
  health: HealthStatements
}

/** A row read in raw mode (values in COLUMNS order) as a row object. */
function tokenRow(values: (string | null)[]): StoredRow {
  return Object.fromEntries(COLUMNS.map((column, i) => [column, values[i] ?? null])) as StoredRow
}

export function prepareStatements(db: Database, table: string): Statements {
  const name = quoteIdentifier(table)
  const sql = tableSql(SQLITE, name)
  const select = (where: string): Statement =>
    db.prepare<unknown[], (string | null)[]>(`SELECT ${sql.list} FROM ${name} ${where}`).raw(true)
  const byColumn = Object.fromEntries(
    LOOKUP_COLUMNS.map((c) => [c, select(`WHERE ${c} = ? ${winnerFirst(SQLITE)} LIMIT 1`)]),
  ) as Record<LookupColumn, Statement>
  const byId = select('WHERE id = ?')
  const insert = db.prepare(sql.insert)
  const update = db.prepare(sql.update)
  // The condition as the partial index on numbered ids has it, so that the planner uses it.
  const largest = db
    .prepare<unknown[], number | null>(
      `SELECT max(CAST(id AS INTEGER)) FROM ${name} WHERE ${numberedId(SQLITE)}`,
    )
    .pluck(true)
  const lookups: RowLookups = {
    hasId: (id: string) => byId.get(id) !== undefined,
    get: (id: string) => {
      const values = byId.get(id)
      return values && tokenRow(values)
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
  const cache = new Map<string, Statement>()
  const prepared = (text: string): Statement => {
    let found = cache.get(text)
    if (!found) {
      found = db.prepare<unknown[], (string | null)[]>(text).raw(true)
      cache.set(text, found)
    }
    return found
  }
  return {
    prepared,
    health: prepareHealth(db, table),
    byId,
    byColumn,
    all: select('ORDER BY rowid'),
    firstPage: select('ORDER BY id LIMIT ?'),
    pageAfter: select('WHERE id > ? ORDER BY id LIMIT ?'),
    delete: db.prepare(sql.delete),
    clear: db.prepare(sql.clear),
    save: (token) => save.immediate(token),
    saveIf: (token, expected) => saveIf.immediate(token, expected),
  }
}
