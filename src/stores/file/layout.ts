// How a token file lays out its columns: the header the official SDKs wrote, read and kept.
import { COLUMNS, type Column } from '../../store/rows.js'

/** How a file lays out its rows: kept as found, so that the SDK that wrote it still reads it. */
export interface Layout {
  /** The header names as written. */
  readonly header: readonly string[]
  /** Our column for each position. */
  readonly columns: readonly Column[]
  readonly eol: '\n' | '\r\n'
}

export const DEFAULT_LAYOUT: Layout = { header: COLUMNS, columns: COLUMNS, eol: '\n' }

/** How the header lays out the rows: `layout.columns.length` values a row. */
export interface Reading {
  readonly layout: Layout
  /** A 9-column file: its rows may lack the last value. */
  readonly upgrade: boolean
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

export function parseHeader(
  fields: string[],
  text: string,
  problem: (message: string) => Error,
): Reading {
  const columns: Column[] = []
  for (const name of fields) {
    const column = HEADER_NAMES[name.trim().toLowerCase()]
    if (column === undefined) {
      throw problem(
        `line 1: '${name.slice(0, 40)}' is not a column of a token file; ` +
          `expected the header ${COLUMNS.join(',')}`,
      )
    }
    if (columns.includes(column)) throw problem(`line 1: the header names ${column} twice`)
    columns.push(column)
  }
  if (columns[0] !== 'id') throw problem('line 1: the header must start with id')
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
  throw problem(`line 1: the header lacks ${missing.join(', ')}`)
}
