import { InvalidArgumentError } from '../errors.js'
import type { TokenStore } from '../store.js'
import { FileStore } from './file.js'
import { ListStore } from './list.js'
import { MemoryStore } from './memory.js'

/**
 * The query parameters each kind of store URL takes: `own` ones the store reads itself, `driver`
 * ones passed on to the driver untouched (as the driver reads them from a URL). Anything else is
 * refused: a misspelt `sslmode` must not quietly leave the connection in cleartext.
 */
const PARAMETERS = {
  memory: { own: [], driver: [] },
  list: { own: [], driver: [] },
  file: { own: [], driver: [] },
  sqlite: { own: ['table'], driver: [] },
  // mysql2 reads every parameter of a URL as an option (JSON values parsed). Those DBStore sets
  // itself (charset utf8mb4, connectTimeout, connectionLimit...) would be overridden, and those
  // that change how rows come back would break it: only these are passed.
  mysql: {
    own: ['table', 'connectTimeout', 'connectionLimit'],
    driver: [
      'ssl',
      'compress',
      'localAddress',
      'socketPath',
      'timezone',
      'insecureAuth',
      'enableCleartextPlugin',
      'password1',
      'password2',
      'password3',
      'passwordSha1',
      'connectAttributes',
      'maxPreparedStatements',
      'keepAliveInitialDelay',
      'flags',
      'maxIdle',
      'idleTimeout',
      'queueLimit',
      'waitForConnections',
      'trace',
    ],
  },
  // What pg reads from a connection string (pg-connection-string and ConnectionParameters).
  // libpq's connect_timeout, which pg ignores, is read by the store.
  postgres: {
    own: ['table', 'connect_timeout'],
    driver: [
      'host',
      'port',
      'user',
      'password',
      'ssl',
      'sslmode',
      'sslcert',
      'sslkey',
      'sslrootcert',
      'sslnegotiation',
      'uselibpqcompat',
      'options',
      'client_encoding',
      'application_name',
      'fallback_application_name',
      'statement_timeout',
      'lock_timeout',
      'idle_in_transaction_session_timeout',
      'query_timeout',
    ],
  },
  // ioredis reads every parameter as an option, ahead of the store's own (timeouts, retries):
  // only these, which the store does not set, are passed.
  redis: { own: ['prefix', 'cache'], driver: ['db', 'family', 'username', 'password'] },
} as const satisfies Record<string, { own: readonly string[]; driver: readonly string[] }>

/** Why a parameter a driver would read is refused anyway. */
const REFUSED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  mysql: {
    charset: 'DBStore always talks utf8mb4, so that every value round-trips',
    debug: 'it prints every packet, tokens included',
    multipleStatements: 'DBStore runs one statement at a time',
  },
}

const ALIASES: Readonly<Record<string, keyof typeof PARAMETERS>> = {
  mariadb: 'mysql',
  postgresql: 'postgres',
  rediss: 'redis',
}

/**
 * Builds a store from a URL, as the CLI's `--store` and `TOKENKEEPER_STORE` take it:
 * `file:./sdk_tokens.txt`, `sqlite:./zohooauth.db`, `sqlite::memory:`, `memory:`, `list:`,
 * `mysql://root@127.0.0.1:3306/zohooauth`, `postgres://…`, `redis://…` (and `mariadb:`,
 * `postgresql:`, `rediss:`). A path is relative (`file:./x`) or absolute (`file:/abs`,
 * `file:///abs`, `sqlite:///abs`), percent-decoded; `file://x` and `file://./x` are refused with
 * an {@link InvalidArgumentError} giving the right form (after `//` comes a host, not a path).
 *
 * Query parameters: `table` (SQL stores); `prefix` and `cache=false` (Redis); `connectTimeout`
 * and `connectionLimit` (MySQL, in ms and connections); `connect_timeout` (PostgreSQL, in
 * seconds). Every other parameter the driver reads from a URL is passed to it as given: MySQL's
 * `ssl` (JSON, such as `ssl={"rejectUnauthorized":true}`), PostgreSQL's `sslmode` and
 * `application_name`, Redis's `db` and `family`... A parameter that neither the store nor its
 * driver reads, or that is given twice, is refused with an {@link InvalidArgumentError} naming
 * it. Drivers load only when asked for.
 *
 * @example
 * const store = await createStore('sqlite:./zohooauth.db?table=oauthtoken')
 */
export async function createStore(url: string): Promise<TokenStore> {
  if (typeof url !== 'string' || !/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    throw new InvalidArgumentError(
      'url',
      'a store URL starts with its kind, such as file:, sqlite:, memory:',
    )
  }
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase()
  const named = ALIASES[scheme] ?? scheme
  if (!Object.hasOwn(PARAMETERS, named)) {
    throw new InvalidArgumentError(
      'url',
      `unknown store kind '${scheme}:'; use file:, sqlite:, memory:, list:, mysql:, postgres: or redis:`,
    )
  }
  const kind = named as keyof typeof PARAMETERS
  const rest = url.slice(scheme.length + 1)
  const at = rest.indexOf('?')
  const location = at === -1 ? rest : rest.slice(0, at)
  const { own, passed } = parameters(kind, rest.slice(at + 1), at)
  /** The URL for the driver: its location and the parameters passed on. */
  const driverUrl = (prefix: string) => `${prefix}${location}${passed ? `?${passed}` : ''}`
  const table = own.get('table')
  const tableOption = table === undefined ? {} : { table }
  switch (kind) {
    case 'memory':
      return new MemoryStore()
    case 'list':
      return new ListStore()
    case 'file':
      return new FileStore(localPath(location, url) || './sdk_tokens.txt')
    case 'sqlite': {
      const { SQLiteStore } = await import('./sqlite.js')
      const path = location === ':memory:' ? ':memory:' : localPath(location, url) || 'zohooauth.db'
      return new SQLiteStore({ path, ...tableOption })
    }
    case 'mysql': {
      const { DBStore } = await import('./mysql.js')
      const connectTimeoutMs = count(own, 'connectTimeout', 1)
      const poolSize = count(own, 'connectionLimit', 1)
      return new DBStore({
        url: driverUrl('mysql:'),
        ...tableOption,
        ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
        ...(poolSize === undefined ? {} : { poolSize }),
      })
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres.js')
      const seconds = count(own, 'connect_timeout', 1)
      return new PostgresStore({
        connectionString: driverUrl(`${scheme}:`),
        ...tableOption,
        ...(seconds === undefined ? {} : { connectTimeoutMs: seconds * 1000 }),
      })
    }
    case 'redis': {
      const { RedisStore } = await import('./redis.js')
      const prefix = own.get('prefix')
      const cache = own.get('cache')
      if (cache !== undefined && !['true', 'false'].includes(cache)) {
        throw new InvalidArgumentError(
          'cache',
          `the cache parameter is true or false, not '${cache}'`,
        )
      }
      return new RedisStore({
        url: driverUrl(`${scheme}:`),
        ...(prefix ? { prefix } : {}),
        ...(cache === undefined ? {} : { cache: cache === 'true' }),
      })
    }
  }
}

/**
 * Splits the query of a store URL into the store's own parameters and the driver's (still
 * encoded, for the driver's URL). Refuses what neither reads, and a parameter given twice.
 * Messages name parameters, never their values (a value may be a password).
 */
function parameters(
  kind: keyof typeof PARAMETERS,
  query: string,
  at: number,
): { own: Map<string, string>; passed: string } {
  const { own: ownNames, driver } = PARAMETERS[kind]
  const own = new Map<string, string>()
  const passed = new URLSearchParams()
  if (at === -1) return { own, passed: '' }
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(query)) {
    if (seen.has(name)) {
      throw new InvalidArgumentError('url', `the store URL gives the parameter '${name}' twice`)
    }
    seen.add(name)
    if ((ownNames as readonly string[]).includes(name)) own.set(name, value)
    else if ((driver as readonly string[]).includes(name)) passed.append(name, value)
    else {
      const why = REFUSED[kind]?.[name]
      const known = [...ownNames, ...driver]
      throw new InvalidArgumentError(
        'url',
        why === undefined
          ? `a ${kind}: store URL does not take the parameter '${name}'; ` +
              (known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`)
          : `a ${kind}: store URL does not take the parameter '${name}': ${why}`,
      )
    }
  }
  return { own, passed: passed.toString() }
}

/** A whole-number parameter of at least `least`, or undefined when not given. */
function count(own: Map<string, string>, name: string, least: number): number | undefined {
  const value = own.get(name)
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < least) {
    throw new InvalidArgumentError(
      name,
      `the ${name} parameter is a whole number of at least ${least}`,
    )
  }
  return number
}

/**
 * The path of a `file:` or `sqlite:` location: `file:./rel`, `file:rel`, `file:/abs` and
 * `file:///abs` (percent-decoded). `file://x` and `file://./x` are refused: what follows `//` is a
 * host in a URL, and guessing a path from it could open another file than the one meant.
 */
function localPath(location: string, url: string): string {
  const scheme = url.slice(0, url.indexOf(':'))
  let path = location
  if (location.startsWith('//')) {
    const host = /^\/\/(localhost)?\//i.exec(location)
    if (!host) {
      throw new InvalidArgumentError(
        'url',
        `in '${scheme}:${location}' what follows // is a host, not a path: write ` +
          `${scheme}:./path (relative) or ${scheme}:///absolute/path`,
      )
    }
    path = location.slice(host[0].length - 1)
  }
  try {
    return decodeURIComponent(path)
  } catch {
    throw new InvalidArgumentError(
      'url',
      `the path of '${scheme}:${location}' has a % not followed by two hex digits: write % as %25`,
    )
  }
}

/**
 * The local file a `file:` or `sqlite:` store URL names (relative to the working directory), or
 * undefined for any other store and for `sqlite::memory:`. Refuses what {@link createStore}
 * refuses in the location. Internal: the CLI checks with it that a store exists before reading.
 */
export function localStorePath(url: string): string | undefined {
  const colon = url.indexOf(':')
  if (colon <= 0) return undefined
  const scheme = url.slice(0, colon).toLowerCase()
  if (scheme !== 'file' && scheme !== 'sqlite') return undefined
  const rest = url.slice(colon + 1)
  const at = rest.indexOf('?')
  const location = at === -1 ? rest : rest.slice(0, at)
  // A URL createStore would refuse is refused first: a bad URL is a usage error, whether or not
  // its file exists.
  parameters(scheme, rest.slice(at + 1), at)
  if (scheme === 'sqlite' && location === ':memory:') return undefined
  return localPath(location, url) || (scheme === 'file' ? './sdk_tokens.txt' : 'zohooauth.db')
}
