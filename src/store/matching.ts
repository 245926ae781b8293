import type { OAuthToken } from '../token.js'
import { numericIdValue } from './ids.js'
import { present, type TokenRow } from './rows.js'

// Which row a token names (the matching rule), and which row wins when several hold that value.

/** The columns a token can be found by, in order of precedence. */
export type LookupColumn = 'user_name' | 'access_token' | 'grant_token' | 'refresh_token'

/** What identifies a token in a store: one column and its value. */
export interface Lookup {
  readonly column: LookupColumn
  readonly value: string
}

/**
 * The matching rule, the one place it is written: a token is identified by the first of
 * these it has: its user name; else its access token when it has neither client id nor client
 * secret; else its grant token; else its refresh token. `undefined` when it has none of them.
 */
export function lookupOf(token: OAuthToken): Lookup | undefined {
  const name = token.userSignature?.name
  if (present(name)) return { column: 'user_name', value: name }
  if (
    present(token.accessToken) &&
    // No client id and no client secret (null or undefined).
    token.clientId == null &&
    token.clientSecret == null
  ) {
    return { column: 'access_token', value: token.accessToken }
  }
  if (present(token.grantToken)) return { column: 'grant_token', value: token.grantToken }
  if (present(token.refreshToken)) return { column: 'refresh_token', value: token.refreshToken }
  return undefined
}

/** Whether a stored row is the one a lookup names. */
export function rowMatches(row: TokenRow, lookup: Lookup): boolean {
  return row[lookup.column] === lookup.value
}

/**
 * Which row wins, the one place it is written: when several rows hold the value a lookup names
 * (rows the official SDKs or a hand edit left behind), the oldest wins: the smallest
 * {@link numericIdValue}, numbered rows before the others, which follow in Unicode code point order of id (the order
 * of their UTF-8 bytes, which SQL's binary collations and Redis compare).
 * `findToken` returns that row and a save without an id updates it, in every store. Negative
 * when `a` wins over `b`.
 */
export function compareRowIds(a: string, b: string): number {
  const x = numericIdValue(a)
  const y = numericIdValue(b)
  if (x !== undefined && y !== undefined && x !== y) return x - y
  if (x !== undefined && y === undefined) return -1
  if (x === undefined && y !== undefined) return 1
  // Equal values ("7" and "007") and ids that are not numbered: by their text.
  return byCodePoint(a, b)
}

/** Code point order: UTF-16's `<` differs from it where a surrogate pair meets U+E000-U+FFFF. */
function byCodePoint(a: string, b: string): number {
  let i = 0
  for (;;) {
    const x = a.codePointAt(i)
    const y = b.codePointAt(i)
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1
    if (x !== y) return x - y
    i += x > 0xffff ? 2 : 1
  }
}

/** The row that wins among `rows` by {@link compareRowIds}, or `undefined` when there is none. */
export function winningRow<R extends { readonly id: string | null }>(
  rows: Iterable<R>,
): R | undefined {
  let best: R | undefined
  for (const row of rows) {
    if (row.id === null) continue
    if (best === undefined || compareRowIds(row.id, best.id!) < 0) best = row
  }
  return best
}
