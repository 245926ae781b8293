import type { EncryptionOptions } from '../../crypto.js'
import { number, shaped, text } from '../../store-kit/options.js'
import { SERVER_OPTIONS } from '../sql/options.js'

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

/** The rules of {@link PostgresStoreOptions}, key for key. */
export const OPTIONS = {
  ...SERVER_OPTIONS,
  connectionString: text({ nonEmpty: true }),
  pool: shaped(
    'a pg.Pool',
    (v): v is PostgresPool =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as PostgresPool).connect === 'function' &&
      typeof (v as PostgresPool).query === 'function',
  ),
  connectTimeoutMs: number({ above: 0 }).or(10_000),
  applicationName: text().or('tokenkeeper'),
} satisfies Record<keyof PostgresStoreOptions, unknown>
