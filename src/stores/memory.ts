import { assertToken, type OAuthToken } from '../token.js'
import {
  assertId,
  assertLookupToken,
  lookupOf,
  resolveSave,
  tokenFromRow,
  type TokenStore,
} from '../store.js'
import { RowTable } from './table.js'

/**
 * Tokens in a map keyed by id, with an index on every lookup column: the reference's
 * dictionary store. Nothing survives the process; use it for tests and short-lived scripts.
 *
 * @example
 * const store = new MemoryStore()
 * await store.saveToken(new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'at' }))
 */
export class MemoryStore implements TokenStore {
  readonly #table = new RowTable()

  findToken(token: OAuthToken): Promise<OAuthToken | null> {
    return run(() => {
      assertLookupToken(token)
      const lookup = lookupOf(token)
      const row = lookup && this.#table.find(lookup)
      return row ? tokenFromRow(row) : null
    })
  }

  findTokenById(id: string): Promise<OAuthToken | null> {
    return run(() => {
      assertId(id)
      const row = this.#table.get(id)
      return row ? tokenFromRow(row) : null
    })
  }

  saveToken(token: OAuthToken): Promise<void> {
    return run(() => {
      assertToken(token)
      const { row } = resolveSave('MemoryStore', token, this.#table)
      this.#table.put(row)
      token.id = row.id
    })
  }

  deleteToken(id: string): Promise<void> {
    return run(() => {
      assertId(id)
      this.#table.delete(id)
    })
  }

  getTokens(): Promise<OAuthToken[]> {
    return run(() => Array.from(this.#table.rows(), tokenFromRow))
  }

  deleteTokens(): Promise<void> {
    return run(() => this.#table.clear())
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

/** Runs a synchronous store operation as a promise, so that a throw becomes a rejection. */
export function run<T>(operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation())
  } catch (err) {
    return Promise.reject(err as Error)
  }
}
