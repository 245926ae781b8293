import type * as MySQL from 'mysql2/promise'
import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import { MYSQL } from '../sql/dialect.js'
import { HEALTH_COLUMN } from '../sql/health.js'
import { limitsOf } from '../sql/limits.js'
import { apiDomainColumn, createTableSql, lacksApiDomain } from '../sql/schema.js'
import { STORE, errorCode, ignoreRace } from './errors.js'
import { prepareHealth } from './health.js'
import {
  EXPIRY_NUMBER,
  EXPIRY_NUMBER_SQL,
  ID_NUMBER,
  ID_NUMBER_SQL,
  Schema,
  hashColumn,
} from './table.js'

type Pool = MySQL.Pool

/**
 * Creates the table when missing, adds what an older table lacks (only by adding: columns that
 * are generated or invisible, indexes), and reads its limits. Processes opening a new database
 * together each try; one that finds the change made already goes on.
 */
export async function prepare(pool: Pool, table: string): Promise<Schema> {
  const name = MYSQL.quote(table)
  await pool.query(createTableSql('mysql', table))
  let columns = await readColumns(pool, table)
  const alter: string[] = []
  if (lacksApiDomain(STORE, table, new Set(columns.keys()))) {
    alter.push(`ADD COLUMN ${apiDomainColumn('mysql')}`)
  }
  for (const column of LOOKUP_COLUMNS) {
    if (!columns.has(hashColumn(column))) {
      alter.push(
        `ADD COLUMN ${hashColumn(column)} binary(32) AS (UNHEX(SHA2(${column}, 256))) STORED`,
      )
    }
  }
  const numbered = columns.has(ID_NUMBER) ? [] : [`ADD COLUMN ${ID_NUMBER_SQL}`]
  if (alter.length + numbered.length > 0) {
    try {
      await ignoreRace(pool.query(`ALTER TABLE ${name} ${[...alter, ...numbered].join(', ')}`))
    } catch (err) {
      // A server without INVISIBLE columns: the rest is added, the largest id is scanned for.
      if (numbered.length === 0 || errorCode(err) !== 'ER_PARSE_ERROR') throw err
      if (alter.length > 0) await ignoreRace(pool.query(`ALTER TABLE ${name} ${alter.join(', ')}`))
    }
  }
  if (!columns.has(EXPIRY_NUMBER)) await addDueIndex(pool, table)
  const budgets = await prepareHealth(pool, table, columns, REFUSALS)
  columns = await readColumns(pool, table)
  await ensureIndexes(pool, table, columns.has(ID_NUMBER))
  const [[current]] = (await pool.query('SELECT DATABASE() AS db')) as unknown as [
    [{ db: string | null }],
  ]
  const [[id]] = (await pool.query(
    'SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS ' +
      "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'id'",
    [table],
  )) as unknown as [[{ collation: string | null } | undefined]]
  return new Schema(pool, {
    table,
    columns,
    binaryIds: /_bin$/.test(id?.collation ?? ''),
    limits: limitsOf(columns),
    database: current?.db ?? '',
    health: columns.has(HEALTH_COLUMN),
    budgets,
  })
}

/** A server that will not change the table (read-only, or this user may not): left as it is. */
const REFUSALS = new Set([
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  // No invisible columns (MariaDB before 10.3, MySQL before 8.0.23).
  'ER_PARSE_ERROR',
])

/**
 * Adds the due scan's expiry column and its index on (expiry, id), in one change: one range of
 * the index is the due tokens, in order. A server that refuses is left as it is: the scan then
 * reads every row, with the same answers.
 */
async function addDueIndex(pool: Pool, table: string): Promise<void> {
  const index = `${table}_expiry_idx`.slice(0, 64)
  try {
    await ignoreRace(
      pool.query(
        `ALTER TABLE ${MYSQL.quote(table)} ADD COLUMN ${EXPIRY_NUMBER_SQL}, ` +
          `ADD INDEX \`${index}\` (${EXPIRY_NUMBER}, id)`,
      ),
    )
  } catch (err) {
    if (!REFUSALS.has(errorCode(err) ?? '')) throw err
  }
}

async function readColumns(pool: Pool, table: string): Promise<Map<string, number | null>> {
  const [rows] = await pool.query(
    'SELECT COLUMN_NAME AS name, CHARACTER_MAXIMUM_LENGTH AS maxLength FROM information_schema.COLUMNS ' +
      'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [table],
  )
  return new Map(
    (rows as { name: string; maxLength: number | string | null }[]).map((r) => [
      r.name.toLowerCase(),
      r.maxLength === null ? null : Number(r.maxLength),
    ]),
  )
}

async function ensureIndexes(pool: Pool, table: string, numbered: boolean): Promise<void> {
  const [rows] = await pool.query(
    'SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [table],
  )
  const present = new Set((rows as { name: string }[]).map((r) => r.name))
  const name = MYSQL.quote(table)
  for (const column of LOOKUP_COLUMNS) {
    const index = `${table}_${column}_idx`.slice(0, 64)
    if (present.has(index)) continue
    const target = `${name} (${hashColumn(column)})`
    if (column === 'user_name') {
      try {
        await ignoreRace(pool.query(`CREATE UNIQUE INDEX \`${index}\` ON ${target}`))
        continue
      } catch (err) {
        // A legacy table that already holds a user twice gets a plain index; the store still
        // never writes a second row for a user.
        if (errorCode(err) !== 'ER_DUP_ENTRY') throw err
      }
    }
    await ignoreRace(pool.query(`CREATE INDEX \`${index}\` ON ${target}`))
  }
  const index = `${table}_${ID_NUMBER}_idx`.slice(0, 64)
  if (numbered && !present.has(index)) {
    await ignoreRace(pool.query(`CREATE INDEX \`${index}\` ON ${name} (${ID_NUMBER})`))
  }
}
