import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import { type LookupColumn } from '../../store/matching.js'
import { COLUMNS } from '../../store/rows.js'
import { POSTGRES, numberedId, tableSql, winnerFirst } from '../sql/dialect.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { statement, type Statement } from './client.js'

/** The store's statements, prepared by name on each connection that runs them. */
export interface Statements {
  find: Record<LookupColumn, Statement>
  /** Many values at once (`$1`, an array), still through the md5 index. */
  findMany: Record<LookupColumn, Statement>
  byIds: Statement
  lockFind: Record<LookupColumn, Statement>
  byId: Statement
  /** The whole row, locked for the rest of the transaction. */
  lockRow: Statement
  all: Statement
  /** A page of rows by id: the first one, and the one after a given id (keyset paging). */
  firstPage: Statement
  pageAfter: Statement
  insert: Statement
  /** Its values: `updateValues`. */
  update: Statement
  delete: Statement
  clear: Statement
  /** The largest `numericIdValue` among the ids, through the partial index on them. */
  largest: Statement
}

export function prepareStatements(table: string): Statements {
  const name = quoteIdentifier(table)
  // Cast to text: the answers have one shape whatever the column types of a legacy table.
  const sql = tableSql(POSTGRES, name, COLUMNS.map((c) => `${c}::text AS ${c}`).join(', '))
  const columns = sql.list
  // The id is qualified: a bare one would name the output column (`id::text`).
  const order = winnerFirst(POSTGRES, `${name}.id`)
  // md5 of the value finds the row through the md5 index (values of any length fit it); the
  // second comparison makes a collision harmless.
  const where = (column: LookupColumn): string =>
    `WHERE md5(${column}) = md5($1::text) AND ${column} = $1::text ${order} LIMIT 1`
  const byColumn = (lock: boolean) =>
    Object.fromEntries(
      LOOKUP_COLUMNS.map((column) => [
        column,
        statement(`SELECT ${columns} FROM ${name} ${where(column)}${lock ? ' FOR UPDATE' : ''}`),
      ]),
    ) as Record<LookupColumn, Statement>
  const many = Object.fromEntries(
    LOOKUP_COLUMNS.map((column) => [
      column,
      statement(
        `SELECT ${columns} FROM ${name} WHERE md5(${column}) = ANY(ARRAY(SELECT md5(v) FROM unnest($1::text[]) v)) AND ${column} = ANY($1::text[]) ${order}`,
      ),
    ]),
  ) as Record<LookupColumn, Statement>
  return {
    find: byColumn(false),
    findMany: many,
    byIds: statement(`SELECT ${columns} FROM ${name} WHERE id = ANY($1::text[])`),
    lockFind: byColumn(true),
    byId: statement(`SELECT ${columns} FROM ${name} WHERE id = $1::text`),
    lockRow: statement(`SELECT ${columns} FROM ${name} WHERE id = $1::text FOR UPDATE`),
    all: statement(`SELECT ${columns} FROM ${name} ORDER BY id`),
    // Qualified: a bare `id` in ORDER BY would name the output column (`id::text`), not the
    // column whose primary key index gives the order.
    firstPage: statement(`SELECT ${columns} FROM ${name} ORDER BY ${name}.id LIMIT $1`),
    pageAfter: statement(
      `SELECT ${columns} FROM ${name} WHERE id > $1::text ORDER BY ${name}.id LIMIT $2`,
    ),
    insert: statement(sql.insert),
    update: statement(sql.update),
    delete: statement(`DELETE FROM ${name} WHERE id = $1::text`),
    clear: statement(sql.clear),
    // The condition as the partial index on numbered ids has it, so that the planner uses it.
    largest: statement(
      `SELECT max(id::bigint) AS largest FROM ${name} WHERE ${numberedId(POSTGRES)}`,
    ),
  }
}
