import { InvalidArgumentError } from './errors.js'
import { OAuthToken, assertToken, typeName } from './token.js'

// The TokenStore interface, what a store may offer beyond it (detected, not assumed), and the
// checks of its methods' arguments. The rules every store keeps are in src/store/.

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
  /** The stored token that `token` identifies (see {@link index!lookupOf}), as a new object, or `null`. */
  findToken(token: OAuthToken): Promise<OAuthToken | null>
  /** The stored token with this id, or `null`. */
  findTokenById(id: string): Promise<OAuthToken | null>
  /** Inserts or updates (see {@link index!planSave}); sets the new id on `token` after an insert. */
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

/** Whether a store offers {@link ConditionalSave}. */
export function supportsConditionalSave(store: TokenStore): store is TokenStore & ConditionalSave {
  return typeof (store as Partial<ConditionalSave>).saveTokenIf === 'function'
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
