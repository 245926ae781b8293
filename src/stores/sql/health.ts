import { createHash } from 'node:crypto'
import { decideBudget, type Budget, type BudgetAnswer } from '../../budget.js'
import { MAX_HEALTH_LENGTH } from '../../health.js'
import { DIALECTS, type DialectName } from './dialect.js'
import { quoteIdentifier } from './identifiers.js'

/**
 * The column that keeps a token's health record in its row: additive and nullable, so the
 * official SDKs, which name their columns, neither read nor write it; it goes with the row when
 * the row is deleted, and no save of tokenkeeper's or theirs (an UPDATE of the official columns)
 * changes it.
 */
export const HEALTH_COLUMN = 'tk_health'

/** The column as `ADD COLUMN` declares it; MySQL's is invisible, so `select *` keeps its shape. */
export function healthColumnSql(dialect: DialectName, invisible = true): string {
  const type = `varchar(${MAX_HEALTH_LENGTH})`
  if (dialect !== 'mysql') return `${HEALTH_COLUMN} ${type}`
  return `${HEALTH_COLUMN} ${type} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL${invisible ? ' INVISIBLE' : ''}`
}

/**
 * A name made from the table's and a suffix, at most 63 characters (PostgreSQL's limit, under
 * MySQL's 64): a long table name is cut and given a digest of itself, so two tables never share it.
 */
export function derivedName(table: string, suffix: string): string {
  quoteIdentifier(table)
  if (table.length + suffix.length <= 63) return `${table}${suffix}`
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8)
  return `${table.slice(0, 63 - suffix.length - 9)}_${hash}${suffix}`
}

/** The table of budget uses beside the token table: one row per use still in its window. */
export const budgetTable = (table: string): string => derivedName(table, '_budget')

/**
 * Creates the budget table and its index on (key, time) when missing: additive, beside the
 * token table, which it never touches. Keys are compared by their bytes (they are base64url).
 */
export function createBudgetTableSql(dialect: DialectName, table: string): string[] {
  const d = DIALECTS[dialect]
  const name = d.quote(budgetTable(table))
  const index = d.quote(derivedName(table, '_budget_idx'))
  const key =
    dialect === 'mysql'
      ? 'varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL'
      : 'varchar(64) NOT NULL'
  const time = dialect === 'sqlite' ? 'integer NOT NULL' : 'bigint NOT NULL'
  const columns = `budget_key ${key}, taken_at ${time}`
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE IF NOT EXISTS ${name} (${columns}, INDEX ${index} (budget_key, taken_at)) ENGINE=InnoDB`,
    ]
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${name} (${columns})`,
    `CREATE INDEX IF NOT EXISTS ${index} ON ${name} (budget_key, taken_at)`,
  ]
}

/** The statements of the health column and the budget table, in a dialect's words. */
export interface HealthSql {
  /** The records of the ids in `ids` (SQLite: a JSON array; PostgreSQL: a text array). */
  readonly find: string
  /** Sets row `id`'s record (the record, then the id). */
  readonly save: string
  /** Deletes a key's uses that left the window: key, then the latest time outside it. */
  readonly prune: string
  /** A key's uses, oldest first. */
  readonly times: string
  /** Adds a use: key, time. */
  readonly take: string
}

/**
 * The statements for `table`. MySQL's `find` takes the ids as a list its driver expands
 * (`IN (?)` with an array, through `query`), so one text serves any number of them.
 */
export function healthSql(dialect: DialectName, table: string): HealthSql {
  const d = DIALECTS[dialect]
  const name = d.quote(table)
  const budget = d.quote(budgetTable(table))
  const p = (n: number): string => d.param(n)
  const ids =
    dialect === 'sqlite'
      ? 'id IN (SELECT value FROM json_each(?))'
      : dialect === 'postgres'
        ? 'id = ANY($1::text[])'
        : 'id IN (?)'
  const id = dialect === 'postgres' ? 'id::text AS id' : 'id'
  return {
    find: `SELECT ${id}, ${HEALTH_COLUMN} AS record FROM ${name} WHERE ${ids} AND ${HEALTH_COLUMN} IS NOT NULL`,
    save: `UPDATE ${name} SET ${HEALTH_COLUMN} = ${p(1)} WHERE id = ${p(2)}`,
    prune: `DELETE FROM ${budget} WHERE budget_key = ${p(1)} AND taken_at <= ${p(2)}`,
    times: `SELECT taken_at FROM ${budget} WHERE budget_key = ${p(1)} ORDER BY taken_at`,
    take: `INSERT INTO ${budget} (budget_key, taken_at) VALUES (${p(1)}, ${p(2)})`,
  }
}

/** The steps of a take, run by a store under its lock for the key (synchronous: SQLite). */
export interface BudgetSteps {
  prune(key: string, before: number): unknown
  times(key: string): readonly number[]
  take(key: string, at: number): unknown
}

/** {@link BudgetSteps} for a driver that answers later (the servers). */
export type AsyncBudgetSteps = {
  [K in keyof BudgetSteps]: (
    ...args: Parameters<BudgetSteps[K]>
  ) => Promise<ReturnType<BudgetSteps[K]>>
}

/**
 * One take of a sliding window, in the order every SQL store runs it inside its transaction:
 * the uses that left the window are deleted, the rest read, `decideBudget` decides, and a
 * granted use is added.
 */
export async function takeInWindow(
  steps: AsyncBudgetSteps,
  key: string,
  budget: Budget,
  now: number,
): Promise<BudgetAnswer> {
  await steps.prune(key, now - budget.windowMs)
  const answer = decideBudget(await steps.times(key), budget, now)
  if (answer.granted) await steps.take(key, now)
  return answer
}

/** {@link takeInWindow} for a synchronous driver (SQLite), inside its immediate transaction. */
export function takeInWindowSync(
  steps: BudgetSteps,
  key: string,
  budget: Budget,
  now: number,
): BudgetAnswer {
  steps.prune(key, now - budget.windowMs)
  const answer = decideBudget(steps.times(key), budget, now)
  if (answer.granted) steps.take(key, now)
  return answer
}
