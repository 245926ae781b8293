import { InvalidArgumentError, refuseUnknownOptions } from './errors.js'
import { type TokenStore } from './store.js'
import { parseExpiry, tokenFromRow, type StoredRow } from './store/rows.js'
import type { OAuthToken } from './token.js'

/** Where a scan of due tokens goes on from: the last token of the previous page. */
export interface DueCursor {
  readonly expiryTime: number
  readonly id: string
}

/** What {@link DueScan.findDueTokens} is asked. */
export interface DueScanOptions {
  /** Tokens whose access token expires at or before this time (epoch ms) are due. */
  readonly before: number
  /** At most this many tokens (default {@link DEFAULT_DUE_LIMIT}). */
  readonly limit?: number | undefined
  /** Only tokens after this one in the scan's order (see {@link DueScan}). */
  readonly after?: DueCursor | undefined
}

/** How many due tokens one call returns unless told otherwise. */
export const DEFAULT_DUE_LIMIT = 500

/**
 * What a store offers when it can find the tokens that expire soon without reading every row:
 * an index on the expiry, so a pass of a background keeper costs in proportion to the tokens
 * that are due, not to all it holds.
 *
 * `findDueTokens` resolves to the stored tokens that have an id and an expiry at or before
 * `before`, ordered by expiry, then by id in code-point order, starting after `after`, at most
 * `limit` of them. A row without an expiry (or with one that is not a number) is never due.
 */
export interface DueScan {
  findDueTokens(options: DueScanOptions): Promise<OAuthToken[]>
}

/** Whether a store offers {@link DueScan}. */
export function supportsDueScan(store: TokenStore): store is TokenStore & DueScan {
  return typeof (store as Partial<DueScan>).findDueTokens === 'function'
}

/** Checks a scan's options, refusing what it does not understand, with defaults filled in. */
export function checkDueScanOptions(options: unknown): Required<Omit<DueScanOptions, 'after'>> & {
  after: DueCursor | undefined
} {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'findDueTokens takes { before, limit?, after? }')
  }
  refuseUnknownOptions('findDueTokens', options, ['before', 'limit', 'after'], 'options.')
  const { before, limit = DEFAULT_DUE_LIMIT, after } = options as DueScanOptions
  if (typeof before !== 'number' || !Number.isFinite(before)) {
    throw new InvalidArgumentError(
      'options.before',
      'options.before must be a finite time in epoch milliseconds, such as Date.now() + 300_000',
    )
  }
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError('options.limit', 'options.limit must be a positive integer')
  }
  if (after !== undefined) {
    const ok =
      typeof after === 'object' &&
      after !== null &&
      Number.isFinite(after.expiryTime) &&
      typeof after.id === 'string'
    if (!ok) {
      throw new InvalidArgumentError(
        'options.after',
        'options.after must be { expiryTime, id } of the last token of the previous page',
      )
    }
  }
  return { before, limit, after }
}

/** The order of a due scan: expiry, then id in code-point order. */
export function compareDue(a: DueCursor, b: DueCursor): number {
  if (a.expiryTime !== b.expiryTime) return a.expiryTime < b.expiryTime ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/**
 * The due scan over tokens a store already holds in memory (or reads in full): the one rule,
 * for stores without an index and for checking those with one.
 */
export function selectDue(tokens: Iterable<OAuthToken>, options: DueScanOptions): OAuthToken[] {
  const { before, limit, after } = checkDueScanOptions(options)
  const due: (OAuthToken & DueCursor)[] = []
  for (const token of tokens) {
    const { id, expiryTime } = token
    if (id === undefined || expiryTime === undefined || !Number.isFinite(expiryTime)) continue
    if (expiryTime > before) continue
    if (after && compareDue({ expiryTime, id }, after) <= 0) continue
    due.push(token as OAuthToken & DueCursor)
  }
  return due.sort(compareDue).slice(0, limit)
}

/**
 * {@link selectDue} over stored rows, for a store that scans what it holds: only the rows due
 * by `options.before` and after `options.after` become tokens, so a pass that finds few
 * converts few.
 */
export function selectDueRows(rows: Iterable<StoredRow>, options: DueScanOptions): OAuthToken[] {
  const { before, after } = checkDueScanOptions(options)
  const due: OAuthToken[] = []
  for (const row of rows) {
    const expiry = parseExpiry(row.expiry_time)
    if (expiry === undefined || expiry > before) continue
    // Rows up to the cursor are left as rows too (selectDue checks again on the tokens).
    if (after && compareDue({ expiryTime: expiry, id: row.id }, after) <= 0) continue
    due.push(tokenFromRow(row))
  }
  return selectDue(due, options)
}

/** The cursor after `token`, for the next page of a scan. */
export function dueCursor(token: OAuthToken): DueCursor {
  return { expiryTime: token.expiryTime!, id: token.id! }
}
