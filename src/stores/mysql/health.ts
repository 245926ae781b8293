import { createHash } from 'node:crypto'
import type * as MySQL from 'mysql2/promise'
import type { Budget, BudgetAnswer } from '../../budget.js'
import { TokenStoreError } from '../../errors.js'
import {
  HEALTH_COLUMN,
  budgetTable,
  createBudgetTableSql,
  healthColumnSql,
  takeInWindow,
} from '../sql/health.js'
import { MYSQL } from '../sql/dialect.js'
import { STORE, errorCode, ignoreRace } from './errors.js'
import type { Schema } from './table.js'

type Pool = MySQL.Pool

/** How long a take waits for another process's take of the same key (s). */
const BUDGET_WAIT_S = 10

/**
 * Adds the health column (invisible, so `select *` keeps the official shape; visible on a server
 * without invisible columns) and the budget table, where the server lets this user; a server or
 * user that refuses is left as it is. Resolves whether the budget table is there to use.
 */
export async function prepareHealth(
  pool: Pool,
  table: string,
  columns: ReadonlyMap<string, unknown>,
  refusals: ReadonlySet<string>,
): Promise<boolean> {
  const refused = (err: unknown): boolean => refusals.has(errorCode(err) ?? '')
  if (!columns.has(HEALTH_COLUMN)) {
    const add = (invisible: boolean) =>
      ignoreRace(
        pool.query(
          `ALTER TABLE ${MYSQL.quote(table)} ADD COLUMN ${healthColumnSql('mysql', invisible)}`,
        ),
      )
    try {
      await add(true)
    } catch (err) {
      if (errorCode(err) === 'ER_PARSE_ERROR') await add(false).catch(swallow(refused))
      else if (!refused(err)) throw err
    }
  }
  for (const sql of createBudgetTableSql('mysql', table)) {
    await ignoreRace(pool.query(sql)).catch(swallow(refused))
  }
  const [rows] = await pool.query(
    'SELECT 1 AS found FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [budgetTable(table)],
  )
  return (rows as unknown[]).length > 0
}

const swallow =
  (refused: (err: unknown) => boolean) =>
  (err: unknown): void => {
    if (!refused(err)) throw err
  }

/** The health records of `ids`, in one query (see `HealthTracking`). */
export async function findHealth(
  pool: Pool,
  schema: Schema,
  ids: readonly string[],
): Promise<Map<string, string>> {
  if (!schema.health || ids.length === 0) return new Map()
  // `query` expands the array into `IN ('a', 'b', ...)`: one text for any number of ids.
  const [rows] = await pool.query(schema.healthSql.find, [ids])
  return new Map((rows as { id: string; record: string }[]).map((r) => [r.id, r.record]))
}

/** Sets row `id`'s record; an UPDATE, so a missing row stays missing. */
export async function saveHealth(
  pool: Pool,
  schema: Schema,
  id: string,
  record: string | null,
): Promise<void> {
  if (schema.health) await pool.execute(schema.healthSql.save, [record, id])
}

/**
 * One take of a budget, for every process and machine on this table: `GET_LOCK` on the key
 * (database, table and key) serializes the takes of one key, and the window is read and written
 * in one READ COMMITTED transaction under it (no gap locks, so takes of other keys never wait).
 */
export async function takeBudget(
  pool: Pool,
  schema: Schema,
  key: string,
  budget: Budget,
  now: number,
): Promise<BudgetAnswer> {
  const sql = schema.healthSql
  const lock = `tk:budget:${createHash('sha256').update(`${schema.scope}:${key}`).digest('hex').slice(0, 48)}`
  const connection = await pool.getConnection()
  let locked = false
  try {
    const [got] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [lock, BUDGET_WAIT_S])
    if ((got as { got: number | null }[])[0]?.got !== 1) {
      throw new TokenStoreError(
        STORE,
        'takeBudget',
        `another process kept budget ${key} locked for ${BUDGET_WAIT_S} s; nothing was taken`,
      )
    }
    locked = true
    await connection.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
    await connection.beginTransaction()
    try {
      const answer = await takeInWindow(
        {
          prune: (k, before) => connection.execute(sql.prune, [k, before]),
          times: async (k) => {
            const [rows] = await connection.execute(sql.times, [k])
            return (rows as { taken_at: number | string }[]).map((r) => Number(r.taken_at))
          },
          take: (k, at) => connection.execute(sql.take, [k, at]),
        },
        key,
        budget,
        now,
      )
      await connection.commit()
      return answer
    } catch (err) {
      await connection.rollback().catch(() => undefined)
      throw err
    }
  } finally {
    let reusable = true
    if (locked) {
      reusable = await connection.query('DO RELEASE_LOCK(?)', [lock]).then(
        () => true,
        () => false,
      )
    }
    // A connection that may still hold the lock never goes back to the pool.
    if (reusable) connection.release()
    else connection.destroy()
  }
}
