import { finishRow, refuseSealed } from '../sealed.js'
import { UserSignature, trustedToken, type OAuthToken } from '../token.js'

// Rows as the official files and tables hold them, and the one mapping between a row and a token.

/** The official SDKs' column names, in their file and table order. */
export const COLUMNS = [
  'id',
  'user_name',
  'client_id',
  'client_secret',
  'refresh_token',
  'access_token',
  'grant_token',
  'expiry_time',
  'redirect_url',
  'api_domain',
] as const

export type Column = (typeof COLUMNS)[number]

/** A stored token as the official files and tables hold it: every value text or null. */
export type TokenRow = { [C in Column]: string | null }

/** A row that has its id. */
export type StoredRow = TokenRow & { id: string }

/**
 * Whether a token's field holds a value. A field may hold null, set after the token was made:
 * assertToken takes null as absent (as JavaScript callers and the official SDKs pass it), so
 * every store rule does too.
 */
export function present(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.length > 0
}

function text(value: string | null | undefined): string | null {
  return present(value) ? value : null
}

function field(value: string | null): string | undefined {
  return value === null || value.length === 0 ? undefined : value
}

/** Converts a token to its row. Empty strings are stored as absent, as the official SDKs do. */
export function rowFromToken(token: OAuthToken, id: string): StoredRow {
  return {
    id,
    user_name: text(token.userSignature?.name),
    client_id: text(token.clientId),
    client_secret: text(token.clientSecret),
    refresh_token: text(token.refreshToken),
    access_token: text(token.accessToken),
    grant_token: text(token.grantToken),
    expiry_time: typeof token.expiryTime === 'number' ? String(token.expiryTime) : null,
    redirect_url: text(token.redirectUrl),
    api_domain: text(token.apiDomain),
  }
}

/** Parses the `expiry_time` column: epoch milliseconds as text; anything else is no expiry. */
export function parseExpiry(value: string | null): number | undefined {
  if (value === null || value.trim().length === 0) return undefined
  const parsed = Number(value)
  return Number.isFinite(parsed) ? parsed : undefined
}

/**
 * Converts a stored row to a new token. A row that holds sealed values is an EncryptionError
 * unless the encryption wrapper reads it (see `refuseSealed`).
 */
export function tokenFromRow(row: TokenRow): OAuthToken {
  const name = field(row.user_name)
  const token = trustedToken({
    id: field(row.id),
    userSignature: name === undefined ? undefined : new UserSignature(name),
    clientId: field(row.client_id),
    clientSecret: field(row.client_secret),
    refreshToken: field(row.refresh_token),
    accessToken: field(row.access_token),
    grantToken: field(row.grant_token),
    expiryTime: parseExpiry(row.expiry_time),
    redirectUrl: field(row.redirect_url),
    apiDomain: field(row.api_domain),
  })
  return refuseSealed(token)
}

/**
 * Converts a row's values, in {@link COLUMNS} order (as a driver's raw mode gives them), to a
 * new token, with the guard of {@link tokenFromRow}.
 */
export function tokenFromValues(values: readonly (string | null)[]): OAuthToken {
  const value = (i: number): string | undefined => field(values[i] ?? null)
  const name = value(1)
  const token = trustedToken({
    id: value(0),
    userSignature: name === undefined ? undefined : new UserSignature(name),
    clientId: value(2),
    clientSecret: value(3),
    refreshToken: value(4),
    accessToken: value(5),
    grantToken: value(6),
    expiryTime: parseExpiry(values[7] ?? null),
    redirectUrl: value(8),
    apiDomain: value(9),
  })
  return refuseSealed(token)
}

/**
 * The row a store writes for `token` under `id`: the one place a row to write is built, so
 * that the encryption wrapper can seal it for the id the store chose (see `finishRow`).
 */
export function rowToWrite(token: OAuthToken, id: string): StoredRow {
  return rowFromToken(finishRow(token, id), id)
}

/** Whether a stored row still holds the values a conditional save expects (the one rule). */
export function rowHolds(row: TokenRow, expected: OAuthToken): boolean {
  return (
    row.access_token === text(expected.accessToken) &&
    row.refresh_token === text(expected.refreshToken) &&
    parseExpiry(row.expiry_time) === (expected.expiryTime ?? undefined)
  )
}
