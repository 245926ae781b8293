import { createHash } from 'node:crypto'
import type * as MySQL from 'mysql2/promise'
import { TokenStoreError } from '../../errors.js'
import type { TokenLock } from '../../store.js'
import { loadDriver } from '../driver.js'
import { Lease } from '../lease.js'
import { STORE, isClosed, isConnectionError } from './errors.js'

type Pool = MySQL.Pool
type Connection = MySQL.PoolConnection

const driver = (): typeof MySQL => loadDriver<typeof MySQL>(STORE, 'mysql2/promise')

/** The store's own pool, whose connections never truncate a value. */
export function createPool(options: MySQL.PoolOptions): Pool {
  const pool = driver().createPool(options)
  // Values are never truncated: the server refuses what does not fit, whatever its sql_mode.
  pool.pool.on('connection', (connection) => {
    connection.query(
      "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES')",
    )
  })
  return pool
}

/** Creates the database the options name, on the same server, when it does not exist yet. */
export async function createDatabase(options: MySQL.PoolOptions, database: string): Promise<void> {
  // The same server, without the database that does not exist yet.
  const { database: _database, connectionLimit: _limit, uri, ...rest } = options
  const connection = await driver().createConnection(
    uri ? { uri: uri.replace(/\/[^/?]*(\?|$)/, '/$1') } : rest,
  )
  try {
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    )
  } finally {
    await connection.end()
  }
}

/**
 * `GET_LOCK` on `connection` for the token that `key` names (database, table and id), held
 * until the lease's `release()`; the connection then goes back to the pool. Not had within
 * `timeoutMs` is a TokenStoreError with operation `'lock'`; the connection is released on any
 * failure.
 */
export async function lockToken(
  connection: Connection,
  key: string,
  id: string,
  timeoutMs: number,
): Promise<TokenLock> {
  const name = `tk:${createHash('sha256').update(key).digest('hex').slice(0, 48)}`
  try {
    const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [
      name,
      Math.max(0, timeoutMs / 1000),
    ])
    if ((rows as { got: number | null }[])[0]?.got !== 1) {
      throw new TokenStoreError(STORE, 'lock', `could not lock token ${id} within ${timeoutMs} ms`)
    }
  } catch (err) {
    connection.release()
    throw err
  }
  return new Lease(
    STORE,
    `token ${id}`,
    {
      extend: async () => {
        try {
          const [rows] = await connection.query(
            'SELECT IS_USED_LOCK(?) = CONNECTION_ID() AS mine',
            [name],
          )
          return Number((rows as { mine: number | null }[])[0]?.mine) === 1
        } catch (err) {
          // A lost connection took the lock with it.
          if (isConnectionError(err) || isClosed(err)) return false
          throw err
        }
      },
      release: async () => {
        try {
          await connection.query('SELECT RELEASE_LOCK(?)', [name])
          connection.release()
        } catch {
          // The connection is gone, and the lock with it: the connection is not reused.
          connection.destroy()
        }
      },
    },
    undefined,
  )
}
