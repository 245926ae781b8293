import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { TokenStoreError, type StoreOperation } from '../../errors.js'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  assertToken,
  lockOptions,
  lookupOf,
  pageSizeOf,
  rowHolds,
  takeLease,
  tokenFromRow,
  type ConditionalSave,
  type DueScan,
  type DueScanOptions,
  type IterateOptions,
  type LockOptions,
  type TokenIteration,
  type TokenLock,
  type TokenLocking,
  type TokenStore,
} from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
import {
  assertBudgetArguments,
  type Budget,
  type BudgetAnswer,
  type BudgetCounting,
} from '../../budget.js'
import { assertHealthIds, assertHealthRecord, type HealthTracking } from '../../health.js'
import * as keeping from './keeping.js'
import { withEncryption, type EncryptingStoreClass } from '../encrypted.js'
import { TrackedCache } from './cache.js'
import { RedisConnection } from './connection.js'
import { DueIndex, findDue } from './due.js'
import { RedisKeys, kindOf, rowFromHash, rowFromReply } from './keys.js'
import { STORE, redisSettings, type RedisSettings, type RedisStoreOptions } from './options.js'
import {
  ACQUIRE,
  COMMIT,
  FIND,
  FORGET_SEQUENCE,
  RELEASE,
  RENEW,
  evalScript,
  isNoScript,
  loadScript,
} from './scripts.js'
import { RedisWrites, untilDecided, type Claim } from './writes.js'
import { readAll, readPage } from './pages.js'

// Documented where it is exported, typed for encryption (see the `RedisStore` constant).
class RedisStore
  implements
    TokenStore,
    TokenIteration,
    TokenLocking,
    ConditionalSave,
    DueScan,
    HealthTracking,
    BudgetCounting
{
  /** What every key of the store begins with. */
  readonly prefix: string
  readonly #settings: RedisSettings
  readonly #keys: RedisKeys
  readonly #writes: RedisWrites
  readonly #connection: RedisConnection
  readonly #cache: TrackedCache | undefined
  readonly #dueIndex: DueIndex

  constructor(options: RedisStoreOptions = {}) {
    const settings = redisSettings(options)
    this.#settings = settings
    this.prefix = settings.prefix
    this.#keys = new RedisKeys(settings.prefix)
    this.#writes = new RedisWrites(this.#keys)
    this.#dueIndex = new DueIndex(this.#keys)
    this.#connection = new RedisConnection(settings)
    this.#cache =
      settings.cacheEntries === undefined
        ? undefined
        : new TrackedCache(settings.cacheEntries, [
            this.#keys.tokenPrefix,
            `${settings.prefix}idx:`,
          ])
    if (settings.encryption) return withEncryption(this, settings.encryption)
  }

  /**
   * The ioredis client in use (the given one, or the store's own, connected on first use).
   * Typed as `unknown` so that the declarations need no driver types: cast it to `Redis`.
   */
  get client(): unknown {
    try {
      return this.#connection.client()
    } catch (err) {
      throw this.#connection.wrap('open', err)
    }
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (lookup === undefined) return null
    const key = `${lookup.column}\0${lookup.value}`
    const cached = this.#cache?.get(key)
    if (cached !== undefined) return cached === null ? null : tokenFromRow(cached)
    let ticket: number | undefined
    const index = this.#keys.index(lookup.column, lookup.value)
    const reply = await this.#connection.run('findToken', async (client) => {
      for (let attempt = 1; ; attempt += 1) {
        ticket = this.#cache?.begin(client)
        const found = await evalScript(
          client,
          FIND,
          [index],
          [this.#keys.tokenPrefix, kindOf(lookup.column)],
        )
        if (found !== 1) return found
        if (attempt === 3) {
          throw new TokenStoreError(
            STORE,
            'findToken',
            'the index of this value keeps being written by an earlier tokenkeeper version; ' +
              'upgrade every process that uses this prefix',
          )
        }
        await this.#writes.rank(client, index)
      }
    })
    const row = rowFromReply(reply)
    // The index key holds a hash of the value: the row itself must have the value.
    const found = row !== null && row[lookup.column] === lookup.value ? row : null
    this.#cache?.keep(ticket, key, found)
    return found === null ? null : tokenFromRow(found)
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    assertId(id)
    const hash = await this.#connection.run('findTokenById', (client) =>
      client.hgetall(this.#keys.token(id)),
    )
    const row = rowFromHash(hash, id)
    return row === null ? null : tokenFromRow(row)
  }

  /**
   * Inserts or updates by the rule of `planSave` (see `tokenkeeper`'s store rules): the facts
   * are read in one round trip, the decision is made here, and it is written by a script
   * that first checks the facts again; when another writer changed them in between, the save
   * reads and decides again.
   */
  async saveToken(token: OAuthToken): Promise<void> {
    assertToken(token)
    const claim: Claim = { nonce: randomBytes(8).toString('hex'), member: undefined }
    token.id = await this.#write('saveToken', async (client) => {
      try {
        return await untilDecided('saveToken', SAVE_RACE, () =>
          this.#writes.trySave(client, token, undefined, claim),
        )
      } finally {
        // A number claimed and not written (the save failed): given back at once, not on expiry.
        if (claim.member !== undefined) {
          await client.zrem(this.#keys.claims, claim.member).catch(() => undefined)
        }
      }
    })
  }

  /**
   * Replaces row `token.id` only while it still holds `expected`'s values (see `rowHolds`):
   * the row is read and checked here, and the commit script writes only if the values checked
   * are still there. `false`, and nothing written, otherwise.
   */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    assertConditionalSave(token, expected)
    const id = token.id!
    return this.#write('saveToken', (client) =>
      untilDecided('saveToken', SAVE_RACE, async () => {
        const row = rowFromHash(await client.hgetall(this.#keys.token(id)), id)
        if (row === null || !rowHolds(row, expected)) return false
        return (await this.#writes.trySave(client, token, row)) !== undefined ? true : undefined
      }),
    )
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#write('deleteToken', (client) => this.#writes.deleteOne(client, 'deleteToken', id))
  }

  async getTokens(): Promise<OAuthToken[]> {
    return this.#connection.run('getTokens', async (client) =>
      (await readAll(client, this.#keys, this.#writes)).map(tokenFromRow),
    )
  }

  /**
   * Every token, a page at a time in insertion order: keyset pages on the id set's scores (each
   * row's insertion number, kept while the row lives), `ZRANGEBYSCORE ids (last +inf LIMIT 0
   * pageSize`, then the page's rows in one pipeline. A pass holds one page in memory whatever
   * the store's size, and blocks the server for no longer than one page's reads. A row stored
   * throughout is given once, with its values as read then; one deleted meanwhile is skipped.
   * A `deleteTokens` that empties the store starts the numbering again: a pass running across
   * it misses the rows saved after it with numbers below its position and gives those above.
   */
  iterateTokens(options?: IterateOptions): AsyncIterable<OAuthToken> {
    return this.#pages(pageSizeOf(options))
  }

  async *#pages(pageSize: number): AsyncGenerator<OAuthToken> {
    let after = '-inf'
    for (;;) {
      const page = await this.#connection.run('getTokens', (client) =>
        readPage(client, this.#keys, after, pageSize),
      )
      for (const row of page.rows) {
        // Made as it is given: the sealed-row guard runs in the context of the caller's step.
        let token: OAuthToken
        try {
          token = tokenFromRow(row)
        } catch (err) {
          throw this.#connection.wrap('getTokens', err)
        }
        yield token
      }
      if (page.last === undefined) return
      after = `(${page.last}`
    }
  }

  /**
   * Deletes every token of this prefix, walking the id set in batches: each row goes with
   * its index entries. Keys outside the prefix, and locks, are left alone.
   */
  async deleteTokens(): Promise<void> {
    await this.#write('deleteTokens', async (client) => {
      await loadScript(client, COMMIT)
      await this.#writes.eachPage(client, async (ids) => {
        const states = await this.#writes.readStates(client, ids)
        const pipeline = client.pipeline()
        const sent: string[] = []
        for (const [i, id] of ids.entries()) {
          if (!states[i]!.exists) continue
          const [keys, args] = this.#writes.deletion(id, states[i]!)
          pipeline.evalsha(COMMIT.sha, keys.length, ...keys, ...args)
          sent.push(id)
        }
        const results = await pipeline.exec()
        for (const [i, [err, done]] of (results ?? []).entries()) {
          if (err && !isNoScript(err)) throw err
          // Changed meanwhile, or the script cache was flushed: one by one.
          if (err || done !== 1) await this.#writes.deleteOne(client, 'deleteTokens', sent[i]!)
        }
      })
      const { ids, seq, numbers, numbered } = this.#keys
      await evalScript(client, FORGET_SEQUENCE, [ids, seq, numbers, numbered], [])
    })
  }

  /**
   * A lease on one token between every process and machine using this server and prefix:
   * `SET lock NX PX lease`, tried again by the kit's `takeLease` until had, or a
   * `TokenStoreError` (operation `'lock'`) after `timeoutMs` (default 10000). Its holder renews
   * it every third of the lease (`lockLeaseMs`) with a compare-and-`PEXPIRE`; a holder that
   * dies or stalls is outlived by the lease; `renew()` and `release()` act only while it is
   * still ours.
   *
   * @example
   * const lock = await store.lockToken(id, { timeoutMs: 5000 })
   * try { await refresh() } finally { await lock.release() }
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const key = this.#keys.lock(id)
    const value = randomBytes(16).toString('hex')
    const leaseMs = this.#settings.lockLeaseMs
    const lease = String(Math.ceil(leaseMs))
    const lock = (s: typeof ACQUIRE, args: string[]): Promise<unknown> =>
      this.#connection.run('lock', (client) => evalScript(client, s, [key], args))
    const hold = {
      extend: async () => (await lock(RENEW, [value, lease])) === 1,
      release: async () => void (await lock(RELEASE, [value])),
    }
    return takeLease(
      STORE,
      id,
      { ...lockOptions(STORE, options), leaseMs, pollMs: LOCK_POLL_MS },
      async () => ((await lock(ACQUIRE, [value, lease])) === 1 ? hold : { retryInMs: leaseMs }),
    )
  }

  /**
   * The tokens whose access token expires by `before` (see `DueScan`), in the order of expiry,
   * then id, a page of at most `limit` after the cursor `after`. Read from the due index, a
   * sorted set of ids by expiry that every save and delete keeps in the same script as the row:
   * a scan reads its page's entries and their rows, whatever the store holds. A store written
   * before the index existed is indexed once, by its first scan (see `buildDueIndex`).
   */
  async findDueTokens(options: DueScanOptions): Promise<OAuthToken[]> {
    return this.#connection.run('getTokens', async (client) => {
      await this.#dueIndex.ready(client)
      return findDue(client, this.#keys, options)
    })
  }

  /** The health records of these tokens (see `HealthTracking`, `keeping.ts`): one round trip. */
  async findHealth(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    return this.#connection.run('findHealth', (client) =>
      keeping.findHealth(client, this.#keys, ids),
    )
  }

  /** Keeps a token's health record in its hash while the row exists, or removes it (`null`). */
  async saveHealth(id: string, record: string | null): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    await this.#connection.run('saveHealth', (client) =>
      keeping.saveHealth(client, this.#keys, id, record),
    )
  }

  /** Takes one use of a budget (see `BudgetCounting`), in one script for every process. */
  async takeBudget(key: string, budget: Budget, now: number): Promise<BudgetAnswer> {
    assertBudgetArguments(key, budget, now)
    return this.#connection.run('takeBudget', (client) =>
      keeping.takeBudget(client, this.#keys, key, budget, now),
    )
  }

  /** Closes the store's own connection (a later call opens another); a given client stays open. */
  async close(): Promise<void> {
    this.#cache?.close()
    await this.#connection.close()
  }

  /**
   * A write: the cache forgets before and after it, so that this process reads its own writes
   * at once, and a look-up in flight meanwhile keeps nothing.
   */
  async #write<T>(operation: StoreOperation, body: (client: Redis) => Promise<T>): Promise<T> {
    this.#cache?.invalidate()
    try {
      return await this.#connection.run(operation, body)
    } finally {
      this.#cache?.invalidate()
    }
  }
}

/** Why a save gives up after trying for long. */
const SAVE_RACE = 'other writers kept changing the rows this save depends on'

/** How often a waiting `lockToken` asks again (ms): a holder may release long before its lease ends. */
const LOCK_POLL_MS = 25

/**
 * Tokens in Redis (ioredis), shared by every process and machine that uses the same server
 * and prefix. One hash per token under the official column names, an index key per lookup
 * value, and a sorted set of ids; every write is one Lua script that first checks that what
 * the upsert decision read is unchanged, so concurrent saves from many processes never give
 * a user two rows or leave an index entry behind. `findToken` is one round trip. The keys are
 * listed in `RedisKeys`. Meant for a standalone server (or one with replicas), without
 * eviction of keys (`maxmemory-policy noeviction`).
 *
 * Built with `encryption`, the store also has `rekey()`: the constructor returns the
 * encrypting store then (see `withEncryption`), and its type says so.
 *
 * @class
 * @typeParam _NotForExtends - Never given: it keeps the encrypting constructor out of
 * `class X extends RedisStore`, which must see one base constructor.
 *
 * @example
 * import { RedisStore } from 'tokenkeeper/stores/redis'
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379/0' })
 * await store.saveToken(token)
 * const lock = await store.lockToken(token.id!) // coordinate a refresh between processes
 * try { ... } finally { await lock.release() }
 */
const EncryptingRedisStore = RedisStore as EncryptingStoreClass<typeof RedisStore>
type EncryptingRedisStore = RedisStore
export { EncryptingRedisStore as RedisStore }
