import type { Pool, PoolClient } from 'pg'
import { TokenStoreError } from '../../errors.js'
import { wrapStoreError } from '../../store-kit/errors.js'
import type { TokenLock } from '../../store.js'
import { Lease, type LeaseHold } from '../lease.js'
import { Deadline, bind, connectBefore, isConnectionError, statement, toError } from './client.js'

/** How long a lease may take to check a connection out, even one tried without waiting (ms). */
const CONNECT_GRACE_MS = 2000

/** Where a token lock is taken, and what it is for. */
export interface LockRequest {
  readonly store: string
  readonly table: string
  readonly id: string
  readonly timeoutMs: number
  /** Says what a failure that is not a timeout means. */
  readonly explain: (err: unknown) => string
  /** Told when the lock is released, to forget it. */
  readonly onDone: (lock: HeldLock) => void
}

/**
 * A session advisory lock on token `id`, on a connection of `pool` kept for the holder: waits
 * in the server (woken as soon as the holder lets go) until `timeoutMs`, then is a
 * TokenStoreError with operation `'lock'`.
 */
export async function lockToken(
  pool: Pool,
  request: LockRequest,
): Promise<{ lease: TokenLock; held: HeldLock }> {
  const { store, table, id, timeoutMs } = request
  const deadline = Date.now() + timeoutMs
  const timedOut = (cause?: unknown): TokenStoreError =>
    new TokenStoreError(
      store,
      'lock',
      `token ${id} in table ${table} stayed locked by another holder for ${timeoutMs} ms`,
      cause === undefined ? undefined : { cause },
    )
  const wrap = (err: unknown): Error =>
    wrapStoreError(store, 'lock', err, { explain: request.explain })
  // A lease tried without waiting (timeoutMs 0) still gets time to check a connection out:
  // the wait it refuses is for another holder of the token, not for the pool.
  const connectBy = Math.max(deadline, Date.now() + CONNECT_GRACE_MS)
  const client = await connectBefore(pool, connectBy).catch((err: unknown) => {
    throw err instanceof Deadline ? timedOut() : wrap(err)
  })
  const held = new HeldLock(client, `${table}:${id}`, request.onDone)
  try {
    const remaining = deadline - Date.now()
    if (remaining < 1) {
      const { rows } = await client.query<{ locked: boolean }>(bind(TRY_LOCK, [held.key]))
      if (rows[0]?.locked !== true) throw timedOut()
    } else {
      // Waits in the server, woken as soon as the holder lets go; lock_timeout ends the wait.
      await client.query('BEGIN')
      await client.query(bind(SET_LOCK_TIMEOUT, [String(Math.ceil(remaining))]))
      await client.query(bind(LOCK, [held.key]))
      await client.query('COMMIT')
    }
  } catch (err) {
    const lockTimeout = (err as { code?: unknown }).code === '55P03'
    await held.abandon(err, lockTimeout || err instanceof TokenStoreError)
    if (err instanceof TokenStoreError) throw err
    if (lockTimeout) throw timedOut(err)
    throw wrap(err)
  }
  return { lease: new Lease(store, `token ${id}`, held, undefined), held }
}

const TRY_LOCK = statement('SELECT pg_try_advisory_lock(hashtextextended($1::text, 0)) AS locked')
const LOCK = statement('SELECT pg_advisory_lock(hashtextextended($1::text, 0))')
const UNLOCK = statement('SELECT pg_advisory_unlock(hashtextextended($1::text, 0))')
/** Whether this connection holds the advisory lock (a bigint key shows as classid, objid). */
const HOLDS = statement(
  "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted " +
    'AND pid = pg_backend_pid() AND objsubid = 1 ' +
    'AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1::text, 0)) AS held',
)
const SET_LOCK_TIMEOUT = statement("SELECT set_config('lock_timeout', $1::text, true)")

/** A token lock: the session advisory lock and the pooled connection that holds it. */
export class HeldLock implements LeaseHold {
  readonly key: string
  readonly #client: PoolClient
  readonly #onDone: (lock: HeldLock) => void
  #broken: Error | undefined
  #released: Promise<void> | undefined
  readonly #onError = (err: Error): void => {
    // The connection broke while held: the server has freed the lock already.
    this.#broken = err
  }

  constructor(client: PoolClient, key: string, onDone: (lock: HeldLock) => void) {
    this.#client = client
    this.key = key
    this.#onDone = onDone
    client.on('error', this.#onError)
  }

  /** Whether the connection is alive and still holds the lock (nothing to extend). */
  async extend(): Promise<boolean> {
    if (this.#broken || this.#released) return false
    try {
      const { rows } = await this.#client.query<{ held: boolean }>(bind(HOLDS, [this.key]))
      return rows[0]?.held === true
    } catch (err) {
      // A lost connection took the lock with it.
      if (this.#broken || isConnectionError(err)) return false
      throw err
    }
  }

  /** Unlocks and gives the connection back; a second call does nothing. */
  release(): Promise<void> {
    this.#released ??= this.#release()
    return this.#released
  }

  async #release(): Promise<void> {
    let failure: Error | undefined = this.#broken
    if (!failure) {
      try {
        await this.#client.query(bind(UNLOCK, [this.key]))
      } catch (err) {
        // Dropping the connection frees the lock all the same.
        failure = err instanceof Error ? err : new Error(String(err))
      }
    }
    this.#client.removeListener('error', this.#onError)
    this.#client.release(failure ?? false)
    this.#onDone(this)
  }

  /**
   * The lock was not had: give the connection back. After a timeout the lock surely was not
   * taken, so the transaction is rolled back and the connection reused; after any other failure
   * the connection is dropped, so that no lock can stay behind on a pooled connection.
   */
  async abandon(err: unknown, timedOut: boolean): Promise<void> {
    let failure: Error | undefined = this.#broken ?? (timedOut ? undefined : toError(err))
    if (!failure) {
      try {
        await this.#client.query('ROLLBACK')
      } catch (rollbackErr) {
        failure = toError(rollbackErr)
      }
    }
    this.#released = Promise.resolve()
    this.#client.removeListener('error', this.#onError)
    this.#client.release(failure ?? false)
  }
}
