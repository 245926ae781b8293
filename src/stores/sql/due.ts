import { checkDueScanOptions, type DueScanOptions } from '../../due.js'
import type { Dialect } from './dialect.js'

/**
 * The expiries a SQL store's due scan finds: 1 to 15 ASCII digits, the epoch milliseconds every
 * SDK writes (13 digits until the year 2286). Every one is then an exact integer in JavaScript
 * and in SQL, so the index's order is the number's. Any other text is never due.
 */
export const EXPIRY_DIGITS = 15
const LARGEST = 10 ** EXPIRY_DIGITS - 1

/** How a store's table holds the expiry as a number, and its id in code-point order. */
export interface DueColumns {
  /** The quoted table. */
  readonly name: string
  /** The selected columns. */
  readonly list: string
  /** The expiry as an integer, as the index has it (an expression or a generated column). */
  readonly key: string
  /** The condition that the expiry is one the index holds, as the (partial) index has it. */
  readonly indexed: string
  /** The id in code-point order, as the index has it. */
  readonly id: string
}

/** The expiry as an integer where it is {@link EXPIRY_DIGITS} digits, else NULL, in SQL. */
export function expiryKey(d: Dialect, column = 'expiry_time'): string {
  return `CASE WHEN ${d.digits(column, EXPIRY_DIGITS)} THEN ${d.integer(column)} END`
}

/**
 * The query of `findDueTokens`: the rows whose expiry is at or before `before`, after the
 * cursor, in the scan's order (expiry, then id), at most `limit`; one range of the index on
 * (expiry, id). Resolves `undefined` when no row can be due (a time before any expiry, a cursor
 * past every one). The options are checked here (`checkDueScanOptions`).
 */
export function dueQuery(
  d: Dialect,
  columns: DueColumns,
  options: DueScanOptions,
): { text: string; values: (string | number)[] } | undefined {
  const { before, limit, after } = checkDueScanOptions(options)
  // Expiries are whole numbers from 0: a fractional bound is its floor, and bounds past the
  // largest are the largest, so that every value bound is an integer the index compares.
  const until = Math.min(Math.floor(before), LARGEST)
  if (until < 0) return undefined
  const { key, id } = columns
  const values: (string | number)[] = []
  // Each use binds its value anew: `?` parameters are positional.
  const bind = (value: string | number): string => {
    values.push(value)
    return d.param(values.length)
  }
  let where = `${columns.indexed} AND ${key} <= ${bind(until)}`
  if (after !== undefined && after.expiryTime >= 0) {
    if (after.expiryTime > LARGEST) return undefined
    const from = Math.floor(after.expiryTime)
    if (Number.isInteger(after.expiryTime)) {
      // The range starts at the cursor's expiry; of the rows with that expiry, those after its id.
      where += ` AND ${key} >= ${bind(from)} AND (${key} > ${bind(from)} OR ${id} > ${bind(after.id)})`
    } else {
      where += ` AND ${key} > ${bind(from)}`
    }
  }
  // MySQL refuses a prepared LIMIT bound as a double: the checked whole number is written in.
  const count = d.name === 'mysql' ? String(limit) : bind(Number(limit))
  return {
    text: `SELECT ${columns.list} FROM ${columns.name} WHERE ${where} ORDER BY ${key}, ${id} LIMIT ${count}`,
    values,
  }
}
