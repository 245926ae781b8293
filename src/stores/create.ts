import { fileURLToPath } from 'node:url'
import { InvalidArgumentError } from '../errors.js'
import type { TokenStore } from '../store.js'
import { FileStore } from './file.js'
import { ListStore } from './list.js'
import { MemoryStore } from './memory.js'

/**
 * Builds a store from a URL, as the CLI's `--store` and `TOKENKEEPER_STORE` take it:
 * `file:./sdk_tokens.txt`, `sqlite:./zohooauth.db`, `sqlite::memory:`, `memory:`, `list:`,
 * `mysql://root@127.0.0.1:3306/zohooauth`, `postgres://…`, `redis://…` (`?prefix=` and `?cache=false` for Redis).
 * A `table` query parameter overrides the SQL table's name. Drivers load only when asked for.
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
  const rest = url.slice(scheme.length + 1)
  const [location = '', query = ''] = rest.split('?', 2)
  const params = new URLSearchParams(query)
  const table = params.get('table') ?? undefined
  switch (scheme) {
    case 'memory':
      return new MemoryStore()
    case 'list':
      return new ListStore()
    case 'file':
      return new FileStore(localPath(location, url) || './sdk_tokens.txt')
    case 'sqlite': {
      const { SQLiteStore } = await import('./sqlite.js')
      const path = location === ':memory:' ? ':memory:' : localPath(location, url) || 'zohooauth.db'
      return new SQLiteStore({ path, ...(table ? { table } : {}) })
    }
    case 'mysql':
    case 'mariadb': {
      const { DBStore } = await import('./mysql.js')
      return new DBStore({ url: `mysql:${rest.split('?', 1)[0]!}`, ...(table ? { table } : {}) })
    }
    case 'postgres':
    case 'postgresql': {
      const { PostgresStore } = await import('./postgres.js')
      return new PostgresStore({
        connectionString: without(url, 'table'),
        ...(table ? { table } : {}),
      })
    }
    case 'redis':
    case 'rediss': {
      const { RedisStore } = await import('./redis.js')
      const prefix = params.get('prefix') ?? undefined
      const cache = params.get('cache')
      if (cache !== null && !['true', 'false'].includes(cache)) {
        throw new InvalidArgumentError(
          'cache',
          `the cache parameter is true or false, not '${cache}'`,
        )
      }
      return new RedisStore({
        url: without(without(url, 'prefix'), 'cache'),
        ...(prefix ? { prefix } : {}),
        ...(cache === null ? {} : { cache: cache === 'true' }),
      })
    }
    default:
      throw new InvalidArgumentError(
        'url',
        `unknown store kind '${scheme}:'; use file:, sqlite:, memory:, list:, mysql:, postgres: or redis:`,
      )
  }
}

/** The URL without one of its query parameters (the store's own, not the driver's). */
function without(url: string, name: string): string {
  const [base, query] = url.split('?', 2)
  if (query === undefined) return url
  const params = new URLSearchParams(query)
  params.delete(name)
  const rest = params.toString()
  return rest ? `${base}?${rest}` : base!
}

/** `file:///abs/path`, `file:./rel`, `file:rel`: the path, undecoded only when it is relative. */
function localPath(location: string, url: string): string {
  if (location.startsWith('//')) return fileURLToPath(url.split('?')[0]!)
  return decodeURIComponent(location)
}
