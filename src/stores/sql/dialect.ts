import { MAX_TOKEN_ID } from '../../store/ids.js'
import { COLUMNS, type Column, type StoredRow } from '../../store/rows.js'

/** The SQL dialects tokenkeeper writes. */
export type DialectName = 'sqlite' | 'mysql' | 'postgres'

/**
 * How one SQL dialect writes what the three SQL stores share: the same rules (which ids are
 * numbered, which row wins, an expiry as a number) in each dialect's words.
 */
export interface Dialect {
  readonly name: DialectName
  /** Quotes a name that passed quoteIdentifier. */
  quote(name: string): string
  /** The `n`-th parameter (from 1) of a statement, standing for `column` where it names one. */
  param(n: number, column?: Column): string
  /** Whether `expr` is 1 to `max` ASCII digits (no sign, no space, no NUL). */
  digits(expr: string, max: number): string
  /** The value of `expr`, known to be digits, as an integer. */
  integer(expr: string): string
  /** `expr` (an id) in code-point order, whatever the column's declared collation. */
  binary(expr: string): string
}

export const SQLITE: Dialect = {
  name: 'sqlite',
  quote: (name) => `"${name}"`,
  param: (_n, column) => (column === undefined ? '?' : `@${column}`),
  // `length` and GLOB stop at a NUL character; the byte length keeps out a text with one.
  digits: (x, max) =>
    `length(${x}) BETWEEN 1 AND ${max} AND length(CAST(${x} AS BLOB)) = length(${x}) AND NOT ${x} GLOB '*[^0-9]*'`,
  integer: (x) => `CAST(${x} AS INTEGER)`,
  binary: (x) => `${x} COLLATE BINARY`,
}

export const MYSQL: Dialect = {
  name: 'mysql',
  quote: (name) => `\`${name}\``,
  param: () => '?',
  // No `$` in a pattern: it would let '12\n' through.
  digits: (x, max) => `CHAR_LENGTH(${x}) BETWEEN 1 AND ${max} AND ${x} NOT REGEXP '[^0-9]'`,
  integer: (x) => `CAST(${x} AS UNSIGNED)`,
  binary: (x) => `CAST(${x} AS BINARY)`,
}

export const POSTGRES: Dialect = {
  name: 'postgres',
  quote: (name) => `"${name}"`,
  param: (n) => `$${n}`,
  // In PostgreSQL's patterns `$` is the end of the text, never before a final newline.
  digits: (x, max) => `${x} ~ '^[0-9]{1,${max}}$'`,
  integer: (x) => `${x}::bigint`,
  binary: (x) => `${x}::text COLLATE "C"`,
}

/** The ids `numericIdValue` numbers (one to ten ASCII digits), as SQL. */
export const numberedId = (d: Dialect, id = 'id'): string => d.digits(id, 10)

/**
 * `compareRowIds` in SQL, for the few rows that share a looked-up value (found through an index,
 * then sorted): numbered ids by value, the others after them (their rank is past the largest
 * ten-digit value), ties by the id's bytes. `rank` is the numbered id's value or NULL.
 */
export function winnerFirst(d: Dialect, id = 'id', rank?: string): string {
  const value = rank ?? `CASE WHEN ${numberedId(d, id)} THEN ${d.integer(id)} END`
  return `ORDER BY COALESCE(${value}, ${MAX_TOKEN_ID + 1}), ${d.binary(id)}`
}

/** The statements every SQL store runs on its table, in the dialect's words. */
export interface TableSql {
  /** The columns, in COLUMNS order, as the store selects them. */
  readonly list: string
  readonly insert: string
  /** Its values: {@link updateValues}. */
  readonly update: string
  readonly byId: string
  readonly delete: string
  readonly clear: string
}

/**
 * The table's statements. `name` is the quoted table; `list` the selected columns (default:
 * COLUMNS as they are).
 */
export function tableSql(d: Dialect, name: string, list = COLUMNS.join(', ')): TableSql {
  const p = (n: number, c?: Column): string => d.param(n, c)
  return {
    list,
    insert: `INSERT INTO ${name} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c, i) => p(i + 1, c)).join(', ')})`,
    update:
      `UPDATE ${name} SET ${COLUMNS.slice(1)
        .map((c, i) => `${c} = ${p(i + 1, c)}`)
        .join(', ')} ` + `WHERE id = ${p(COLUMNS.length, 'id')}`,
    byId: `SELECT ${list} FROM ${name} WHERE id = ${p(1)}`,
    delete: `DELETE FROM ${name} WHERE id = ${p(1)}`,
    clear: `DELETE FROM ${name}`,
  }
}

/** The values of `tableSql().insert`, by position. */
export const insertValues = (row: StoredRow): (string | null)[] => COLUMNS.map((c) => row[c])

/** The values of `tableSql().update`, by position: every column but the id, then the id. */
export const updateValues = (row: StoredRow): (string | null)[] => [
  ...COLUMNS.slice(1).map((c) => row[c]),
  row.id,
]

/** The dialect of each name. */
export const DIALECTS: Record<DialectName, Dialect> = {
  sqlite: SQLITE,
  mysql: MYSQL,
  postgres: POSTGRES,
}
