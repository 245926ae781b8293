import type { Pool, PoolClient } from 'pg'
import type { Budget, BudgetAnswer } from '../../budget.js'
import {
  HEALTH_COLUMN,
  budgetTable,
  createBudgetTableSql,
  healthColumnSql,
  healthSql,
  takeInWindow,
} from '../sql/health.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { XACT_LOCK, bind, statement, withClient, type Statement } from './client.js'

/** The health column's and the budget table's statements, and whether each is there. */
export interface HealthReady {
  /** Whether the table has the health column: without it, no health is kept. */
  readonly health: boolean
  /** Whether the budget table is there: without it, budgets are counted in the process. */
  readonly budgets: boolean
  readonly find: Statement
  readonly save: Statement
  readonly prune: Statement
  readonly times: Statement
  readonly take: Statement
}

/**
 * Adds the health column and the budget table where they are missing and this session may
 * (not on a read-only server, nor by a role that does not own the table or may not create
 * in its schema: error 42501, left as it is). `change` runs a change under the table's schema lock.
 */
export async function prepareHealth(
  client: PoolClient,
  table: string,
  columns: ReadonlyMap<string, unknown>,
  readOnly: () => Promise<boolean>,
  change: (body: () => Promise<unknown>) => Promise<void>,
): Promise<HealthReady> {
  const tried = async (body: () => Promise<unknown>): Promise<void> => {
    if (await readOnly()) return
    try {
      await change(body)
    } catch (err) {
      if ((err as { code?: unknown }).code !== '42501') throw err
    }
  }
  const name = quoteIdentifier(table)
  let health = columns.has(HEALTH_COLUMN)
  if (!health) {
    await tried(() =>
      client.query(`ALTER TABLE ${name} ADD COLUMN IF NOT EXISTS ${healthColumnSql('postgres')}`),
    )
    const { rows } = await client.query<{ found: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1::text) ' +
        'AND attname = $2 AND NOT attisdropped) AS found',
      [name, HEALTH_COLUMN],
    )
    health = rows[0]?.found === true
  }
  const budget = quoteIdentifier(budgetTable(table), 'table')
  const exists = async (): Promise<boolean> =>
    (
      await client.query<{ found: boolean }>('SELECT to_regclass($1::text) IS NOT NULL AS found', [
        budget,
      ])
    ).rows[0]?.found === true
  let budgets = await exists()
  if (!budgets) {
    await tried(async () => {
      for (const sql of createBudgetTableSql('postgres', table)) await client.query(sql)
    })
    budgets = await exists()
  }
  const sql = healthSql('postgres', table)
  return {
    health,
    budgets,
    find: statement(sql.find),
    save: statement(sql.save),
    prune: statement(sql.prune),
    times: statement(sql.times),
    take: statement(sql.take),
  }
}

/**
 * One take of a budget, for every process and machine on this database: one READ COMMITTED
 * transaction under a transaction-level advisory lock on the table and key, so takes of one key
 * are serialized and each reads the uses the previous one committed.
 */
export function takeBudget(
  pool: Pool,
  ready: HealthReady,
  table: string,
  key: string,
  budget: Budget,
  now: number,
): Promise<BudgetAnswer> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
    await client.query(bind(XACT_LOCK, [`tokenkeeper:budget:${table}:${key}`]))
    const answer = await takeInWindow(
      {
        prune: (k, before) => client.query(bind(ready.prune, [k, before])),
        times: async (k) =>
          (await client.query<{ taken_at: string }>(bind(ready.times, [k]))).rows.map((r) =>
            Number(r.taken_at),
          ),
        take: (k, at) => client.query(bind(ready.take, [k, at])),
      },
      key,
      budget,
      now,
    )
    await client.query('COMMIT')
    return answer
  })
}
