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

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    const row = lookup && this.#table.find(lookup)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = this.#table.get(id)
    return row ? tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    const { row } = resolveSave('MemoryStore', token, this.#table)
    this.#table.put(row)
    token.id = row.id
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    this.#table.delete(id)
  }

  async getTokens(): Promise<OAuthToken[]> {
    return Array.from(this.#table.rows(), tokenFromRow)
  }

  async deleteTokens(): Promise<void> {
    this.#table.clear()
  }

  async close(): Promise<void> {}
}
