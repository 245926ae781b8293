import type { Budget, BudgetAnswer } from '../../budget.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { HEALTH_COLUMN, budgetTable, healthSql, takeInWindowSync } from '../sql/health.js'
import type { Database } from './schema.js'

/**
 * The health column's and the budget table's statements, each only where the open added (or
 * found) what it needs: a read-only database that predates them keeps no health
 * (`find` gives nothing, `save` does nothing) and counts budgets in the process.
 */
export interface HealthStatements {
  readonly find: ((ids: readonly string[]) => Map<string, string>) | undefined
  readonly save: ((id: string, record: string | null) => void) | undefined
  readonly take: ((key: string, budget: Budget, now: number) => BudgetAnswer) | undefined
}

export function prepareHealth(db: Database, table: string): HealthStatements {
  const name = quoteIdentifier(table)
  const columns = db.prepare(`PRAGMA table_info(${name})`).all() as { name: string }[]
  const hasColumn = columns.some((c) => c.name.toLowerCase() === HEALTH_COLUMN)
  const hasBudgets =
    db
      .prepare('SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?')
      .get('table', budgetTable(table)) !== undefined
  const sql = healthSql('sqlite', table)
  let find: HealthStatements['find']
  let save: HealthStatements['save']
  if (hasColumn) {
    const select = db.prepare<unknown[], [string, string]>(sql.find).raw(true)
    const update = db.prepare(sql.save)
    // The ids go in as one JSON array: one statement, one plan, whatever their number.
    find = (ids) => new Map(select.all(JSON.stringify(ids)))
    save = (id, record) => void update.run(record, id)
  }
  let take: HealthStatements['take']
  if (hasBudgets) {
    const prune = db.prepare(sql.prune)
    const times = db.prepare<unknown[], number>(sql.times).pluck(true)
    const insert = db.prepare(sql.take)
    // Immediate: the database's write lock from the first read, so takes of every process
    // sharing the file are serialized, and none reads a window another is about to change.
    const inWindow = db.transaction((key: string, budget: Budget, now: number) =>
      takeInWindowSync(
        {
          prune: (k, before) => prune.run(k, before),
          times: (k) => times.all(k),
          take: (k, at) => insert.run(k, at),
        },
        key,
        budget,
        now,
      ),
    )
    take = (key, budget, now) => inWindow.immediate(key, budget, now)
  }
  return { find, save, take }
}
