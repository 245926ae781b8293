import { InProcessStore, type InMemoryStoreOptions } from './in-process.js'
import { RowTable } from './table.js'

export type { InMemoryStoreOptions } from './in-process.js'

/**
 * Tokens in a map keyed by id, with an index on every lookup column: the reference's
 * dictionary store. Nothing survives the process; use it for tests and short-lived scripts.
 *
 * @example
 * const store = new MemoryStore()
 * await store.saveToken(new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'at' }))
 */
export class MemoryStore extends InProcessStore {
  constructor(options: InMemoryStoreOptions = {}) {
    super('MemoryStore', new RowTable(), options)
  }
}
