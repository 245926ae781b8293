import { createHash, randomBytes } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import {
  InvalidArgumentError,
  refuseUnknownOptions,
  TokenStoreError,
  describeCause,
  type StoreOperation,
} from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'
import {
  EncryptionError,
  FORMAT_V1,
  FORMAT_V2,
  refuseOverwrite,
  sealedRowsAllowed,
} from '../sealed.js'
import { withEncryption, type EncryptingStoreClass } from './encrypted.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  COLUMNS,
  assertConditionalSave,
  assertId,
  assertLookupToken,
  lookupOf,
  MAX_TOKEN_ID,
  nextTokenId,
  numericIdValue,
  planSave,
  rowToWrite,
  rowHolds,
  tokenFromRow,
  type ConditionalSave,
  type LockOptions,
  type LookupColumn,
  type TokenLock,
  type TokenLocking,
  type TokenRow,
  type TokenStore,
} from '../store.js'
import { loadDriver as loadOptional } from './driver.js'
import { pageSizeOf, type IterateOptions, type TokenIteration } from '../iteration.js'
import { Lease, leaseOption, lockOptions } from './lease.js'
import { TrackedCache } from './redis-cache.js'
import { renewal } from './token-locks.js'

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /**
   * The server, as `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS);
   * default `redis://127.0.0.1:6379`. The store opens its own connection on first use.
   */
  url?: string
  /**
   * An ioredis `Redis` client to use instead of a connection of the store's own. The store
   * never closes it, and its options (retries, timeouts) are left as they are.
   */
  client?: unknown
  /** What every key of the store begins with; default `tokenkeeper:`. */
  prefix?: string
  /**
   * How long a token lease from `lockToken` lasts unless renewed (ms); its
   * holder renews it every third of that while it holds it; default 60000.
   */
  lockLeaseMs?: number
  /** Own connection only: how long a connection attempt may take (ms); default 3000. */
  connectTimeoutMs?: number
  /** Own connection only: how long a command may wait for its answer (ms); default 5000. */
  commandTimeoutMs?: number
  /**
   * Keep `findToken` answers in memory, kept correct by Redis's client-side caching
   * (`CLIENT TRACKING` in broadcast mode, Redis 6 or later): any change to the store's keys, by
   * any client, makes the cache forget. A change made elsewhere reaches this process a moment
   * after the writer's answer. Default `true` with the store's own connection, `false` with a
   * given `client` (it would switch tracking on for that client); `{ maxEntries }` bounds it
   * (default 10000). `findTokenById` always asks the server.
   */
  cache?: boolean | { maxEntries?: number }
}

/** Every option of {@link RedisStore}: the compiler keeps this list complete. */
const OPTION_KEYS: Record<keyof RedisStoreOptions, true> = {
  encryption: true,
  url: true,
  client: true,
  prefix: true,
  lockLeaseMs: true,
  connectTimeoutMs: true,
  commandTimeoutMs: true,
  cache: true,
}

type RedisConstructor = new (url: string, options: RedisOptions) => Redis
type Hash = Record<string, string>

const STORE = 'RedisStore'
const DEFAULT_URL = 'redis://127.0.0.1:6379'
/** How many ids `getTokens` and `deleteTokens` handle per round trip. */
const BATCH = 1000
/** How long a save keeps retrying while the rows it read keep changing under it (ms). */
const SAVE_PATIENCE_MS = 10_000
/**
 * How long a claimed number stays reserved for its save (ms): far longer than a save keeps
 * trying (SAVE_PATIENCE_MS). One that outlives its claim (a stalled process) only saves again:
 * the commit refuses a number another saver has taken since.
 */
const CLAIM_MS = 60_000

/** The lookup columns in the order the save script and the gather script use. */
const LOOKUP_COLUMNS = ['user_name', 'access_token', 'grant_token', 'refresh_token'] as const

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

/** A Lua script, sent by its SHA-1 and loaded again when the server has forgotten it. */
interface Script {
  readonly lua: string
  readonly sha: string
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Lua: the winning id of a token index (a sorted set scored by {@link rankOf}, so that its
 * first member is the one `compareRowIds` picks), or false when it names none; and `true`
 * second when the set holds several ids and one of them is scored by its insertion number (a
 * version before the ranks wrote it): then the set must be ranked first (see `#rank`).
 */
const WINNER = `
local function winner(k)
  local first = redis.call('ZRANGE', k, 0, 0)[1]
  if not first then return false, false end
  local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  return first, last[1] ~= first and tonumber(last[2]) > 0
end
`

/**
 * findToken in one round trip. KEYS[1]: the index key. ARGV[1]: the token key prefix;
 * ARGV[2]: 'u' for the user name index (a string holding the id), 'z' for a token index (a
 * sorted set of ids, the winner first). Returns the row's hash as a flat list, nil, or 1 when
 * the index must be ranked first (see WINNER).
 */
const FIND = script(`${WINNER}
local id
if ARGV[2] == 'u' then
  id = redis.call('GET', KEYS[1])
else
  local unranked
  id, unranked = winner(KEYS[1])
  if unranked then return 1 end
end
if not id then return false end
return redis.call('HGETALL', ARGV[1] .. id)
`)

/**
 * The facts of a save in one round trip, and for an insert under a new id, that id. KEYS: the
 * id set, the numbers set, its completeness mark, the claims set, then the lookup index key
 * when ARGV[1] names one ('u' user name, 'z' token index, '' none), then the user name index key
 * when ARGV[2] is '1'. ARGV[3]: the token key prefix; ARGV[4]: the token's id, or '' to read the
 * matched row; ARGV[5]: the claim of this save's previous attempt ('' none); ARGV[6]: this
 * save's nonce; ARGV[7]: how long a claim lasts (ms); ARGV[8]: MAX_TOKEN_ID.
 *
 * Without an id and without a matched row, planSave inserts under a new id: the number is
 * claimed here, atomically: the largest of the numbers set and of the live claims, plus one
 * (`nextTokenId`'s rule, checked against it by the caller), held as `<number>:<expiry ms>:<nonce>`
 * in the claims set (score: the number) until the commit writes the row, the save lets it go,
 * or it expires (a save that died).
 *
 * Returns { matched id, user name owner id, the read row's id, user_name, access_token,
 * grant_token, refresh_token, the claim, a status ('build': the numbers set is not complete
 * yet; 'full': no number is left; 'rank': the lookup's index must be ranked first, see WINNER),
 * the largest number the claim follows } with nil for what is absent.
 */
const GATHER = script(`${WINNER}
local n = 5
local matched = false
if ARGV[1] == 'u' then
  matched = redis.call('GET', KEYS[n])
  n = n + 1
elseif ARGV[1] == 'z' then
  local unranked
  matched, unranked = winner(KEYS[n])
  if unranked then
    return { false, false, false, false, false, false, false, false, 'rank', false }
  end
  n = n + 1
end
local owner = false
if ARGV[2] == '1' then owner = redis.call('GET', KEYS[n]) end
local target = ARGV[4]
if target == '' then target = matched end
local row = {}
if target then
  row = redis.call('HMGET', ARGV[3] .. target,
    'id', 'user_name', 'access_token', 'grant_token', 'refresh_token')
end
local function claim()
  if redis.call('EXISTS', KEYS[3]) == 0 then
    -- Rows without the numbers set (an earlier version wrote them): the caller builds it.
    if redis.call('EXISTS', KEYS[1]) == 1 then return false, 'build', false end
    redis.call('SET', KEYS[3], '1')
  end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  if ARGV[5] ~= '' and redis.call('ZSCORE', KEYS[4], ARGV[5]) then
    if tonumber(string.match(ARGV[5], '^%d+:(%d+):')) > now then return ARGV[5], false, false end
    redis.call('ZREM', KEYS[4], ARGV[5])
  end
  local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
  local largest = top and tonumber(top)
  -- The largest live claim is the top one (each claim is made above every live one); expired
  -- ones (of saves that died) are dropped as they reach the top.
  while true do
    local held = redis.call('ZREVRANGE', KEYS[4], 0, 0)[1]
    if not held then break end
    local number, expiry = string.match(held, '^(%d+):(%d+):')
    if tonumber(expiry) > now then
      if not largest or tonumber(number) > largest then largest = tonumber(number) end
      break
    end
    redis.call('ZREM', KEYS[4], held)
  end
  -- '%.0f': an integer's digits (tostring would give '1e+10' style text past 14 digits).
  local text = largest and string.format('%.0f', largest) or false
  local next = (largest or 0) + 1
  if next > tonumber(ARGV[8]) then return false, 'full', text end
  local member = string.format('%.0f:%.0f:', next, now + tonumber(ARGV[7])) .. ARGV[6]
  redis.call('ZADD', KEYS[4], next, member)
  return member, false, text
end
local claimed, status, largest = false, false, false
if ARGV[4] == '' and not matched then
  claimed, status, largest = claim()
elseif ARGV[5] ~= '' then
  -- No longer an insert (another saver stored this token meanwhile): the claim goes.
  redis.call('ZREM', KEYS[4], ARGV[5])
end
return { matched, owner, row[1] or false, row[2] or false, row[3] or false, row[4] or false,
  row[5] or false, claimed, status, largest }
`)

/**
 * Part of building the numbers set of a store written without it: adds each (value, id) pair
 * whose row still exists (a row deleted since it was listed stays out). ARGV[1]: the token key
 * prefix. Concurrent writers are safe: the commit script keeps the set for every row it writes.
 */
const ADD_NUMBERS = script(`
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
`)

/**
 * Writes or deletes one row with its index entries, only if everything the caller's decision
 * read is still as it read it (the server-side equivalent of WATCH ... EXEC); returns 0 and
 * changes nothing otherwise, and the caller reads again and decides again.
 *
 * KEYS: the row's hash, the id set, the sequence counter, the numbers set (score: an id's
 * numeric value, member: the id), the claims set, then the index keys of the checks, of the
 * entries to remove and of the entries to add, in that order.
 * ARGV: mode ('put' | 'putif' | 'del'), id, '0' (the row must not exist) or '1' (it must exist
 * with these lookup values:) or '2' (as '1', and hold no sealed value: a store without keys
 * never replaces a sealed row; returns 2 when it does) user_name, access_token, grant_token,
 * refresh_token ('' = absent),
 * the numbers of checks, removals and additions, the id's numeric value ('' when it has none),
 * the claim the id was taken under ('' none), the id's score in the token indexes
 * ({@link rankOf}), for 'putif' the access_token, refresh_token
 * and expiry_time the row must still hold as read ('' = absent), then per check its kind ('u' |
 * 'z') and the id it must find first ('' = none), per removal and per addition its kind, and
 * for 'put' and 'putif' the row's fields and values.
 */
const COMMIT = script(`${WINNER}
local id = ARGV[2]
if ARGV[3] == '0' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    -- A numeric row missing from the numbers set (an earlier version wrote it meanwhile) is
    -- added, and a claim that named it goes: the next attempt numbers past it.
    if ARGV[11] ~= '' then redis.call('ZADD', KEYS[4], ARGV[11], id) end
    if ARGV[12] ~= '' then redis.call('ZREM', KEYS[5], ARGV[12]) end
    return 0
  end
else
  local row = redis.call('HMGET', KEYS[1], 'id', 'user_name', 'access_token', 'grant_token',
    'refresh_token')
  if not row[1] then return 0 end
  for i = 2, 5 do
    if (row[i] or '') ~= ARGV[i + 2] then return 0 end
  end
  if ARGV[3] == '2' then
    local held = redis.call('HMGET', KEYS[1], 'client_secret', 'refresh_token', 'access_token',
      'grant_token', 'api_domain')
    for i = 1, 5 do
      local mark = held[i] and string.sub(held[i], 1, 4)
      if mark == '${FORMAT_V1}' or mark == '${FORMAT_V2}' then return 2 end
    end
  end
end
local checks, removals, additions = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local a, k = 14, 6
if ARGV[1] == 'putif' then
  local held = redis.call('HMGET', KEYS[1], 'access_token', 'refresh_token', 'expiry_time')
  for i = 1, 3 do
    if (held[i] or '') ~= ARGV[a + i - 1] then return 0 end
  end
  a = a + 3
end
for i = 1, checks do
  local current, unranked
  if ARGV[a] == 'u' then
    current = redis.call('GET', KEYS[k])
  else
    current, unranked = winner(KEYS[k])
    if unranked then return 0 end
  end
  if (current or '') ~= ARGV[a + 1] then return 0 end
  a, k = a + 2, k + 1
end
for i = 1, removals do
  if ARGV[a] == 'u' then
    if redis.call('GET', KEYS[k]) == id then redis.call('DEL', KEYS[k]) end
  else
    redis.call('ZREM', KEYS[k], id)
  end
  a, k = a + 1, k + 1
end
if ARGV[1] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[4], id)
  return 1
end
local score = redis.call('ZSCORE', KEYS[2], id)
if not score then
  score = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], score, id)
end
for i = 1, additions do
  if ARGV[a] == 'u' then
    redis.call('SET', KEYS[k], id)
  else
    redis.call('ZADD', KEYS[k], ARGV[13], id)
  end
  a, k = a + 1, k + 1
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, a))
if ARGV[11] ~= '' then redis.call('ZADD', KEYS[4], ARGV[11], id) end
if ARGV[12] ~= '' then redis.call('ZREM', KEYS[5], ARGV[12]) end
return 1
`)

/**
 * After deleteTokens, when no row is left: the sequence counter, the numbers set and its mark
 * go too (an empty store is marked again by its first insert). Claims of saves in flight stay.
 */
const FORGET_SEQUENCE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4]) end
return 1
`)

/**
 * Takes a lock: SET NX PX. When the key already holds our own value (the reply to an earlier
 * attempt was lost with its connection, and the command was sent again), the lock is ours.
 */
const ACQUIRE = script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

/** Renews a lease: pushes its expiry back only while it is still ours. */
const RENEW = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

/** Releases a lock only while it is still ours. */
const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

/** The lookup values of a stored row, as the save decision read them. */
interface RowState {
  readonly exists: boolean
  readonly values: Readonly<Record<LookupColumn, string | null>>
}

const ABSENT: RowState = {
  exists: false,
  values: { user_name: null, access_token: null, grant_token: null, refresh_token: null },
}

/**
 * Tokens in Redis (ioredis), shared by every process and machine that uses the same server
 * and prefix. One hash per token under the official column names, an index key per lookup
 * value, and a sorted set of ids; every write is one Lua script that first checks that what
 * the upsert decision read is unchanged, so concurrent saves from many processes never give
 * a user two rows or leave an index entry behind. `findToken` is one round trip.
 *
 * Keys, after the prefix: `token:<id>` (hash), `idx:user_name:<sha256 of the name>` (the
 * id), `idx:access_token|grant_token|refresh_token:<sha256 of the value>` (sorted set of the
 * ids that have the value, the row `compareRowIds` picks first, see `rankOf`), `ids` (sorted set of ids by insertion), `seq`
 * (the insertion counter), `numbers` (sorted set of the numeric ids by value, for the numbering
 * rule of `nextTokenId`), `numbered` (marks `numbers` complete; a store written before it is
 * numbered from `ids` once, on its first insert under a new id), `claims` (numbers taken by
 * inserts in flight), `lock:<id>` (locks). Meant for a standalone server (or one with
 * replicas), without eviction of keys (`maxmemory-policy noeviction`).
 *
 * @example
 * import { RedisStore } from 'tokenkeeper/stores/redis'
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379/0' })
 * await store.saveToken(token)
 * const lock = await store.lockToken(token.id!) // coordinate a refresh between processes
 * try { ... } finally { await lock.release() }
 */
class RedisStore implements TokenStore, TokenIteration, TokenLocking, ConditionalSave {
  /** What every key of the store begins with. */
  readonly prefix: string
  readonly #url: string
  readonly #given: Redis | undefined
  readonly #lockLeaseMs: number
  readonly #connectTimeoutMs: number
  readonly #commandTimeoutMs: number
  readonly #tokenPrefix: string
  readonly #idsKey: string
  readonly #seqKey: string
  readonly #numbersKey: string
  readonly #numberedKey: string
  readonly #claimsKey: string
  /** The build of the numbers set this process is running, shared by its saves. */
  #numbering: Promise<void> | undefined
  #own: Redis | undefined
  #lastConnectionError: string | undefined
  readonly #cache: TrackedCache | undefined

  constructor(options: RedisStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'RedisStore expects an options object')
    }
    refuseUnknownOptions('RedisStore', options, Object.keys(OPTION_KEYS))
    const {
      url,
      client,
      prefix = 'tokenkeeper:',
      lockLeaseMs,
      connectTimeoutMs = 3000,
      commandTimeoutMs = 5000,
      cache = client === undefined,
    } = options
    if (url !== undefined && client !== undefined) {
      throw new InvalidArgumentError('url', 'RedisStore takes a url or a client, not both')
    }
    if (url !== undefined && !validUrl(url)) {
      throw new InvalidArgumentError(
        'url',
        'RedisStore url must be a redis:// or rediss:// URL, such as redis://127.0.0.1:6379/0',
      )
    }
    if (client !== undefined && !looksLikeClient(client)) {
      throw new InvalidArgumentError('client', 'RedisStore client must be an ioredis Redis client')
    }
    if (typeof prefix !== 'string' || prefix.length === 0) {
      throw new InvalidArgumentError('prefix', 'RedisStore prefix must be a non-empty string')
    }
    positive(connectTimeoutMs, 'connectTimeoutMs')
    positive(commandTimeoutMs, 'commandTimeoutMs')
    const maxEntries = typeof cache === 'object' && cache !== null ? cache.maxEntries : undefined
    if (
      !(typeof cache === 'boolean' || (typeof cache === 'object' && cache !== null)) ||
      (maxEntries !== undefined && !(Number.isInteger(maxEntries) && maxEntries > 0))
    ) {
      throw new InvalidArgumentError(
        'cache',
        'RedisStore cache must be true, false or { maxEntries: a positive integer }',
      )
    }
    this.prefix = prefix
    this.#url = url ?? DEFAULT_URL
    this.#given = client as Redis | undefined
    this.#lockLeaseMs = leaseOption(STORE, lockLeaseMs)
    this.#connectTimeoutMs = connectTimeoutMs
    this.#commandTimeoutMs = commandTimeoutMs
    this.#tokenPrefix = `${prefix}token:`
    this.#idsKey = `${prefix}ids`
    this.#seqKey = `${prefix}seq`
    this.#numbersKey = `${prefix}numbers`
    this.#numberedKey = `${prefix}numbered`
    this.#claimsKey = `${prefix}claims`
    this.#cache =
      cache === false
        ? undefined
        : new TrackedCache(maxEntries ?? 10_000, [this.#tokenPrefix, `${prefix}idx:`])
    if (options.encryption) return withEncryption(this, options.encryption)
  }

  /**
   * The ioredis client in use (the given one, or the store's own, connected on first use).
   * Typed as `unknown` so that the declarations need no driver types: cast it to `Redis`.
   */
  get client(): unknown {
    return this.#use('open', (client) => client)
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (lookup === undefined) return null
    const key = `${lookup.column}\0${lookup.value}`
    const cached = this.#cache?.get(key)
    if (cached !== undefined) return cached === null ? null : tokenFromRow(cached)
    let ticket: number | undefined
    const index = this.#indexKey(lookup.column, lookup.value)
    const reply = await this.#run('findToken', async (client) => {
      for (let attempt = 1; ; attempt += 1) {
        ticket = this.#cache?.begin(client)
        const found = await this.#eval(
          client,
          FIND,
          [index],
          [this.#tokenPrefix, kindOf(lookup.column)],
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
        await this.#rank(client, index)
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
    const hash = await this.#run('findTokenById', (client) => client.hgetall(this.#tokenKey(id)))
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
        return await this.#untilDecided(() => this.#trySave(client, token, undefined, claim))
      } finally {
        // A number claimed and not written (the save failed): given back at once, not on expiry.
        if (claim.member !== undefined) {
          await client.zrem(this.#claimsKey, claim.member).catch(() => undefined)
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
      this.#untilDecided(async () => {
        const row = rowFromHash(await client.hgetall(this.#tokenKey(id)), id)
        if (row === null || !rowHolds(row, expected)) return false
        return (await this.#trySave(client, token, row)) !== undefined ? true : undefined
      }),
    )
  }

  /**
   * Runs one attempt of a save until it decides (anything but undefined): undefined means the
   * rows it read changed before it wrote, and it reads and decides again.
   */
  async #untilDecided<T>(attempt: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + SAVE_PATIENCE_MS
    for (let tries = 1; ; tries += 1) {
      const decided = await attempt()
      if (decided !== undefined) return decided
      if (Date.now() > deadline) {
        throw new TokenStoreError(
          STORE,
          'saveToken',
          `gave up after ${tries} attempts: other writers kept changing the rows this save depends on`,
        )
      }
      // Others are writing the same rows: let them finish, more patiently each time.
      if (tries >= 3) await sleep(Math.random() * Math.min(2 ** (tries - 1), 50))
    }
  }

  async deleteToken(id: string): Promise<void> {
    assertId(id)
    await this.#write('deleteToken', (client) => this.#deleteOne(client, 'deleteToken', id))
  }

  async getTokens(): Promise<OAuthToken[]> {
    return this.#run('getTokens', async (client) => {
      const tokens: OAuthToken[] = []
      await this.#eachPage(client, async (ids) => {
        const pipeline = client.pipeline()
        for (const id of ids) pipeline.hgetall(this.#tokenKey(id))
        const results = settled(await pipeline.exec())
        for (const [i, hash] of results.entries()) {
          const row = rowFromHash(hash as Hash, ids[i]!)
          if (row !== null) tokens.push(tokenFromRow(row))
        }
      })
      return tokens
    })
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
      const page = await this.#run('getTokens', (client) => this.#page(client, after, pageSize))
      for (const row of page.rows) {
        // Made as it is given: the sealed-row guard runs in the context of the caller's step.
        let token: OAuthToken
        try {
          token = tokenFromRow(row)
        } catch (err) {
          throw this.#wrap('getTokens', err)
        }
        yield token
      }
      if (page.last === undefined) return
      after = `(${page.last}`
    }
  }

  /**
   * One page of rows after score `after`, and the last score listed when the page was full. A
   * row whose score changed since it was listed (deleted and saved again under its id: a new
   * row, with a later number) is left to the page of its new score, so it is not given twice.
   */
  async #page(
    client: Redis,
    after: string,
    pageSize: number,
  ): Promise<{ rows: TokenRow[]; last: string | undefined }> {
    const listed = await client.zrangebyscore(
      this.#idsKey,
      after,
      '+inf',
      'WITHSCORES',
      'LIMIT',
      0,
      pageSize,
    )
    if (listed.length === 0) return { rows: [], last: undefined }
    const pipeline = client.pipeline()
    for (let i = 0; i < listed.length; i += 2) {
      pipeline.hgetall(this.#tokenKey(listed[i]!))
      pipeline.zscore(this.#idsKey, listed[i]!)
    }
    const results = settled(await pipeline.exec())
    const rows: TokenRow[] = []
    for (let i = 0; i < listed.length; i += 2) {
      // Read after the row: the same score then means the row read is the one listed.
      if (results[i + 1] !== listed[i + 1]) continue
      const row = rowFromHash(results[i] as Hash, listed[i]!)
      if (row !== null) rows.push(row)
    }
    const full = listed.length === 2 * pageSize
    return { rows, last: full ? listed[listed.length - 1] : undefined }
  }

  /**
   * Deletes every token of this prefix, walking the id set in batches: each row goes with
   * its index entries. Keys outside the prefix, and locks, are left alone.
   */
  async deleteTokens(): Promise<void> {
    await this.#write('deleteTokens', async (client) => {
      await this.#load(client, COMMIT)
      await this.#eachPage(client, async (ids) => {
        const states = await this.#readStates(client, ids)
        const pipeline = client.pipeline()
        const sent: string[] = []
        for (const [i, id] of ids.entries()) {
          if (!states[i]!.exists) continue
          const [keys, args] = this.#deletion(id, states[i]!)
          pipeline.evalsha(COMMIT.sha, keys.length, ...keys, ...args)
          sent.push(id)
        }
        const results = await pipeline.exec()
        for (const [i, [err, done]] of (results ?? []).entries()) {
          if (err && !isNoScript(err)) throw err
          // Changed meanwhile, or the script cache was flushed: one by one.
          if (err || done !== 1) await this.#deleteOne(client, 'deleteTokens', sent[i]!)
        }
      })
      await this.#eval(
        client,
        FORGET_SEQUENCE,
        [this.#idsKey, this.#seqKey, this.#numbersKey, this.#numberedKey],
        [],
      )
    })
  }

  /**
   * A lease on one token between every process and machine using this server and prefix:
   * `SET lock NX PX lease`, polled with short random sleeps until had, or a `TokenStoreError`
   * (operation `'lock'`) after `timeoutMs` (default 10000). Its holder renews it every third of
   * the lease (`lockLeaseMs`) with a compare-and-`PEXPIRE`; a holder that dies or stalls is
   * outlived by the lease; `renew()` and `release()` act only while it is still ours.
   *
   * @example
   * const lock = await store.lockToken(id, { timeoutMs: 5000 })
   * try { await refresh() } finally { await lock.release() }
   */
  async lockToken(id: string, options?: LockOptions): Promise<TokenLock> {
    assertId(id)
    const { timeoutMs, autoRenew } = lockOptions(STORE, options)
    const key = `${this.prefix}lock:${id}`
    const value = randomBytes(16).toString('hex')
    const lease = String(Math.ceil(this.#lockLeaseMs))
    const deadline = Date.now() + timeoutMs
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      const had = await this.#run('lock', (client) =>
        this.#eval(client, ACQUIRE, [key], [value, lease]),
      )
      if (had === 1) break
      const left = deadline - Date.now()
      if (left <= 0) {
        throw new TokenStoreError(
          STORE,
          'lock',
          `token ${id} stayed locked by another holder for ${timeoutMs} ms`,
        )
      }
      await sleep(Math.min(left, delay * (0.5 + Math.random())))
    }
    return new Lease(
      STORE,
      `token ${id}`,
      {
        extend: async () =>
          (await this.#run('lock', (client) =>
            this.#eval(client, RENEW, [key], [value, lease]),
          )) === 1,
        release: async () => {
          await this.#run('lock', (client) => this.#eval(client, RELEASE, [key], [value]))
        },
      },
      renewal({ leaseMs: this.#lockLeaseMs, autoRenew }),
    )
  }

  /** Closes the store's own connection (a later call opens another); a given client stays open. */
  async close(): Promise<void> {
    this.#cache?.close()
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

  /**
   * One attempt of a save: the id it was saved under, or undefined when the facts changed.
   * With `fence` (the row as read), only while the row still holds its access token, refresh
   * token and expiry. An insert under a new id takes the number `claim`s in the same round trip
   * as the facts, so that the row (which the encryption wrapper seals for its id) is built for
   * the id it is written under; the commit then writes it only if that row is still absent.
   */
  async #trySave(
    client: Redis,
    token: OAuthToken,
    fence?: TokenRow,
    claim?: Claim,
  ): Promise<string | undefined> {
    const lookup = token.id === undefined ? lookupOf(token) : undefined
    const name = token.userSignature?.name
    const userKey = name ? this.#indexKey('user_name', name) : undefined
    const lookupKey = lookup && this.#indexKey(lookup.column, lookup.value)
    const gather = async (): Promise<(string | null)[]> =>
      (await this.#eval(
        client,
        GATHER,
        [
          this.#idsKey,
          this.#numbersKey,
          this.#numberedKey,
          this.#claimsKey,
          ...[lookupKey, userKey].filter((key) => key !== undefined),
        ],
        [
          lookup ? kindOf(lookup.column) : '',
          userKey ? '1' : '',
          this.#tokenPrefix,
          token.id ?? '',
          claim?.member ?? '',
          claim?.nonce ?? '',
          String(CLAIM_MS),
          String(MAX_TOKEN_ID),
        ],
      )) as (string | null)[]
    let reply = await gather()
    if (reply[8] === 'rank') {
      await this.#rank(client, lookupKey!)
      return undefined
    }
    if (reply[8] === 'build') {
      await this.#buildNumbers(client)
      reply = await gather()
      // Emptied and written again meanwhile: another attempt.
      if (reply[8] === 'build') return undefined
    }
    const [matched, owner, rowId, v1, v2, v3, v4, claimed, status, largest] = reply
    const read: RowState = {
      exists: rowId !== null && rowId !== undefined,
      values: lookupValues([v1, v2, v3, v4]),
    }
    // A conditional save of a row that went away meanwhile: read again (and find it gone).
    if (fence && !read.exists) return undefined
    const matchedId = matched ?? undefined
    const plan = planSave(STORE, token, {
      idExists: token.id !== undefined && read.exists,
      matchedId,
      userOwnerId: owner ?? undefined,
    })
    const id = plan.id ?? this.#claimedId(claim, claimed, status, largest)
    // The row read is the one written, unless the plan is a new id.
    const old = plan.id === undefined ? ABSENT : read
    const row = rowToWrite(token, id)

    const checks: [string, string, string][] = []
    if (lookup && lookupKey) checks.push([lookupKey, kindOf(lookup.column), matchedId ?? ''])
    if (userKey) checks.push([userKey, 'u', owner ?? ''])
    const removals: [string, string][] = []
    const additions: [string, string][] = []
    for (const column of LOOKUP_COLUMNS) {
      const before = old.values[column]
      const after = row[column]
      if (before === after) continue
      if (before !== null) removals.push([this.#indexKey(column, before), kindOf(column)])
      if (after !== null) additions.push([this.#indexKey(column, after), kindOf(column)])
    }
    const fields: string[] = []
    for (const column of COLUMNS) {
      const value = row[column]
      if (value !== null) fields.push(column, value)
    }
    const done = await this.#eval(
      client,
      COMMIT,
      [
        ...this.#rowKeys(id),
        ...checks.map(([key]) => key),
        ...removals.map(([key]) => key),
        ...additions.map(([key]) => key),
      ],
      [
        fence ? 'putif' : 'put',
        id,
        ...expectation(old, !sealedRowsAllowed()),
        String(checks.length),
        String(removals.length),
        String(additions.length),
        numberOf(id),
        plan.id === undefined ? claim!.member! : '',
        rankOf(id),
        ...(fence
          ? [fence.access_token ?? '', fence.refresh_token ?? '', fence.expiry_time ?? '']
          : []),
        ...checks.flatMap(([, kind, expected]) => [kind, expected]),
        ...removals.map(([, kind]) => kind),
        ...additions.map(([, kind]) => kind),
        ...fields,
      ],
    )
    if (done === 2) {
      // The row holds sealed values: refused, with the error every store gives (the row is
      // read again only to name the column; changed meanwhile, the save decides again).
      refuseOverwrite(id, rowFromHash(await client.hgetall(this.#tokenKey(id)), id) ?? undefined)
      return undefined
    }
    // Written: the claim is spent (the commit removed it).
    if (done === 1 && plan.id === undefined) claim!.member = undefined
    return done === 1 ? id : undefined
  }

  /**
   * The id of an insert under a new id: the number the gather script claimed, which must be
   * what `nextTokenId` gives after the largest number the script saw (the rule is written
   * there; a script that disagreed would be a bug, and nothing is written). Out of numbers, it
   * is `nextTokenId`'s own error.
   */
  #claimedId(
    claim: Claim | undefined,
    claimed: string | null | undefined,
    status: string | null | undefined,
    largest: string | null | undefined,
  ): string {
    const seen = largest === null || largest === undefined ? undefined : Number(largest)
    if (status === 'full') nextTokenId(STORE, seen)
    if (claim === undefined || claimed === null || claimed === undefined) {
      throw new TokenStoreError(STORE, 'saveToken', 'the save script claimed no id for an insert')
    }
    const fresh = claimed !== claim.member
    claim.member = claimed
    const id = claimed.slice(0, claimed.indexOf(':'))
    if (fresh && nextTokenId(STORE, seen) !== id) {
      throw new TokenStoreError(
        STORE,
        'saveToken',
        `the save script claimed id ${id} after ${seen ?? 'no'} numeric id`,
      )
    }
    return id
  }

  /**
   * Builds the numbers set of a store written before it existed, once (the rows' numeric ids,
   * from the id set, a batch per round trip), then marks it complete. Safe beside writers: the
   * commit script keeps the set for every row written meanwhile, and a listed row deleted
   * since is left out. Concurrent saves of this process share one build.
   */
  async #buildNumbers(client: Redis): Promise<void> {
    this.#numbering ??= (async () => {
      try {
        await this.#load(client, ADD_NUMBERS)
        let cursor = '0'
        do {
          const [next, page] = await client.zscan(this.#idsKey, cursor, 'COUNT', BATCH)
          cursor = next
          const pairs: string[] = []
          for (let i = 0; i < page.length; i += 2) {
            const id = page[i]!
            const number = numberOf(id)
            if (number !== '') pairs.push(number, id)
          }
          if (pairs.length > 0) {
            await this.#eval(client, ADD_NUMBERS, [this.#numbersKey], [this.#tokenPrefix, ...pairs])
          }
        } while (cursor !== '0')
        await client.set(this.#numberedKey, '1')
      } finally {
        this.#numbering = undefined
      }
    })()
    return this.#numbering
  }

  /**
   * Scores the ids of a token index by {@link rankOf}, where a version before the ranks scored
   * them by insertion. `XX`: an id removed meanwhile stays out; one added meanwhile has its rank.
   */
  async #rank(client: Redis, index: string): Promise<void> {
    const ids = await client.zrange(index, 0, -1)
    if (ids.length > 0) await client.zadd(index, 'XX', ...ids.flatMap((id) => [rankOf(id), id]))
  }

  /** The first keys of the commit script: the row, the id set, the counter, numbers, claims. */
  #rowKeys(id: string): string[] {
    return [this.#tokenKey(id), this.#idsKey, this.#seqKey, this.#numbersKey, this.#claimsKey]
  }

  /** Deletes one row and its index entries, reading it again while others change it. */
  async #deleteOne(client: Redis, operation: StoreOperation, id: string): Promise<void> {
    const deadline = Date.now() + SAVE_PATIENCE_MS
    for (let attempt = 0; ; attempt += 1) {
      const [state] = await this.#readStates(client, [id])
      if (!state!.exists) return
      const done = await this.#eval(client, COMMIT, ...this.#deletion(id, state!))
      if (done === 1) return
      if (Date.now() > deadline) {
        throw new TokenStoreError(
          STORE,
          operation,
          `gave up after ${attempt + 1} attempts: other writers kept changing token ${id}`,
        )
      }
      if (attempt >= 2) await sleep(Math.random() * Math.min(2 ** attempt, 50))
    }
  }

  /** The keys and arguments of the commit script that deletes a row read as `state`. */
  #deletion(id: string, state: RowState): [string[], string[]] {
    const removals: [string, string][] = []
    for (const column of LOOKUP_COLUMNS) {
      const value = state.values[column]
      if (value !== null) removals.push([this.#indexKey(column, value), kindOf(column)])
    }
    return [
      [...this.#rowKeys(id), ...removals.map(([key]) => key)],
      [
        'del',
        id,
        ...expectation(state),
        '0',
        String(removals.length),
        '0',
        '',
        '',
        '',
        ...removals.map(([, kind]) => kind),
      ],
    ]
  }

  /** The lookup values of rows, in one round trip. */
  async #readStates(client: Redis, ids: readonly string[]): Promise<RowState[]> {
    const pipeline = client.pipeline()
    for (const id of ids) pipeline.hmget(this.#tokenKey(id), 'id', ...LOOKUP_COLUMNS)
    return settled(await pipeline.exec()).map((reply) => {
      const [rowId, ...values] = reply as (string | null)[]
      return { exists: rowId !== null && rowId !== undefined, values: lookupValues(values) }
    })
  }

  /** Calls `body` with the ids in insertion order, a batch at a time (keyset pagination). */
  async #eachPage(client: Redis, body: (ids: string[]) => Promise<void>): Promise<void> {
    let after = '-inf'
    for (;;) {
      const page = await client.zrangebyscore(
        this.#idsKey,
        after,
        '+inf',
        'WITHSCORES',
        'LIMIT',
        0,
        BATCH,
      )
      if (page.length === 0) return
      const ids = page.filter((_, i) => i % 2 === 0)
      await body(ids)
      if (ids.length < BATCH) return
      after = `(${page[page.length - 1]}`
    }
  }

  /** Runs a script by its SHA-1, sending its text only when the server does not have it. */
  async #eval(client: Redis, s: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await client.evalsha(s.sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!isNoScript(err)) throw err
      return client.eval(s.lua, keys.length, ...keys, ...args)
    }
  }

  async #load(client: Redis, s: Script): Promise<void> {
    await client.script('LOAD', s.lua)
  }

  #tokenKey(id: string): string {
    return this.#tokenPrefix + id
  }

  /** The index key of a lookup value: a SHA-256 of it, so any value fits and none shows. */
  #indexKey(column: LookupColumn, value: string): string {
    return `${this.prefix}idx:${column}:${createHash('sha256').update(value).digest('hex')}`
  }

  /**
   * A write: the cache forgets before and after it, so that this process reads its own writes
   * at once, and a look-up in flight meanwhile keeps nothing.
   */
  async #write<T>(operation: StoreOperation, body: (client: Redis) => Promise<T>): Promise<T> {
    this.#cache?.invalidate()
    try {
      return await this.#run(operation, body)
    } finally {
      this.#cache?.invalidate()
    }
  }

  async #run<T>(operation: StoreOperation, body: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await body(this.#connection())
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #use<T>(operation: StoreOperation, body: (client: Redis) => T): T {
    try {
      return body(this.#connection())
    } catch (err) {
      throw this.#wrap(operation, err)
    }
  }

  #connection(): Redis {
    if (this.#given) return this.#given
    if (this.#own) return this.#own
    const Driver = loadDriver()
    const client = new Driver(this.#url, {
      connectionName: 'tokenkeeper',
      connectTimeout: this.#connectTimeoutMs,
      // Every command has an answer or an error within this time, even while disconnected.
      commandTimeout: this.#commandTimeoutMs,
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

  #wrap(operation: StoreOperation, err: unknown): unknown {
    if (
      err instanceof TokenStoreError ||
      err instanceof InvalidArgumentError ||
      err instanceof EncryptionError
    ) {
      return err
    }
    return new TokenStoreError(STORE, operation, this.#explain(err), { cause: err })
  }

  #explain(err: unknown): string {
    const message = describeCause(err)
    const last = this.#lastConnectionError
    const detail = last ? ` (${last})` : ''
    if (/Command timed out/.test(message)) {
      return `the Redis server did not answer within ${this.#commandTimeoutMs} ms${detail}`
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

function validUrl(url: unknown): url is string {
  if (typeof url !== 'string') return false
  try {
    const { protocol } = new URL(url)
    return protocol === 'redis:' || protocol === 'rediss:'
  } catch {
    return false
  }
}

function looksLikeClient(client: unknown): boolean {
  const c = client as Partial<Record<'evalsha' | 'hgetall' | 'pipeline', unknown>> | null
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.evalsha === 'function' &&
    typeof c.hgetall === 'function' &&
    typeof c.pipeline === 'function'
  )
}

function positive(value: unknown, name: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidArgumentError(name, `RedisStore ${name} must be a positive number`)
  }
}

/** A save's hold on a new number: its nonce, and the claim it holds (`<number>:<expiry>:<nonce>`). */
interface Claim {
  readonly nonce: string
  member: string | undefined
}

/** An id's score in the numbers set (`numericIdValue`, the one rule), or '' when it has none. */
function numberOf(id: string): string {
  const value = numericIdValue(id)
  return value === undefined ? '' : String(value)
}

/**
 * An id's score in the token indexes: its `numericIdValue` less 10^10 (below zero) when it is
 * numbered, zero otherwise. Members of equal score are in the order of their bytes, so that the
 * first member of an index is the row `compareRowIds` picks. Insertion numbers (at least 1)
 * are what a version before the ranks wrote (see WINNER).
 */
function rankOf(id: string): string {
  const value = numericIdValue(id)
  return String(value === undefined ? 0 : value - (MAX_TOKEN_ID + 1))
}

/** The index of the user name holds one id; the token indexes may name several rows. */
function kindOf(column: LookupColumn): 'u' | 'z' {
  return column === 'user_name' ? 'u' : 'z'
}

function lookupValues(values: readonly (string | null | undefined)[]): RowState['values'] {
  return {
    user_name: values[0] ?? null,
    access_token: values[1] ?? null,
    grant_token: values[2] ?? null,
    refresh_token: values[3] ?? null,
  }
}

/**
 * The row state as the commit script checks it: existence, then the four lookup values. With
 * `unsealed`, an existing row must also hold no sealed value.
 */
function expectation(state: RowState, unsealed = false): string[] {
  return [
    state.exists ? (unsealed ? '2' : '1') : '0',
    ...LOOKUP_COLUMNS.map((column) => (state.exists ? (state.values[column] ?? '') : '')),
  ]
}

function rowFromHash(hash: Hash | null | undefined, id: string): TokenRow | null {
  if (!hash || hash.id === undefined) return null
  const row = { id } as TokenRow
  for (const column of COLUMNS) row[column] = hash[column] ?? null
  return row
}

function rowFromReply(reply: unknown): TokenRow | null {
  if (!Array.isArray(reply) || reply.length === 0) return null
  const hash: Hash = {}
  for (let i = 0; i + 1 < reply.length; i += 2) hash[reply[i] as string] = reply[i + 1] as string
  return rowFromHash(hash, hash.id ?? '')
}

/** The results of a pipeline, throwing the first error. */
function settled(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('the pipeline was discarded')
  return results.map(([err, value]) => {
    if (err) throw err
    return value
  })
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * {@link RedisStore}, typed so that a store built with `encryption` has `rekey()` (the
 * constructor returns the encrypting store then; see `withEncryption`).
 */
const EncryptingRedisStore = RedisStore as EncryptingStoreClass<typeof RedisStore>
type EncryptingRedisStore = RedisStore
export { EncryptingRedisStore as RedisStore }
