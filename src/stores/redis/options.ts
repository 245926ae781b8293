// The options of RedisStore, declared once and checked by the store kit. No ioredis types here:
// the published declarations of `tokenkeeper/stores/redis` must compile without the driver.
import type { EncryptionOptions } from '../../crypto.js'
import { InvalidArgumentError } from '../../errors.js'
import { checkOptions, number, shaped, text, type OptionRule } from '../../store-kit/index.js'
import { leaseOption } from '../lease.js'

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

export const STORE = 'RedisStore'

/** The options as the store uses them. */
export interface RedisSettings {
  readonly encryption: EncryptionOptions | undefined
  readonly url: string
  /** An ioredis client (checked by its shape). */
  readonly client: object | undefined
  readonly prefix: string
  readonly lockLeaseMs: number
  readonly connectTimeoutMs: number
  readonly commandTimeoutMs: number
  /** How many look-ups the cache keeps; undefined: no cache. */
  readonly cacheEntries: number | undefined
}

const positive = number({ above: 0 })

const SPEC = {
  encryption: shaped<EncryptionOptions>(
    'encryption options',
    (_v): _v is EncryptionOptions => true,
  ),
  url: shaped<string>('a redis:// or rediss:// URL, such as redis://127.0.0.1:6379/0', validUrl),
  client: shaped<object>('an ioredis Redis client', looksLikeClient),
  prefix: text({ nonEmpty: true }).or('tokenkeeper:'),
  // Checked by leaseOption, the rule every store's lease option follows.
  lockLeaseMs: shaped<number>('a number', (_v): _v is number => true),
  connectTimeoutMs: positive.or(3000),
  commandTimeoutMs: positive.or(5000),
  cache: shaped<boolean | { maxEntries?: number }>(
    'true, false or { maxEntries: a positive integer }',
    validCache,
  ),
} satisfies Record<keyof RedisStoreOptions, OptionRule<unknown>>

/** Checks a `RedisStore`'s options; every refusal is an `InvalidArgumentError` naming the option. */
export function redisSettings(options: RedisStoreOptions): RedisSettings {
  const given = options as { url?: unknown; client?: unknown } | null | undefined
  // Said in the store's own words: which of the two to drop is the user's choice.
  if (given?.url !== undefined && given.client !== undefined) {
    throw new InvalidArgumentError('url', `${STORE} takes a url or a client, not both`)
  }
  const checked = checkOptions(STORE, options, SPEC)
  const cache = checked.cache ?? checked.client === undefined
  return {
    encryption: checked.encryption,
    url: checked.url ?? 'redis://127.0.0.1:6379',
    client: checked.client,
    prefix: checked.prefix,
    lockLeaseMs: leaseOption(STORE, checked.lockLeaseMs),
    connectTimeoutMs: checked.connectTimeoutMs,
    commandTimeoutMs: checked.commandTimeoutMs,
    cacheEntries:
      cache === false ? undefined : cache === true ? 10_000 : (cache.maxEntries ?? 10_000),
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

function looksLikeClient(client: unknown): client is object {
  const c = client as Partial<Record<'evalsha' | 'hgetall' | 'pipeline', unknown>> | null
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.evalsha === 'function' &&
    typeof c.hgetall === 'function' &&
    typeof c.pipeline === 'function'
  )
}

function validCache(cache: unknown): cache is boolean | { maxEntries?: number } {
  if (typeof cache === 'boolean') return true
  if (typeof cache !== 'object' || cache === null) return false
  const { maxEntries } = cache as { maxEntries?: unknown }
  return maxEntries === undefined || (Number.isInteger(maxEntries) && (maxEntries as number) > 0)
}
