// RedisStore's connection: the given client or one of its own, opened on first use, and its
// failures worded by the store kit.
import type { Redis, RedisOptions } from 'ioredis'
import { TokenStoreError, describeCause, type StoreOperation } from '../../errors.js'
import { storeCall, wrapStoreError } from '../../store-kit/index.js'
import { loadDriver as loadOptional } from '../driver.js'
import { STORE, type RedisSettings } from './options.js'

type RedisConstructor = new (url: string, options: RedisOptions) => Redis

function loadDriver(): RedisConstructor {
  const driver = loadOptional<{ Redis?: RedisConstructor; default?: RedisConstructor }>(
    STORE,
    'ioredis',
  )
  const Driver = driver.Redis ?? driver.default
  if (typeof Driver !== 'function') {
    throw new TokenStoreError(STORE, 'open', 'the installed ioredis package exports no Redis class')
  }
  return Driver
}

export class RedisConnection {
  readonly #settings: RedisSettings
  #own: Redis | undefined
  #lastConnectionError: string | undefined

  constructor(settings: RedisSettings) {
    this.#settings = settings
  }

  /** Runs `body` on the connection; whatever it throws comes out as the store's error. */
  run<T>(operation: StoreOperation, body: (client: Redis) => Promise<T>): Promise<T> {
    return storeCall(STORE, operation, () => body(this.client()), {
      explain: (err) => this.#explain(err),
    })
  }

  /** `err` as the store raises it (see `wrapStoreError`). */
  wrap(operation: StoreOperation, err: unknown): unknown {
    return wrapStoreError(STORE, operation, err, { explain: (e) => this.#explain(e) })
  }

  /** The client in use: the given one, or the store's own, connected on first use. */
  client(): Redis {
    if (this.#settings.client) return this.#settings.client as Redis
    if (this.#own) return this.#own
    const Driver = loadDriver()
    const client = new Driver(this.#settings.url, {
      connectionName: 'tokenkeeper',
      connectTimeout: this.#settings.connectTimeoutMs,
      // Every command has an answer or an error within this time, even while disconnected.
      commandTimeout: this.#settings.commandTimeoutMs,
      // While the server is away, waiting commands fail after two connection attempts
      // (about a second when it refuses), and the client keeps reconnecting for later ones.
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(50 * 2 ** times, 500),
      enableOfflineQueue: true,
    })
    client.on('error', (err: unknown) => {
      // Kept to explain later failures; ioredis reports flushed commands here too.
      if ((err as { name?: unknown }).name !== 'MaxRetriesPerRequestError') {
        this.#lastConnectionError = describeCause(err)
      }
    })
    client.on('ready', () => {
      this.#lastConnectionError = undefined
    })
    this.#own = client
    return client
  }

  /** Closes the store's own connection (a later call opens another); a given client stays open. */
  async close(): Promise<void> {
    const own = this.#own
    this.#own = undefined
    if (!own) return
    try {
      if (own.status === 'ready') await own.quit()
      else own.disconnect()
    } catch {
      own.disconnect()
    }
  }

  #explain(err: unknown): string {
    const message = describeCause(err)
    const last = this.#lastConnectionError
    const detail = last ? ` (${last})` : ''
    if (/Command timed out/.test(message)) {
      return `the Redis server did not answer within ${this.#settings.commandTimeoutMs} ms${detail}`
    }
    const name = (err as { name?: unknown }).name
    if (
      name === 'MaxRetriesPerRequestError' ||
      /Connection is closed|Stream isn't writeable/.test(message)
    ) {
      return `cannot reach the Redis server${detail}`
    }
    return message
  }
}
