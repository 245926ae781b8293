import { TokenStoreError } from '../errors.js'

// The numbering rule: which ids tokenkeeper gives, which stored ids count as numbered, and the
// next one.

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
