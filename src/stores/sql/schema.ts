import { TokenStoreError } from '../../errors.js'
import { COLUMNS } from '../../store/rows.js'
import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import { DIALECTS, type DialectName } from './dialect.js'
import { quoteIdentifier } from './identifiers.js'

/**
 * The table tokenkeeper creates when it is missing, with the official SDKs' columns, so that a
 * database made by either keeps working with the other. SQLite's is the reference's, column for
 * column; the servers' hold values of any length (text) and compare ids by their bytes.
 */
export function createTableSql(dialect: DialectName, table: string): string {
  quoteIdentifier(table)
  const name = DIALECTS[dialect].quote(table)
  if (dialect === 'sqlite') {
    return (
      `CREATE TABLE ${name} (id varchar(10) NOT NULL, user_name varchar(255), ` +
      'client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), ' +
      'access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), ' +
      'redirect_url varchar(255), api_domain varchar(255), primary key (id))'
    )
  }
  const columns = COLUMNS.map((column) =>
    column === 'id'
      ? 'id varchar(10) NOT NULL PRIMARY KEY'
      : column === 'expiry_time'
        ? 'expiry_time varchar(20)'
        : `${column} text`,
  )
  const charset = dialect === 'mysql' ? ' CHARACTER SET utf8mb4 COLLATE utf8mb4_bin' : ''
  return `CREATE TABLE IF NOT EXISTS ${name} (${columns.join(', ')})${charset}`
}

/** The one column an older table may lack, as `ADD COLUMN` declares it. */
export const apiDomainColumn = (dialect: DialectName): string =>
  dialect === 'postgres' ? 'api_domain text' : 'api_domain varchar(255)'

/** Adds that column to an older table, in place. */
export function addApiDomainSql(dialect: DialectName, table: string): string {
  const exists = dialect === 'postgres' ? 'IF NOT EXISTS ' : ''
  return `ALTER TABLE ${DIALECTS[dialect].quote(table)} ADD COLUMN ${exists}${apiDomainColumn(dialect)}`
}

/**
 * Checks the columns an existing table has (lower-cased names): every official column but
 * `api_domain` must be there (a table of something else is never changed); resolves whether
 * `api_domain` must be added.
 */
export function lacksApiDomain(
  store: string,
  table: string,
  present: ReadonlySet<string>,
): boolean {
  const missing = COLUMNS.filter((column) => !present.has(column))
  if (missing.some((column) => column !== 'api_domain')) {
    throw new TokenStoreError(
      store,
      'open',
      `table ${table} lacks the columns ${missing.join(', ')}`,
    )
  }
  return missing.length > 0
}

/**
 * SQLite's indexes on the lookup columns, unique on the user name. Where a legacy table already
 * holds a user twice, `fallbackSql` makes a plain index instead.
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
