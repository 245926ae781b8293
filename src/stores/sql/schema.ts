import type { LookupColumn } from '../../store.js'
import { quoteIdentifier } from './identifiers.js'

/** The SQL dialects tokenkeeper writes. */
export type Dialect = 'sqlite'

/**
 * The table the official SDKs and the reference create, column for column, so that a
 * database made by either keeps working with tokenkeeper and the other way round.
 */
export function createTableSql(_dialect: Dialect, table: string): string {
  return (
    `CREATE TABLE ${quoteIdentifier(table)} (id varchar(10) NOT NULL, user_name varchar(255), ` +
    'client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), ' +
    'access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), ' +
    'redirect_url varchar(255), api_domain varchar(255), primary key (id))'
  )
}

const LOOKUP_COLUMNS: readonly LookupColumn[] = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
]

/**
 * The indexes tokenkeeper adds: one on every lookup column, unique on the user name. Where a
 * legacy table already holds a user twice, `fallbackSql` makes a plain index instead.
 */
export function lookupIndexes(table: string): { sql: string; fallbackSql?: string }[] {
  const name = quoteIdentifier(table)
  return LOOKUP_COLUMNS.map((column) => {
    const index = quoteIdentifier(`${table}_${column}_idx`.slice(0, 63), 'table')
    const plain = `CREATE INDEX IF NOT EXISTS ${index} ON ${name} (${column})`
    return column === 'user_name'
      ? {
          sql: `CREATE UNIQUE INDEX IF NOT EXISTS ${index} ON ${name} (${column})`,
          fallbackSql: plain,
        }
      : { sql: plain }
  })
}
