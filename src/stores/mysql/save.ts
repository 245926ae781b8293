import type * as MySQL from 'mysql2/promise'
import { retry } from '../../store-kit/retry.js'
import { rowHolds } from '../../store/rows.js'
import { resolveSaveAsync } from '../../store/save.js'
import type { OAuthToken } from '../../token.js'
import { insertValues, updateValues } from '../sql/dialect.js'
import { checkLengths } from '../sql/limits.js'
import { STORE, isRace } from './errors.js'
import type { Schema } from './table.js'

type Pool = MySQL.Pool

/** How long a save that lost races (a duplicate key, a deadlock) tries again (ms). */
const RACE_RETRY_MS = 10_000

/**
 * The upsert rule inside one transaction, tried again when a concurrent save won a race. With
 * `expected`, only while row `token.id` holds its values (undefined, nothing written, if not).
 */
export async function save(
  pool: Pool,
  schema: Schema,
  token: OAuthToken,
  expected?: OAuthToken,
): Promise<string | undefined> {
  // A new try reads the largest id again, in a new transaction. A writer outside the
  // allocation lock (an official SDK) can win several races in a row: keep trying a while.
  return retry(() => saveOnce(pool, schema, token, expected), {
    retryable: isRace,
    attempts: Number.MAX_SAFE_INTEGER,
    deadlineMs: RACE_RETRY_MS,
    baseDelayMs: 5,
    maxDelayMs: 50,
  })
}

async function saveOnce(
  pool: Pool,
  schema: Schema,
  token: OAuthToken,
  expected: OAuthToken | undefined,
): Promise<string | undefined> {
  const connection = await pool.getConnection()
  // Whether this connection may hold the id allocation lock (asked for, answer unknown).
  let allocating = false
  try {
    await connection.beginTransaction()
    if (expected) {
      // The row stays locked from this check to the commit.
      const row = await schema.findById(connection, token.id!, true)
      if (!row || !rowHolds(row, expected)) {
        await connection.rollback()
        return undefined
      }
    }
    const { row, insert } = await resolveSaveAsync(STORE, token, {
      hasId: async (id) => (await schema.findById(connection, id)) !== undefined,
      findId: async (lookup) => (await schema.findRow(connection, lookup))?.id,
      // Asked only by a store without keys, before an update: locked, so no keyed writer
      // seals the row between this check and the write.
      get: (id) => schema.findById(connection, id, true),
      // Asked only before an insert under a new id, when nothing is written or locked yet.
      // The lock is held to the commit, so a saver that waited for it reads the id this one
      // wrote: the read is the first of a new transaction (a REPEATABLE READ snapshot taken
      // after the lock) and takes no row lock, which an unsynchronized official writer's
      // scanning UPDATE would deadlock with.
      largestNumericId: async () => {
        await connection.commit()
        allocating = true
        await schema.lockAllocation(connection)
        await connection.beginTransaction()
        return schema.largestNumericId(connection)
      },
    })
    checkLengths(STORE, 'mysql', schema.table, schema.limits, row)
    await connection.execute(
      insert ? schema.sql.insert : schema.sql.update,
      insert ? insertValues(row) : updateValues(row),
    )
    await connection.commit()
    return row.id
  } catch (err) {
    await connection.rollback().catch(() => undefined)
    throw err
  } finally {
    // Only after the commit or rollback, and never back to the pool while possibly held.
    if (allocating && !(await schema.unlockAllocation(connection))) connection.destroy()
    else connection.release()
  }
}
