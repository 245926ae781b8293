// A near cache of RedisStore look-ups, kept correct by the server: Redis's client-side caching
// (CLIENT TRACKING in broadcast mode) sends a message on a second connection whenever any key
// under the store's token and index prefixes changes, whoever changed it, and the cache then
// forgets everything. Writes are rare next to look-ups (a token changes about once an hour), so
// forgetting everything costs little and leaves no per-key bookkeeping to get wrong.
//
// The rules that keep it from serving a stale row:
// - It serves only while tracking is confirmed on the current data connection and the message
//   connection is up; when either closes, it forgets everything and stops serving until both are
//   set up again (on a later look-up, in the background).
// - Every change it learns of (a message, a write of this store, a closed connection) bumps a
//   generation. A look-up keeps its answer only if the generation did not move while it was in
//   flight: a message that overtakes the answer of a read it makes stale is not lost.
import type { Redis } from 'ioredis'
import type { TokenRow } from '../../store/rows.js'

/** How long to wait before setting tracking up again after it failed (ms). */
const RETRY_MS = 5000

export class TrackedCache {
  readonly #maxEntries: number
  readonly #prefixes: readonly string[]
  readonly #entries = new Map<string, TokenRow | null>()
  #generation = 0
  #state: 'off' | 'starting' | 'on' = 'off'
  #retryAt = 0
  #subscriber: Redis | undefined
  /** The data connection the close listeners are on. */
  #watched: Redis | undefined

  constructor(maxEntries: number, prefixes: readonly string[]) {
    this.#maxEntries = maxEntries
    this.#prefixes = prefixes
  }

  /** The row cached for `key` (null: known to be absent), or undefined when not cached. */
  get(key: string): TokenRow | null | undefined {
    if (this.#state !== 'on') return undefined
    const row = this.#entries.get(key)
    if (row === undefined) return undefined
    // Most recently used last, so that the oldest entry is the one to drop when full.
    this.#entries.delete(key)
    this.#entries.set(key, row)
    return row
  }

  /**
   * Before a look-up on `client`: a ticket to keep its answer with, or undefined when the cache
   * is not serving (it then starts setting itself up, without waiting).
   */
  begin(client: Redis): number | undefined {
    if (this.#state === 'on' && this.#watched === client) return this.#generation
    if (this.#state === 'on') this.#off() // the store opened another connection
    if (this.#state === 'off' && client.status === 'ready' && Date.now() >= this.#retryAt) {
      void this.#start(client)
    }
    return undefined
  }

  /** After a look-up: keeps its answer if nothing changed since {@link begin}. */
  keep(ticket: number | undefined, key: string, row: TokenRow | null): void {
    if (ticket === undefined || ticket !== this.#generation || this.#state !== 'on') return
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
    this.#entries.set(key, row)
  }

  /** Forgets everything: something changed, or may have. */
  invalidate(): void {
    this.#generation += 1
    this.#entries.clear()
  }

  /** Stops serving and closes the message connection; a later look-up starts again. */
  close(): void {
    this.#off()
    this.#retryAt = 0
  }

  async #start(client: Redis): Promise<void> {
    this.#state = 'starting'
    this.invalidate()
    this.#watch(client)
    const subscriber = client.duplicate({
      connectionName: 'tokenkeeper-invalidations',
      lazyConnect: true,
      autoResubscribe: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A lost message connection is not reconnected: the cache stops serving instead, and the
      // next look-up sets tracking up again on a new one.
      retryStrategy: () => null,
    })
    this.#subscriber = subscriber
    const lost = () => {
      if (this.#subscriber === subscriber) this.#off()
    }
    subscriber.on('error', () => undefined)
    subscriber.on('close', lost)
    subscriber.on('end', lost)
    try {
      await subscriber.connect()
      const id = String(await subscriber.call('CLIENT', 'ID'))
      subscriber.on('message', () => this.invalidate())
      await subscriber.subscribe('__redis__:invalidate')
      // Tracking cannot change its options while on: off first.
      await client.call('CLIENT', 'TRACKING', 'OFF')
      await client.call(
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        id,
        'BCAST',
        ...this.#prefixes.flatMap((prefix) => ['PREFIX', prefix]),
      )
      if (this.#subscriber !== subscriber || this.#watched !== client) return
      this.invalidate()
      this.#state = 'on'
    } catch {
      // No tracking on this server (before Redis 6, or not allowed): look-ups go to the server.
      if (this.#subscriber === subscriber) {
        this.#off()
        this.#retryAt = Date.now() + RETRY_MS
      }
    }
  }

  /** Stops serving when the data connection closes: its tracking ends with it. */
  #watch(client: Redis): void {
    if (this.#watched === client) return
    this.#watched = client
    const lost = () => {
      if (this.#watched === client) this.#off()
    }
    client.on('close', lost)
    client.on('reconnecting', lost)
    client.on('end', lost)
  }

  #off(): void {
    this.#state = 'off'
    this.invalidate()
    const subscriber = this.#subscriber
    this.#subscriber = undefined
    subscriber?.disconnect()
  }
}
