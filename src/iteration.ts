import { InvalidArgumentError, refuseUnknownOptions } from './errors.js'
import { type TokenStore } from './store.js'
import { tokenFromRow, type TokenRow } from './store/rows.js'
import type { OAuthToken } from './token.js'

/** Options of {@link TokenIteration.iterateTokens}. */
export interface IterateOptions {
  /** Tokens read from the backend at a time; default 500. Memory of a pass is about one page. */
  readonly pageSize?: number
}

/**
 * What a store offers when it can hand out its tokens a page at a time, so that a pass over a
 * store of any size holds one page in memory: SQL stores page by id (keyset), Redis by the
 * rows' insertion order, the file store over the rows it already serves. Every token stored
 * throughout the pass is given exactly once; a token saved or deleted during the pass may or may
 * not be. Check a store with `tokenStoreConformance`.
 */
export interface TokenIteration {
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken>
}

/** Whether a store offers {@link TokenIteration}. */
export function supportsIteration(store: TokenStore): store is TokenStore & TokenIteration {
  return typeof (store as Partial<TokenIteration>).iterateTokens === 'function'
}

/** The default page of {@link IterateOptions.pageSize}. */
export const DEFAULT_PAGE_SIZE = 500

/** Checks the options of `iterateTokens`; gives the page size. */
export function pageSizeOf(options: unknown): number {
  if (options === undefined) return DEFAULT_PAGE_SIZE
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'iterateTokens options must be an object')
  }
  refuseUnknownOptions('iterateTokens', options, ['pageSize'], 'options.')
  const { pageSize = DEFAULT_PAGE_SIZE } = options as IterateOptions
  if (!(Number.isSafeInteger(pageSize) && pageSize >= 1 && pageSize <= 100_000)) {
    throw new InvalidArgumentError(
      'options.pageSize',
      'iterateTokens pageSize must be a whole number from 1 to 100000',
    )
  }
  return pageSize
}

/** Options of {@link eachToken}. */
export interface EachTokenOptions extends IterateOptions {
  /** Called after each page with the number of tokens given so far: progress of long passes. */
  readonly onProgress?: (seen: number) => void
}

/**
 * Every token of any store, for a pass over all of them (the CLI's list, migrate, purge and
 * rekey, the policies): a page at a time where the store offers {@link TokenIteration}, else
 * `getTokens()` (a custom store with the six methods only).
 */
export async function* eachToken(
  store: TokenStore,
  options: EachTokenOptions = {},
): AsyncGenerator<OAuthToken> {
  const { onProgress, ...iterate } = options
  const pageSize = pageSizeOf(iterate)
  const source: AsyncIterable<OAuthToken> | OAuthToken[] = supportsIteration(store)
    ? store.iterateTokens({ pageSize })
    : await store.getTokens()
  let seen = 0
  for await (const token of source) {
    yield token
    seen += 1
    if (onProgress && seen % pageSize === 0) onProgress(seen)
  }
  onProgress?.(seen)
}

/**
 * {@link TokenIteration} over rows a store already holds in memory (the memory and file stores,
 * the list store): each token is made as it is given, and the event loop gets a turn after each
 * page, so a long pass does not hold up the store's other callers.
 */
export async function* tokensOfRows(
  rows: Iterable<TokenRow>,
  options: IterateOptions | undefined,
): AsyncGenerator<OAuthToken> {
  const pageSize = pageSizeOf(options)
  let inPage = 0
  for (const row of rows) {
    yield tokenFromRow(row)
    inPage += 1
    if (inPage === pageSize) {
      inPage = 0
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
}

/**
 * Keyset paging, the one place it is written: reads `readPage(after, pageSize)` (the rows whose
 * key sorts after `after`, in key order; `undefined` for the first page) until a page comes back
 * short. Each token is made as it is given, so the sealed-row guard runs in the context of the
 * caller's step; the event loop gets a turn between pages, so a long pass does not hold up the
 * store's other callers. Used by the SQL stores, keyed on the primary key.
 */
export async function* keysetPages<R>(
  pageSize: number,
  readPage: (after: string | undefined, pageSize: number) => R[] | Promise<R[]>,
  keyOf: (row: R) => string,
  tokenOf: (row: R) => OAuthToken,
): AsyncGenerator<OAuthToken> {
  let after: string | undefined
  for (;;) {
    const rows = await readPage(after, pageSize)
    for (const row of rows) yield tokenOf(row)
    if (rows.length < pageSize) return
    after = keyOf(rows[rows.length - 1]!)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
