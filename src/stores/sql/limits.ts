import { TokenStoreError } from '../../errors.js'
import { COLUMNS, type Column, type StoredRow } from '../../store/rows.js'
import type { DialectName } from './dialect.js'

/** The columns of a table that hold at most so many characters (a legacy `varchar(255)`). */
export type ColumnLimits = ReadonlyMap<Column, number>

/** The length limits among a table's columns (name, lower case → limit or null). */
export function limitsOf(columns: ReadonlyMap<string, number | null>): ColumnLimits {
  const limits = new Map<Column, number>()
  for (const column of COLUMNS) {
    const limit = columns.get(column)
    if (typeof limit === 'number') limits.set(column, limit)
  }
  return limits
}

/**
 * Refuses a row with a value longer than its (legacy) column holds, naming the column: the
 * server would otherwise cut it (MySQL outside strict mode, PostgreSQL's trailing spaces) or
 * refuse it without saying which. `withId: false` leaves the id out (a new row's is not known
 * yet).
 */
export function checkLengths(
  store: string,
  dialect: DialectName,
  table: string,
  limits: ColumnLimits,
  row: StoredRow,
  withId = true,
): void {
  for (const [column, limit] of limits) {
    if (column === 'id' && !withId) continue
    const value = row[column]
    // A string's length in UTF-16 units is never less than its characters: most skip the count.
    if (value === null || value.length <= limit) continue
    const length = [...value].length
    if (length <= limit) continue
    const widen =
      dialect === 'postgres'
        ? `ALTER TABLE ${table} ALTER COLUMN ${column} TYPE text`
        : `ALTER TABLE ${table} MODIFY ${column} text`
    throw new TokenStoreError(
      store,
      'saveToken',
      `the ${column} value has ${length} characters, more than the ${limit} that column ` +
        `${column} of table ${table} holds; nothing was written (widen it: ${widen})`,
    )
  }
}
