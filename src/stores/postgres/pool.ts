// How a PostgresStore reaches its table, a concept of its own: the pool (the one given, or the
// store's own, created on first use and ended by close), the table made ready once, retries
// after a lost connection or a lost race, and driver errors worded without any value. The store
// says only what each operation sends.
import type Pg from 'pg'
import type { Pool, PoolConfig } from 'pg'
import { SDKException, TokenStoreError, type StoreOperation } from '../../errors.js'
import { storeCall, wrapStoreError } from '../../store-kit/errors.js'
import { StoreConflict, retry } from '../../store-kit/retry.js'
import { loadDriver } from '../driver.js'
import { Unretryable, explain, retryable } from './client.js'
import { STORE, prepare, type Ready } from './schema.js'

/** How often a save is tried in all after it lost a race (unique key, deadlock, lost connection). */
export const SAVE_ATTEMPTS = 6
/** How often any other operation is tried in all after a lost connection. */
export const CONNECTION_ATTEMPTS = 3

/** The checked options that say how to connect (see `PostgresStoreOptions`). */
export interface PoolSettings {
  readonly table: string
  readonly connectionString: string | undefined
  /** A pool given in the options: used as it is, and left open by `close`. */
  readonly pool: Pool | undefined
  readonly poolSize: number
  readonly connectTimeoutMs: number
  readonly applicationName: string
}

export class StorePool {
  readonly #settings: PoolSettings
  #pool: Pool | undefined
  #ready: Promise<Ready> | undefined

  constructor(settings: PoolSettings) {
    this.#settings = settings
  }

  /**
   * Runs `body` on the open store, again after a lost connection (the pool replaces it) or a
   * lost race, up to `attempts` times in all; any other failure becomes a TokenStoreError.
   */
  async run<T>(
    operation: StoreOperation,
    attempts: number,
    body: (ready: Ready) => Promise<T>,
  ): Promise<T> {
    try {
      return await retry(async () => body(await this.open(operation)), {
        // tokenkeeper's own errors are final, whatever their message says.
        retryable: (err) => !(err instanceof SDKException) && retryable(err),
        attempts,
        maxDelayMs: 50,
      })
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  /** The pool in use: the one given, or the store's own, created now if it is not yet. */
  pool(operation: StoreOperation): Pool {
    if (this.#pool) return this.#pool
    const settings = this.#settings
    if (settings.pool) {
      this.#pool = settings.pool
      return this.#pool
    }
    const { Pool: PoolClass } = loadDriver<typeof Pg>(STORE, 'pg')
    const config: PoolConfig = {
      connectionString: settings.connectionString!,
      max: settings.poolSize,
      connectionTimeoutMillis: settings.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: settings.applicationName,
      keepAlive: true,
      allowExitOnIdle: true,
    }
    let pool: Pool
    try {
      pool = new PoolClass(config)
    } catch (err) {
      throw this.#wrap(operation, err)
    }
    // An idle connection that breaks (server restart, terminated backend) is dropped by the
    // pool, which then emits 'error': without a listener that would end the process.
    pool.on('error', () => undefined)
    this.#pool = pool
    return pool
  }

  /** The table made ready, once; a failure is not kept, so a later call tries again. */
  async open(operation: StoreOperation): Promise<Ready> {
    if (!this.#ready) {
      const pool = this.pool(operation)
      const ready = prepare(pool, this.#settings.table)
      this.#ready = ready
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = undefined
      })
    }
    try {
      return await this.#ready
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  /** Ends the store's own pool (a given one is left open); a later call opens it again. */
  async close(): Promise<void> {
    const pool = this.#pool
    const ready = this.#ready
    this.#pool = undefined
    this.#ready = undefined
    await ready?.catch(() => undefined)
    if (pool && pool !== this.#settings.pool) {
      await storeCall(STORE, 'close', () => pool.end(), this.#wording)
    }
  }

  /** How a driver error is worded: in one line, without any value. */
  explain(err: unknown): string {
    const busy = this.#busyPool(err)
    return busy ?? explain(err, this.#settings.connectTimeoutMs)
  }

  /**
   * pg-pool says "timeout exceeded when trying to connect" also when the server is reachable
   * but every connection of a full pool stayed in use: that is said as such, with what to do.
   */
  #busyPool(err: unknown): string | undefined {
    const pool = this.#pool as (Pool & { options?: { max?: number } }) | undefined
    const message = (err as { message?: unknown } | null)?.message
    if (!pool || typeof message !== 'string') return undefined
    if (!/timeout exceeded when trying to connect/i.test(message)) return undefined
    const max = pool.options?.max
    if (max === undefined || pool.totalCount < max || pool.idleCount > 0) return undefined
    const which =
      max === 1 ? "the pool's only connection was" : `all ${max} connections of the pool were`
    return (
      `no connection became free within ${this.#settings.connectTimeoutMs} ms: ${which} in use ` +
      "(or still connecting); raise poolSize (or the given pool's max), or make fewer calls at once"
    )
  }

  readonly #wording = { explain: (err: unknown) => this.explain(err) }

  #wrap(operation: StoreOperation, err: unknown): Error {
    if (err instanceof Unretryable) {
      return wrapStoreError(STORE, operation, err.cause, {
        explain: (cause) =>
          'the connection was lost while the save was committing, so it may or may not have ' +
          `been written (${this.explain(cause)})`,
      })
    }
    if (err instanceof StoreConflict) {
      return new TokenStoreError(
        STORE,
        operation,
        `gave up after ${SAVE_ATTEMPTS} attempts: other saves kept changing the same rows`,
      )
    }
    return wrapStoreError(STORE, operation, err, this.#wording)
  }
}
