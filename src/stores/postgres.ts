import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type Pg from 'pg'
import type { Pool, PoolClient, PoolConfig, QueryConfig } from 'pg'
import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  describeCause,
  type StoreOperation,
} from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'
import { EncryptionError } from '../sealed.js'
import { keysetPages, pageSizeOf, type IterateOptions, type TokenIteration } from '../iteration.js'
import { withEncryption, type EncryptingStoreClass } from './encrypted.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  COLUMNS,
  MAX_TOKEN_ID,
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  resolveSaveAsync,
  rowFromToken,
  rowHolds,
  tokenFromRow,
  type Column,
  type ConditionalSave,
  type LockOptions,
  type LookupColumn,
  type StoredRow,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../store.js'
import { LookupBatcher } from './batch.js'
import { loadDriver as loadOptional } from './driver.js'
import { Lease, lockOptions, type LeaseHold } from './lease.js'
import { quoteIdentifier } from './sql/identifiers.js'

/**
 * The part of a `pg.Pool` that {@link PostgresStore} uses. A `pg.Pool` fits; the type is kept
 * this small so that the declarations of tokenkeeper need no driver types.
 */
export interface PostgresPool {
  connect(): Promise<unknown>
  query: (...args: never[]) => unknown
}

/** Options of {@link PostgresStore}: give `connectionString` or `pool`. */
export interface PostgresStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /**
   * A PostgreSQL URL such as `postgres://user:password@127.0.0.1:5432/zohooauth`; the store then
   * owns a pool of connections and `close()` ends it.
   */
  connectionString?: string
  /**
   * An existing `pg.Pool` to use instead; `close()` leaves it open. Give it an `'error'`
   * listener, as for any pg.Pool, so that a connection lost while idle does not end the process.
   */
  pool?: PostgresPool
  /** The table; default `oauthtoken`. Created when missing; an existing one is used in place. */
  table?: string
  /** With `connectionString`: the most connections the store's pool opens; default 10. */
  poolSize?: number
  /** With `connectionString`: how long opening a connection may take (ms); default 10000. */
  connectTimeoutMs?: number
  /** With `connectionString`: the `application_name` the connections report; default `tokenkeeper`. */
  applicationName?: string
}

/** Every option of {@link PostgresStore}: the compiler keeps this list complete. */
const OPTION_KEYS: Record<keyof PostgresStoreOptions, true> = {
  encryption: true,
  connectionString: true,
  pool: true,
  table: true,
  poolSize: true,
  connectTimeoutMs: true,
  applicationName: true,
}

const STORE = 'PostgresStore'

/** How often a save is tried again after it lost a race (unique key, deadlock, lost connection). */
const SAVE_ATTEMPTS = 6
/** How often any other operation is tried again after a lost connection. */
const CONNECTION_ATTEMPTS = 3

type PgModule = typeof Pg

function loadDriver(): PgModule {
  return loadOptional<PgModule>(STORE, 'pg')
}

/** SQL whose prepared name is derived from its text: one name per text on every connection. */
interface Statement {
  readonly name: string
  readonly text: string
}

function statement(text: string): Statement {
  return { name: `tk_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text }
}

function bind(s: Statement, values: unknown[]): QueryConfig<unknown[]> {
  return { name: s.name, text: s.text, values }
}

interface Statements {
  find: Record<LookupColumn, Statement>
  /** Many values at once (`$1`, an array), still through the md5 index. */
  findMany: Record<LookupColumn, Statement>
  byIds: Statement
  lockFind: Record<LookupColumn, Statement>
  byId: Statement
  /** The whole row, locked for the rest of the transaction. */
  lockRow: Statement
  all: Statement
  /** A page of rows by id: the first one, and the one after a given id (keyset paging). */
  firstPage: Statement
  pageAfter: Statement
  insert: Statement
  update: Statement
  delete: Statement
  clear: Statement
  /** The largest `numericIdValue` among the ids, through the partial index on them. */
  largest: Statement
}

/** What the store learnt about its table when it opened it. */
interface Ready {
  readonly pool: Pool
  readonly statements: Statements
  /** Whether the index on user names is unique (it is not on a legacy table holding a user twice). */
  readonly uniqueUsers: boolean
  /** The columns with a length limit (a legacy `varchar(255)` table), by column. */
  readonly limits: ReadonlyMap<Column, number>
}

const LOOKUP_COLUMNS: readonly LookupColumn[] = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
]

/**
 * The ids the numbering counts (`numericIdValue`: one to ten digits), as SQL: the same text in
 * the partial index and in the query, so that the planner sees the query is covered by it.
 */
const numbered = (id: string): string => `${id} ~ '^[0-9]{1,10}$'`
const NUMERIC_ID = numbered('id')

/**
 * compareRowIds in SQL, for the few rows that share a looked-up value (found through the md5
 * index, then sorted): numbered ids by value, the others after them (their rank is past the
 * largest ten-digit value), ties by the id's bytes, whatever the database's collation. The id
 * is qualified: a bare one would name the output column (`id::text`).
 */
function winnerFirst(table: string): string {
  const id = `${table}.id`
  return (
    `ORDER BY CASE WHEN ${numbered(id)} THEN ${id}::bigint ELSE ${MAX_TOKEN_ID + 1} END, ` +
    `${id}::text COLLATE "C"`
  )
}

/**
 * Tokens in a PostgreSQL table (node-postgres): the official SDKs' columns, one row per user.
 * It creates the table when it is missing and otherwise works on the existing one in place,
 * changing it only by adding (a missing `api_domain`, indexes on md5 of every lookup column,
 * unique on the user name, and a partial index on the numeric ids). Every statement is
 * parameterized; look-ups are one indexed query; a save is one transaction that locks the rows
 * it reads. A new id is the next after the largest numeric id (`nextTokenId`), read from that
 * index under a transaction-level advisory lock per table, so that concurrent savers never take
 * one id. It also offers {@link TokenLocking}:
 * a session advisory lock per token that the server frees when its holder's connection ends.
 *
 * @example
 * import { PostgresStore } from 'tokenkeeper/stores/postgres'
 * const store = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/zohooauth' })
 * await store.saveToken(token)
 * const lock = await store.lockToken(token.id!)
 * try { ... } finally { await lock.release() }
 */
class PostgresStore implements TokenStore, TokenIteration, TokenLocking, ConditionalSave {
  /** The table's name. */
  readonly table: string
  readonly #connectionString: string | undefined
  readonly #givenPool: Pool | undefined
  readonly #poolSize: number
  readonly #connectTimeoutMs: number
  readonly #applicationName: string
  #pool: Pool | undefined
  #ready: Promise<Ready> | undefined
  readonly #locks = new Set<HeldLock>()

  constructor(options: PostgresStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        'options',
        'PostgresStore expects an options object with connectionString or pool',
      )
    }
    refuseUnknownOptions('PostgresStore', options, Object.keys(OPTION_KEYS))
    const {
      connectionString,
      pool,
      table = 'oauthtoken',
      poolSize = 10,
      connectTimeoutMs = 10_000,
      applicationName = 'tokenkeeper',
    } = options
    if ((connectionString === undefined) === (pool === undefined)) {
      throw new InvalidArgumentError(
        connectionString === undefined ? 'connectionString' : 'pool',
        'PostgresStore needs exactly one of connectionString and pool',
      )
    }
    if (
      connectionString !== undefined &&
      (typeof connectionString !== 'string' || connectionString.length === 0)
    ) {
      throw new InvalidArgumentError(
        'connectionString',
        'PostgresStore connectionString must be a non-empty string',
      )
    }
    if (
      pool !== undefined &&
      (typeof pool !== 'object' ||
        pool === null ||
        typeof pool.connect !== 'function' ||
        typeof pool.query !== 'function')
    ) {
      throw new InvalidArgumentError('pool', 'PostgresStore pool must be a pg.Pool')
    }
    if (!(Number.isInteger(poolSize) && poolSize >= 1)) {
      throw new InvalidArgumentError('poolSize', 'PostgresStore poolSize must be an integer >= 1')
    }
    if (!(typeof connectTimeoutMs === 'number' && connectTimeoutMs > 0)) {
      throw new InvalidArgumentError(
        'connectTimeoutMs',
        'PostgresStore connectTimeoutMs must be a number > 0',
      )
    }
    if (typeof applicationName !== 'string') {
      throw new InvalidArgumentError(
        'applicationName',
        'PostgresStore applicationName must be a string',
      )
    }
    quoteIdentifier(table, 'table')
    this.table = table
    this.#connectionString = connectionString
    this.#givenPool = pool as unknown as Pool | undefined
    this.#poolSize = poolSize
    this.#connectTimeoutMs = connectTimeoutMs
    this.#applicationName = applicationName
    if (options.encryption) return withEncryption(this, options.encryption)
  }

  /**
   * The `pg.Pool` in use: the one given, or the store's own (created on first use). Typed as
   * `unknown` so that the declarations need no driver types: cast it to `pg.Pool`.
   */
  get pool(): unknown {
    return this.#poolFor('open')
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (lookup === undefined) return null
    const row = await this.#batchers[lookup.column].load(lookup.value)
    return row ? tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const row = await this.#batchers.id.load(id)
    return row ? tokenFromRow(row) : null
  }

  /**
   * Look-ups that arrive together go to the server as one query (see LookupBatcher): under
   * concurrent callers, many answers per round trip.
   */
  readonly #batchers: Record<LookupColumn | 'id', LookupBatcher<StoredRow>> = (() => {
    const batcher = (column: LookupColumn | 'id') =>
      new LookupBatcher<StoredRow>(async (values) => {
        const operation = column === 'id' ? 'findTokenById' : 'findToken'
        const result = await this.#run(operation, CONNECTION_ATTEMPTS, (r) =>
          r.pool.query<StoredRow>(
            column === 'id'
              ? bind(r.statements.byIds, [values])
              : values.length === 1
                ? // A lone look-up takes the simpler plan.
                  bind(r.statements.find[column], values)
                : bind(r.statements.findMany[column], [values]),
          ),
        )
        const found = new Map<string, StoredRow>()
        for (const row of result.rows) {
          const value = row[column]
          if (value !== null && !found.has(value)) found.set(value, row)
        }
        return found
      })
    return {
      id: batcher('id'),
      user_name: batcher('user_name'),
      access_token: batcher('access_token'),
      grant_token: batcher('grant_token'),
      refresh_token: batcher('refresh_token'),
    }
  })()

  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    const id = await this.#run('saveToken', SAVE_ATTEMPTS, (ready) => this.#saveOnce(ready, token))
    token.id = id
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`):
   * one transaction locks the row, checks it and writes. `false`, and nothing written, otherwise.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const id = await this.#run('saveToken', SAVE_ATTEMPTS, (ready) =>
      this.#saveOnce(ready, token, expected),
    )
    return id !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#run('deleteToken', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.delete, [id])),
    )
  }

  async getTokens(): Promise<OAuthToken[]> {
    const result = await this.#run('getTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query<StoredRow>(bind(r.statements.all, [])),
    )
    return result.rows.map((row) => tokenFromRow(row))
  }

  /**
   * Every token, a page at a time in the order of their ids: each page is one short read on the
   * primary key (`WHERE id > last ORDER BY id LIMIT pageSize`), so a pass holds one page in
   * memory and no transaction between pages. The comparison and the order are both in the id
   * column's own collation, the one its primary key index is built in.
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return this.#pages(pageSizeOf(options))
  }

  #pages(pageSize: number): AsyncGenerator<OAuthToken> {
    return keysetPages(
      pageSize,
      async (after, size) =>
        (
          await this.#run('getTokens', CONNECTION_ATTEMPTS, (r) =>
            r.pool.query<StoredRow>(
              after === undefined
                ? bind(r.statements.firstPage, [size])
                : bind(r.statements.pageAfter, [after, size]),
            ),
          )
        ).rows,
      (row) => row.id,
      tokenFromRow,
    )
  }

  async deleteTokens(): Promise<void> {
    await this.#run('deleteTokens', CONNECTION_ATTEMPTS, (r) =>
      r.pool.query(bind(r.statements.clear, [])),
    )
  }

  /**
   * A lease on one token across processes and machines until `release()`: a session-level
   * advisory lock, keyed by table and id, on a connection of the pool kept for the holder. It
   * lasts as long as that connection: if the holder dies, its connection closes and the server
   * frees the lock; a holder that is only paused keeps it, and the others wait. `renew()`
   * confirms the connection still holds it (`pg_locks`); there is no time limit to push back,
   * so `autoRenew` changes nothing. Not had within `timeoutMs` (default 10000) is a
   * `TokenStoreError` with operation `'lock'`. Each held lock occupies one connection of the
   * pool until it is released.
   *
   * @example
   * const lock = await store.lockToken(token.id!, { timeoutMs: 5000 })
   * try { ... } finally { await lock.release() }
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const { timeoutMs } = lockOptions(STORE, options)
    const deadline = Date.now() + timeoutMs
    const timedOut = (cause?: unknown): TokenStoreError =>
      new TokenStoreError(
        STORE,
        'lock',
        `token ${id} in table ${this.table} stayed locked by another holder for ${timeoutMs} ms`,
        cause === undefined ? undefined : { cause },
      )
    const ready = await this.#open('lock')
    // A lease tried without waiting (timeoutMs 0) still gets time to check a connection out:
    // the wait it refuses is for another holder of the token, not for the pool.
    const connectBy = Math.max(deadline, Date.now() + CONNECT_GRACE_MS)
    const client = await connectBefore(ready.pool, connectBy).catch((err: unknown) => {
      throw err instanceof Deadline ? timedOut() : this.#wrap('lock', err)
    })
    const held = new HeldLock(client, `${this.table}:${id}`, (lock) => this.#locks.delete(lock))
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
      throw this.#wrap('lock', err)
    }
    this.#locks.add(held)
    return new Lease(STORE, `token ${id}`, held, undefined)
  }

  /**
   * Releases the locks still held, and ends the store's own pool (a pool given in the options is
   * left open). A later call opens the store again.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#locks].map((lock) => lock.release()))
    const pool = this.#pool
    const ready = this.#ready
    this.#pool = undefined
    this.#ready = undefined
    await ready?.catch(() => undefined)
    if (pool && pool !== this.#givenPool) {
      try {
        await pool.end()
      } catch (err) {
        throw this.#wrap('close', err)
      }
    }
  }

  /** Runs one query whose answer is at most one row. */
  /**
   * Runs `body` on the open store, again after a lost connection (the pool replaces it) or a
   * lost race, up to `attempts` times; any other failure becomes a TokenStoreError.
   */
  async #run<T>(
    operation: StoreOperation,
    attempts: number,
    body: (ready: Ready) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const ready = await this.#open(operation)
      try {
        return await body(ready)
      } catch (err) {
        if (
          err instanceof TokenStoreError ||
          err instanceof InvalidArgumentError ||
          err instanceof EncryptionError
        ) {
          throw err
        }
        if (attempt < attempts && retryable(err)) {
          await sleep(Math.random() * 10 * attempt)
          continue
        }
        throw this.#wrap(operation, err)
      }
    }
  }

  /** One save transaction: lock what it reads, plan by the one upsert rule, write. */
  async #saveOnce(ready: Ready, token: OAuthToken): Promise<string>
  async #saveOnce(
    ready: Ready,
    token: OAuthToken,
    expected: OAuthToken,
  ): Promise<string | undefined>
  async #saveOnce(
    ready: Ready,
    token: OAuthToken,
    expected?: OAuthToken,
  ): Promise<string | undefined> {
    checkLimits(ready.limits, rowFromToken(token, token.id ?? ''), token.id !== undefined)
    const { statements } = ready
    return withClient(ready.pool, async (client) => {
      let committing = false
      try {
        // READ COMMITTED whatever the server's default: the largest id is read after the id
        // lock was had, and must see the id the previous holder committed.
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
        const name = token.userSignature?.name
        if (!ready.uniqueUsers && name !== undefined && name.length > 0) {
          // No unique index to refuse a second row for this user: serialize their saves.
          await client.query(bind(XACT_LOCK, [`${this.table}:user:${name}`]))
        }
        if (expected) {
          // The conditional save: the row stays locked from this check to the commit.
          const held = await client.query<StoredRow>(bind(statements.lockRow, [token.id]))
          const row = held.rows[0]
          if (!row || !rowHolds(row, expected)) {
            await client.query('ROLLBACK')
            return undefined
          }
        }
        // One query per distinct look-up: asked twice (the token's key is its user name), the
        // same answer, not two answers from two moments of a busy table. The rows they lock
        // are kept, so that the keyless check (`get`) costs no further round trip.
        const found = new Map<string, Promise<string | undefined>>()
        const locked = new Map<string, StoredRow>()
        const keep = (result: { rows: StoredRow[] }): string | undefined => {
          const held = result.rows[0]
          if (held) locked.set(held.id, held)
          return held?.id
        }
        const { row, insert } = await resolveSaveAsync(STORE, token, {
          hasId: async (id) =>
            keep(await client.query<StoredRow>(bind(statements.lockRow, [id]))) !== undefined,
          findId: (lookup) => {
            const key = `${lookup.column}:${lookup.value}`
            let id = found.get(key)
            if (id === undefined) {
              id = client
                .query<StoredRow>(bind(statements.lockFind[lookup.column], [lookup.value]))
                .then(keep)
              found.set(key, id)
            }
            return id
          },
          // Asked only by a store without keys, before an update (the row is locked already).
          get: async (id) =>
            locked.get(id) ??
            (await client.query<StoredRow>(bind(statements.lockRow, [id]))).rows[0],
          // Asked only before an insert under a new id. The lock, one per table, is held to the
          // commit, so concurrent savers take their ids one after the other; a writer outside it
          // that takes the same id makes the insert fail with 23505, and the save is tried again.
          largestNumericId: async () => {
            await client.query(bind(XACT_LOCK, [`tokenkeeper:ids:${this.table}`]))
            const { rows } = await client.query<{ largest: string | null }>(
              bind(statements.largest, []),
            )
            const largest = rows[0]?.largest
            return largest === null || largest === undefined ? undefined : Number(largest)
          },
        })
        const values = COLUMNS.map((column) => row[column])
        const result = await client.query(
          bind(insert ? statements.insert : statements.update, values),
        )
        if (result.rowCount !== 1) throw new LostRace()
        committing = true
        await client.query('COMMIT')
        return row.id
      } catch (err) {
        // A failure once COMMIT was sent may have committed: only a refused commit is retried.
        throw committing && isConnectionError(err) ? new Unretryable(err) : err
      }
    })
  }

  #poolFor(operation: StoreOperation): Pool {
    if (this.#pool) return this.#pool
    if (this.#givenPool) {
      this.#pool = this.#givenPool
      return this.#pool
    }
    const { Pool: PoolClass } = loadDriver()
    const config: PoolConfig = {
      connectionString: this.#connectionString!,
      max: this.#poolSize,
      connectionTimeoutMillis: this.#connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: this.#applicationName,
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
  async #open(operation: StoreOperation): Promise<Ready> {
    if (!this.#ready) {
      const pool = this.#poolFor(operation)
      const ready = prepare(pool, this.table)
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

  #wrap(operation: StoreOperation, err: unknown): unknown {
    if (err instanceof TokenStoreError || err instanceof InvalidArgumentError) return err
    if (err instanceof Unretryable) {
      return new TokenStoreError(
        STORE,
        operation,
        'the connection was lost while the save was committing, so it may or may not have ' +
          `been written (${explain(err.cause, this.#connectTimeoutMs)})`,
        { cause: err.cause },
      )
    }
    if (err instanceof LostRace) {
      return new TokenStoreError(
        STORE,
        operation,
        `gave up after ${SAVE_ATTEMPTS} attempts: other saves kept changing the same rows`,
      )
    }
    return new TokenStoreError(STORE, operation, explain(err, this.#connectTimeoutMs), {
      cause: err,
    })
  }
}

/** A save that must not be tried again; `cause` says why it failed. */
class Unretryable extends Error {
  constructor(cause: unknown) {
    super('not retried', { cause })
  }
}

/** The rows a save planned for changed under it; the save is tried again. */
class LostRace extends Error {}

/** The deadline of a lock passed while waiting for a connection. */
class Deadline extends Error {}

const TRY_LOCK = statement('SELECT pg_try_advisory_lock(hashtextextended($1::text, 0)) AS locked')
const LOCK = statement('SELECT pg_advisory_lock(hashtextextended($1::text, 0))')
const UNLOCK = statement('SELECT pg_advisory_unlock(hashtextextended($1::text, 0))')
/** Whether this connection holds the advisory lock (a bigint key shows as classid, objid). */
const HOLDS = statement(
  "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted " +
    'AND pid = pg_backend_pid() AND objsubid = 1 ' +
    'AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1::text, 0)) AS held',
)
const XACT_LOCK = statement('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))')
const SET_LOCK_TIMEOUT = statement("SELECT set_config('lock_timeout', $1::text, true)")

/** A token lock: the session advisory lock and the pooled connection that holds it. */
class HeldLock implements LeaseHold {
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

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** How long a lease may take to check a connection out, even one tried without waiting (ms). */
const CONNECT_GRACE_MS = 2000

/** Checks a client out before `deadline`; one that arrives later goes straight back. */
async function connectBefore(pool: Pool, deadline: number): Promise<PoolClient> {
  const connecting = pool.connect()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Deadline()), Math.max(0, deadline - Date.now()))
  })
  try {
    return await Promise.race([connecting, late])
  } catch (err) {
    if (err instanceof Deadline)
      void connecting.then(
        (client) => client.release(),
        () => undefined,
      )
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs `body` inside a checked-out client that is always given back: destroyed when its
 * connection broke or its transaction could not be rolled back, otherwise reused.
 */
async function withClient<T>(pool: Pool, body: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error): void => {
    broken = err
  }
  client.on('error', onError)
  try {
    const result = await body(client)
    client.removeListener('error', onError)
    client.release(broken ?? false)
    return result
  } catch (err) {
    const cause = err instanceof Unretryable ? err.cause : err
    if (!broken && !isConnectionError(cause)) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackErr) {
        broken = toError(rollbackErr)
      }
    }
    client.removeListener('error', onError)
    client.release(broken ?? (isConnectionError(cause) ? toError(cause) : false))
    throw err
  }
}

const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|Client was closed|Connection ended|socket hang up/i

/** Whether an error says the connection was lost (so another connection may well succeed). */
function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
      return true
    }
    if (['ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code)) return true
  }
  return err instanceof Error && CONNECTION_MESSAGES.test(err.message)
}

/** Whether trying again may succeed: a lost connection, a lost race, a deadlock. */
function retryable(err: unknown): boolean {
  if (err instanceof Unretryable) return false
  if (err instanceof LostRace) return true
  const code = (err as { code?: unknown } | null)?.code
  // 23505: another save inserted the same id or user first. 40001, 40P01: serialization or
  // deadlock. 0A000: a cached plan went stale after the table was changed.
  if (code === '23505' || code === '40001' || code === '40P01' || code === '0A000') return true
  return isConnectionError(err)
}

/** Says what a driver error means, in one line, without any value. */
function explain(err: unknown, connectTimeoutMs: number): string {
  const e = err as { code?: unknown; message?: unknown }
  const code = typeof e.code === 'string' ? e.code : undefined
  const message = typeof e.message === 'string' ? e.message : String(err)
  if (code === 'ECONNREFUSED') return 'cannot connect to the PostgreSQL server (connection refused)'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return 'cannot connect to the PostgreSQL server (unknown host)'
  }
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return `cannot connect to the PostgreSQL server within ${connectTimeoutMs} ms`
  }
  if (code === '28P01' || code === '28000') return `authentication failed (${code})`
  if (code === '3D000') return `the database does not exist (${code})`
  if (code === '42501') return `permission denied: ${message}`
  if (code === '22001') return `a value is too long for its column; nothing was written (${code})`
  if (code === '22021' || code === '22P05') {
    return `a value holds a character PostgreSQL cannot store, such as NUL; nothing was written (${code})`
  }
  // Data errors may quote the value: describeCause leaves it out, as for every driver.
  return describeCause(err)
}

function codePoints(value: string): number {
  let count = 0
  for (const _ of value) count += 1
  return count
}

/**
 * Refuses a value that does not fit a column of a legacy table (`varchar(255)`): PostgreSQL
 * would refuse it too, without naming the column, or silently cut trailing spaces.
 */
function checkLimits(limits: ReadonlyMap<Column, number>, row: StoredRow, withId: boolean): void {
  for (const [column, limit] of limits) {
    if (column === 'id' && !withId) continue
    const value = row[column]
    if (value === null || value.length <= limit) continue
    const length = codePoints(value)
    if (length > limit) {
      throw new TokenStoreError(
        STORE,
        'saveToken',
        `the ${column} value is ${length} characters long, but the table's ${column} column ` +
          `holds at most ${limit}; nothing was written (widen it with ALTER TABLE ... ALTER ` +
          `COLUMN ${column} TYPE text)`,
      )
    }
  }
}

function indexName(table: string, column: LookupColumn | 'id'): string {
  const suffix = column === 'id' ? `_id_number_idx` : `_${column}_md5_idx`
  if (table.length + suffix.length <= 63) return `${table}${suffix}`
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8)
  return `${table.slice(0, 63 - suffix.length - 9)}_${hash}${suffix}`
}

/** The table tokenkeeper creates: the official columns, wide enough for 4 KB values. */
function createTableSql(table: string): string {
  const columns = COLUMNS.map((column) =>
    column === 'id'
      ? 'id varchar(10) NOT NULL PRIMARY KEY'
      : column === 'expiry_time'
        ? 'expiry_time varchar(20)'
        : `${column} text`,
  )
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(table)} (${columns.join(', ')})`
}

interface TableFacts {
  exists: boolean
  columns: Map<string, number | null>
  indexes: Map<string, boolean>
}

const COLUMNS_SQL =
  'SELECT attname::text AS name, CASE WHEN atttypid IN (1042, 1043) AND atttypmod > 4 ' +
  'THEN atttypmod - 4 END AS max_length FROM pg_attribute ' +
  'WHERE attrelid = to_regclass($1::text) AND attnum > 0 AND NOT attisdropped'
const INDEXES_SQL =
  'SELECT c.relname::text AS name, i.indisunique AS is_unique FROM pg_index i ' +
  'JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1::text)'

async function inspect(client: PoolClient, table: string): Promise<TableFacts> {
  const name = quoteIdentifier(table)
  const columns = await client.query<{ name: string; max_length: number | null }>(COLUMNS_SQL, [
    name,
  ])
  const indexes = await client.query<{ name: string; is_unique: boolean }>(INDEXES_SQL, [name])
  return {
    exists: columns.rows.length > 0,
    columns: new Map(columns.rows.map((c) => [c.name.toLowerCase(), c.max_length])),
    indexes: new Map(indexes.rows.map((i) => [i.name, i.is_unique])),
  }
}

function complete(facts: TableFacts, table: string): boolean {
  return (
    facts.exists &&
    COLUMNS.every((column) => facts.columns.has(column)) &&
    LOOKUP_COLUMNS.every((column) => facts.indexes.has(indexName(table, column))) &&
    facts.indexes.has(indexName(table, 'id'))
  )
}

/**
 * Makes the table ready: reads the catalog, and only when something is missing takes a
 * transaction-level advisory lock for this table and adds it, so that processes opening a new
 * database together create it once.
 */
async function prepare(pool: Pool, table: string): Promise<Ready> {
  const facts = await withClient(pool, async (client) => {
    let found = await inspect(client, table)
    if (complete(found, table)) return found
    for (let attempt = 1; ; attempt += 1) {
      try {
        await client.query('BEGIN')
        await client.query(bind(XACT_LOCK, [`tokenkeeper:schema:${table}`]))
        await ensureTable(client, table)
        await client.query('COMMIT')
        break
      } catch (err) {
        // Someone without the advisory lock created the same object at the same moment.
        const code = (err as { code?: unknown }).code
        if (attempt < 3 && (code === '23505' || code === '42P07' || code === '42710')) {
          await client.query('ROLLBACK')
          continue
        }
        throw err
      }
    }
    found = await inspect(client, table)
    return found
  })
  const limits = new Map<Column, number>()
  for (const column of COLUMNS) {
    const limit = facts.columns.get(column)
    if (typeof limit === 'number') limits.set(column, limit)
  }
  return {
    pool,
    statements: prepareStatements(table),
    uniqueUsers: facts.indexes.get(indexName(table, 'user_name')) === true,
    limits,
  }
}

async function ensureTable(client: PoolClient, table: string): Promise<void> {
  const name = quoteIdentifier(table)
  // Only when the name resolves to no table: one found further along the search_path is used.
  if (!(await inspect(client, table)).exists) await client.query(createTableSql(table))
  const facts = await inspect(client, table)
  const missing = COLUMNS.filter((column) => !facts.columns.has(column))
  if (missing.some((column) => column !== 'api_domain')) {
    throw new TokenStoreError(
      STORE,
      'open',
      `table ${table} lacks the columns ${missing.join(', ')}`,
    )
  }
  if (missing.includes('api_domain')) {
    await client.query(`ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS api_domain text`)
  }
  for (const column of LOOKUP_COLUMNS) {
    const index = quoteIdentifier(indexName(table, column), 'table')
    const plain = `CREATE INDEX IF NOT EXISTS ${index} ON ${name} (md5(${column}))`
    if (column !== 'user_name') {
      await client.query(plain)
      continue
    }
    // A legacy table may already hold a user twice: then the index is a plain one, and saves
    // of one user are serialized by an advisory lock instead.
    await client.query('SAVEPOINT tk_unique')
    try {
      await client.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${index} ON ${name} (md5(${column}))`)
      await client.query('RELEASE SAVEPOINT tk_unique')
    } catch (err) {
      if ((err as { code?: unknown }).code !== '23505') throw err
      await client.query('ROLLBACK TO SAVEPOINT tk_unique')
      await client.query(plain)
    }
  }
  // The ids the numbering counts, by value: the largest is the last entry. Partial, so the
  // cast is computed only for ids that are digits (any other id is stored as before).
  const ids = quoteIdentifier(indexName(table, 'id'), 'table')
  await client.query(
    `CREATE INDEX IF NOT EXISTS ${ids} ON ${name} ((id::bigint)) WHERE ${NUMERIC_ID}`,
  )
}

function prepareStatements(table: string): Statements {
  const name = quoteIdentifier(table)
  // Cast to text: the answers have one shape whatever the column types of a legacy table.
  const columns = COLUMNS.map((c) => `${c}::text AS ${c}`).join(', ')
  // md5 of the value finds the row through the md5 index (values of any length fit it); the
  // second comparison makes a collision harmless.
  const where = (column: LookupColumn): string =>
    `WHERE md5(${column}) = md5($1::text) AND ${column} = $1::text ${winnerFirst(name)} LIMIT 1`
  const byColumn = (lock: boolean, select: string) =>
    Object.fromEntries(
      LOOKUP_COLUMNS.map((column) => [
        column,
        statement(`SELECT ${select} FROM ${name} ${where(column)}${lock ? ' FOR UPDATE' : ''}`),
      ]),
    ) as Record<LookupColumn, Statement>
  const many = Object.fromEntries(
    LOOKUP_COLUMNS.map((column) => [
      column,
      statement(
        `SELECT ${columns} FROM ${name} WHERE md5(${column}) = ANY(ARRAY(SELECT md5(v) FROM unnest($1::text[]) v)) AND ${column} = ANY($1::text[]) ${winnerFirst(name)}`,
      ),
    ]),
  ) as Record<LookupColumn, Statement>
  return {
    find: byColumn(false, columns),
    findMany: many,
    byIds: statement(`SELECT ${columns} FROM ${name} WHERE id = ANY($1::text[])`),
    lockFind: byColumn(true, columns),
    byId: statement(`SELECT ${columns} FROM ${name} WHERE id = $1::text`),
    lockRow: statement(`SELECT ${columns} FROM ${name} WHERE id = $1::text FOR UPDATE`),
    all: statement(`SELECT ${columns} FROM ${name} ORDER BY id`),
    // Qualified: a bare `id` in ORDER BY would name the output column (`id::text`), not the
    // column whose primary key index gives the order.
    firstPage: statement(`SELECT ${columns} FROM ${name} ORDER BY ${name}.id LIMIT $1`),
    pageAfter: statement(
      `SELECT ${columns} FROM ${name} WHERE id > $1::text ORDER BY ${name}.id LIMIT $2`,
    ),
    insert: statement(
      `INSERT INTO ${name} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
    ),
    update: statement(
      `UPDATE ${name} SET ${COLUMNS.slice(1)
        .map((c, i) => `${c} = $${i + 2}`)
        .join(', ')} WHERE id = $1`,
    ),
    delete: statement(`DELETE FROM ${name} WHERE id = $1::text`),
    clear: statement(`DELETE FROM ${name}`),
    largest: statement(`SELECT max(id::bigint) AS largest FROM ${name} WHERE ${NUMERIC_ID}`),
  }
}

/**
 * {@link PostgresStore}, typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const EncryptingPostgresStore = PostgresStore as EncryptingStoreClass<typeof PostgresStore>
type EncryptingPostgresStore = PostgresStore
export { EncryptingPostgresStore as PostgresStore }
