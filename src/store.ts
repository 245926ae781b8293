import { InvalidArgumentError, TokenStoreError } from './errors.js'
import { finishRow, refuseOverwrite, refuseSealed, sealedRowsAllowed } from './sealed.js'
import { OAuthToken, UserSignature, assertToken, trustedToken, typeName } from './token.js'

/**
 * Where tokens live: the six methods of the official SDKs' `TokenStore`, in TypeScript.
 * Implement it for a custom backend and check it with `tokenStoreConformance` from
 * `tokenkeeper/testing`.
 *
 * @example
 * const store: TokenStore = new FileStore('./sdk_tokens.txt')
 * const found = await store.findToken(new OAuthToken({ userSignature: new UserSignature('ada@example.com') }))
 */
export interface TokenStore {
  /** The stored token that `token` identifies (see {@link lookupOf}), as a new object, or `null`. */
  findToken(token: OAuthToken): Promise<OAuthToken | null>
  /** The stored token with this id, or `null`. */
  findTokenById(id: string): Promise<OAuthToken | null>
  /** Inserts or updates (see {@link planSave}); sets the new id on `token` after an insert. */
  saveToken(token: OAuthToken): Promise<void>
  /** Deletes the token with this id; an unknown id is not an error. */
  deleteToken(id: string): Promise<void>
  /** Every stored token. */
  getTokens(): Promise<OAuthToken[]>
  /** Deletes every token. */
  deleteTokens(): Promise<void>
  /** Releases connections and file handles. */
  close?(): Promise<void>
}

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

/** The columns a token can be found by, in order of precedence. */
export type LookupColumn = 'user_name' | 'access_token' | 'grant_token' | 'refresh_token'

/** What identifies a token in a store: one column and its value. */
export interface Lookup {
  readonly column: LookupColumn
  readonly value: string
}

// A token's fields may hold null, set after it was made: assertToken takes null as absent (as
// JavaScript callers and the official SDKs pass it), so every rule here does too.
function present(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.length > 0
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

function text(value: string | null | undefined): string | null {
  return present(value) ? value : null
}

function field(value: string | null): string | undefined {
  return value === null || value.length === 0 ? undefined : value
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

/** What a store knows about the rows a save touches, gathered before {@link planSave}. */
export interface SaveFacts {
  /** With `token.id`: whether a row has that id. */
  readonly idExists: boolean
  /** Without `token.id`: the id of the row that {@link lookupOf} matches, if any. */
  readonly matchedId: string | undefined
  /** The id of the row that holds the token's user name, if any. */
  readonly userOwnerId: string | undefined
}

/** The outcome of {@link planSave}: which row to write, and whether it is new. */
export interface SavePlan {
  /** The row's id; `undefined` means "insert under a new id". */
  readonly id: string | undefined
  readonly insert: boolean
}

/**
 * The upsert rule, the one place it is written: a token with an id replaces that row (or is
 * inserted under it); otherwise the row that {@link lookupOf} matches is updated; otherwise a
 * new row is inserted. A user name is never stored in two rows.
 */
export function planSave(store: string, token: OAuthToken, facts: SaveFacts): SavePlan {
  const plan: SavePlan =
    token.id !== undefined
      ? { id: token.id, insert: !facts.idExists }
      : facts.matchedId !== undefined
        ? { id: facts.matchedId, insert: false }
        : { id: undefined, insert: true }
  if (facts.userOwnerId !== undefined && facts.userOwnerId !== plan.id) {
    throw new TokenStoreError(
      store,
      'saveToken',
      `the user name of this token is already stored under id ${facts.userOwnerId}; ` +
        'save it with that id, or delete that token first',
    )
  }
  return plan
}

/** A store's lookups, for {@link resolveSave}, when they can be answered at once. */
export interface RowLookups {
  hasId(id: string): boolean
  findId(lookup: Lookup): string | undefined
  /** The largest {@link numericIdValue} among the stored ids, for {@link nextTokenId}. */
  largestNumericId(): number | undefined
  /** The row with this id; when given, a store without keys never replaces a sealed row. */
  get?(id: string): TokenRow | undefined
}

/**
 * Gathers the facts, plans the save, and builds the row, for stores whose lookups answer at
 * once (in memory, or a synchronous driver inside a transaction).
 */
export function resolveSave(
  store: string,
  token: OAuthToken,
  rows: RowLookups,
): { row: StoredRow; insert: boolean } {
  const lookup = lookupOf(token)
  const name = token.userSignature?.name
  // Asked in the order, and as often, as resolveSaveAsync asks them: the name once.
  const byName = present(name) ? rows.findId({ column: 'user_name', value: name }) : undefined
  const plan = planSave(store, token, {
    idExists: token.id !== undefined && rows.hasId(token.id),
    matchedId:
      token.id === undefined && lookup
        ? lookup.column === 'user_name'
          ? byName
          : rows.findId(lookup)
        : undefined,
    userOwnerId: byName,
  })
  // An update always has the id of its row (see planSave).
  if (!plan.insert && rows.get && !sealedRowsAllowed()) {
    refuseOverwrite(plan.id!, rows.get(plan.id!))
  }
  const id = plan.id ?? nextTokenId(store, rows.largestNumericId())
  return { row: rowToWrite(token, id), insert: plan.insert }
}

/** A store's lookups, for {@link resolveSaveAsync}, when they go to a server. */
export interface AsyncRowLookups {
  hasId(id: string): Promise<boolean>
  findId(lookup: Lookup): Promise<string | undefined>
  /**
   * The largest {@link numericIdValue} among the stored ids, for {@link nextTokenId}; asked only
   * for an insert under a new id. Read it so that concurrent savers of this store are serialized
   * (a lock held to the commit), or let the primary key refuse the second and save again.
   */
  largestNumericId(): Promise<number | undefined>
  /** The row with this id; when given, a store without keys never replaces a sealed row. */
  get?(id: string): Promise<TokenRow | undefined>
}

/**
 * {@link resolveSave} for stores whose lookups go to a server: run it inside the store's
 * transaction (see {@link AsyncRowLookups.largestNumericId} for how new ids stay distinct).
 */
export async function resolveSaveAsync(
  store: string,
  token: OAuthToken,
  rows: AsyncRowLookups,
): Promise<{ row: StoredRow; insert: boolean }> {
  const lookup = lookupOf(token)
  const name = token.userSignature?.name
  const byName = present(name) ? rows.findId({ column: 'user_name', value: name }) : undefined
  // A token found by its user name needs that look-up once, not twice.
  const [idExists, matchedId, userOwnerId] = await Promise.all([
    token.id !== undefined && rows.hasId(token.id),
    token.id === undefined && lookup
      ? lookup.column === 'user_name'
        ? byName
        : rows.findId(lookup)
      : undefined,
    byName,
  ])
  const plan = planSave(store, token, { idExists, matchedId, userOwnerId })
  // An update always has the id of its row (see planSave).
  if (!plan.insert && rows.get && !sealedRowsAllowed()) {
    refuseOverwrite(plan.id!, await rows.get(plan.id!))
  }
  const id = plan.id ?? nextTokenId(store, await rows.largestNumericId())
  return { row: rowToWrite(token, id), insert: plan.insert }
}

/**
 * A lease on one token, held until released. Stores renew it while it is held; `renew()`
 * confirms the lease is still this holder's (and extends it), and rejects with a
 * `TokenStoreError` (operation `'lock'`) when it was lost, e.g. after the process was paused
 * past the lease. Custom stores may leave `renew` out.
 */
export interface TokenLock {
  /** Gives the lease up (only while it is still this holder's); a second call does nothing. */
  release(): Promise<void>
  /** Confirms the lease is still this holder's and extends it; rejects once it was lost. */
  renew?(): Promise<void>
}

/** How `lockToken` waits and holds. */
export interface LockOptions {
  /** Give up waiting after this long (ms); default 10000. */
  timeoutMs?: number
  /**
   * Renew the lease on a timer while it is held (default `true`). With `false` the lease lasts
   * its length unless the holder calls `renew()`: a holder that stops making progress loses it.
   */
  autoRenew?: boolean
}

/**
 * What a store offers beyond the six methods when it can coordinate refreshes: a lease on one
 * token that other processes (and, for server stores, other machines) respect. The session
 * takes it around a refresh and reads the token again inside it. A holder that crashed never
 * blocks the others longer than the store's lease; a lease not had within `timeoutMs` is a
 * `TokenStoreError` with operation `'lock'`. Check a store with `tokenLockingConformance` from
 * `tokenkeeper/testing`.
 */
export interface TokenLocking {
  lockToken(id: string, options?: LockOptions): Promise<TokenLock>
}

/**
 * What a store offers when it can save conditionally: the fencing check of a refresh. The row
 * `token.id` is replaced only while it still holds `expected`'s access token, refresh token
 * and expiry (as stored, compared exactly); otherwise nothing is written and it resolves
 * `false` (also when the row is gone). A holder that lost its lease therefore never saves over
 * a newer token.
 */
export interface ConditionalSave {
  saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean>
}

/** Checks the arguments of `saveTokenIf`: two tokens, the first with the id of its row. */
export function assertConditionalSave(
  token: unknown,
  expected: unknown,
): asserts token is OAuthToken {
  assertToken(token)
  assertToken(expected, 'expected')
  if (token.id === undefined || token.id.length === 0) {
    throw new InvalidArgumentError(
      'token.id',
      'saveTokenIf replaces one stored row: the token needs the id of that row',
    )
  }
}

/** Whether a store offers {@link ConditionalSave}. */
export function supportsConditionalSave(store: TokenStore): store is TokenStore & ConditionalSave {
  return typeof (store as Partial<ConditionalSave>).saveTokenIf === 'function'
}

/** Whether a stored row still holds the values a conditional save expects (the one rule). */
export function rowHolds(row: TokenRow, expected: OAuthToken): boolean {
  return (
    row.access_token === text(expected.accessToken) &&
    row.refresh_token === text(expected.refreshToken) &&
    parseExpiry(row.expiry_time) === (expected.expiryTime ?? undefined)
  )
}

/**
 * What a store offers when it can drop the old versions of rows it still keeps in its files
 * (SQLite: free pages and the write-ahead log): `rekey()` calls it at the end, so that values
 * written in the clear or under an old key are gone from the disk, not only from the table.
 * Resolves `false` when the store could not finish (another connection kept the log in use).
 */
export interface Compaction {
  compact(): Promise<boolean>
}

/** Whether a store offers {@link Compaction}. */
export function supportsCompaction(store: TokenStore): store is TokenStore & Compaction {
  return typeof (store as Partial<Compaction>).compact === 'function'
}

/** Whether a store offers {@link TokenLocking}. */
export function supportsLocking(store: TokenStore): store is TokenStore & TokenLocking {
  return typeof (store as Partial<TokenLocking>).lockToken === 'function'
}

/** The largest id tokenkeeper gives: ten digits, the official `varchar(10)` id column. */
export const MAX_TOKEN_ID = 9_999_999_999

/** The ids tokenkeeper gives: digits, no leading zero, at most ten (see {@link nextTokenId}). */
export const TOKEN_ID_PATTERN = /^[1-9][0-9]{0,9}$/

/** Whether an id has the form of the ids tokenkeeper gives (see {@link TOKEN_ID_PATTERN}). */
export function isCanonicalId(id: string): boolean {
  return TOKEN_ID_PATTERN.test(id)
}

const NUMERIC_ID = /^[0-9]{1,10}$/

/**
 * An id's place in the numbering: its value when it is one to ten digits (leading zeros
 * allowed, as the official SDKs' `int()` and `parseInt` read them), otherwise `undefined`: ids
 * with letters, signs or spaces, and longer ones, are not numbered and never block a new id.
 */
export function numericIdValue(id: string): number | undefined {
  return NUMERIC_ID.test(id) ? Number(id) : undefined
}

/** The largest {@link numericIdValue} among `ids`, or `undefined` when none is numeric. */
export function largestNumericId(ids: Iterable<string | null>): number | undefined {
  let largest: number | undefined
  for (const id of ids) {
    const value = id === null ? undefined : numericIdValue(id)
    if (value !== undefined) largest = Math.max(value, largest ?? value)
  }
  return largest
}

/**
 * The numbering rule, the one place it is written: a new row's id is the next integer after
 * the largest {@link numericIdValue} in the store (`1` in a store without one), as text. The
 * official SDKs number their rows the same way (`int(max(id)) + 1`), so they keep adding rows
 * beside tokenkeeper's, and every official SDK reads the id as the number it is. A store gives
 * `largest` from its own I/O and allocates under its write lock or transaction, so that two
 * concurrent savers never take one id. Past {@link MAX_TOKEN_ID} it is a TokenStoreError.
 */
export function nextTokenId(store: string, largest: number | undefined): string {
  const next = (largest ?? 0) + 1
  if (next > MAX_TOKEN_ID) {
    throw new TokenStoreError(
      store,
      'saveToken',
      `no new id is left after id ${largest}: ids stop at ${MAX_TOKEN_ID}, the largest that ` +
        'fits the official ten-character id column; delete that token and save it again without ' +
        'an id, so that it takes the next free number',
    )
  }
  return String(next)
}

/**
 * The row a store writes for `token` under `id`: the one place a row to write is built, so
 * that the encryption wrapper can seal it for the id the store chose (see `finishRow`).
 */
export function rowToWrite(token: OAuthToken, id: string): StoredRow {
  return rowFromToken(finishRow(token, id), id)
}

/** Checks a token id argument. */
export function assertId(id: unknown, argument = 'id'): asserts id is string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be a non-empty string, got ${typeof id === 'string' ? 'an empty string' : typeName(id)}`,
    )
  }
}

/** Checks the argument of `findToken`. */
export function assertLookupToken(token: unknown): asserts token is OAuthToken {
  if (!(token instanceof OAuthToken)) {
    throw new InvalidArgumentError('token', `token must be an OAuthToken, got ${typeName(token)}`)
  }
}
