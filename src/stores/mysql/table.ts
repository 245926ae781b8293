import { createHash } from 'node:crypto'
import type * as MySQL from 'mysql2/promise'
import { TokenStoreError } from '../../errors.js'
import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import type { Lookup, LookupColumn } from '../../store/matching.js'
import type { StoredRow } from '../../store/rows.js'
import { MYSQL, numberedId, tableSql, winnerFirst, type TableSql } from '../sql/dialect.js'
import { EXPIRY_DIGITS, expiryKey, type DueColumns } from '../sql/due.js'
import type { ColumnLimits } from '../sql/limits.js'
import { healthSql, type HealthSql } from '../sql/health.js'
import { lookupBatchers, type LookupBatchers } from '../sql/lookups.js'
import { STORE } from './errors.js'

type Pool = MySQL.Pool
type Connection = MySQL.PoolConnection

/** How long a save waits for another saver's new id to be committed (s). */
const ALLOCATION_WAIT_S = 10

/** The generated column that holds a lookup column's SHA-256, so that any length is indexed. */
export const hashColumn = (column: LookupColumn): string => `${column}_sha256`

/**
 * The invisible generated column that holds an id's place in the numbering (`numericIdValue`:
 * one to ten digits, else NULL), indexed, so that the largest is read from the index end.
 * INVISIBLE keeps `select *` to the official columns. The digit test comes before the CAST, so
 * strict mode never sees a CAST warning.
 */
export const ID_NUMBER = 'id_number'
export const ID_NUMBER_SQL = `${ID_NUMBER} bigint unsigned AS (IF(${numberedId(MYSQL)}, CAST(id AS UNSIGNED), NULL)) STORED INVISIBLE`

/**
 * The invisible generated column that holds the expiry as a number where it is digits (see
 * EXPIRY_DIGITS), else NULL: MySQL and MariaDB have no index on an expression, but index a
 * virtual column. Virtual, so adding it rewrites no row; invisible, so `select *` and the
 * official SDKs' inserts (named columns) see the official columns only.
 */
export const EXPIRY_NUMBER = 'expiry_number'
export const EXPIRY_NUMBER_SQL = `${EXPIRY_NUMBER} bigint unsigned AS (${expiryKey(MYSQL)}) VIRTUAL INVISIBLE`

/** What the store found of its table when it opened it. */
export interface TableFacts {
  readonly table: string
  /** The columns (lower-cased names) and their limits in characters. */
  readonly columns: ReadonlyMap<string, number | null>
  /** Whether the id column compares by code point (a `_bin` collation), as tokenkeeper makes it. */
  readonly binaryIds: boolean
  readonly limits: ColumnLimits
  /** The current database, which names the table's locks. */
  readonly database: string
  /** Whether the table has the health column, and the budget table is there. */
  readonly health: boolean
  readonly budgets: boolean
}

/** The table as found (or made): its columns' limits and the statements for it. */
export class Schema {
  readonly table: string
  readonly name: string
  readonly limits: ColumnLimits
  readonly sql: TableSql
  /** How the due scan reads the table. */
  readonly due: DueColumns
  /** Whether health is kept (the column is there) and budgets are counted in the table. */
  readonly health: boolean
  readonly budgets: boolean
  readonly healthSql: HealthSql
  /** The database and table, which name the budget locks. */
  readonly scope: string
  readonly #selectBy: Record<LookupColumn, string>
  readonly #largestSql: string
  readonly #pool: Pool
  /** The pages of a pass, without their LIMIT: keyset on the primary key. */
  readonly #pageSql: string
  readonly #pageAfterSql: string
  /** The name of the id allocation lock: one per database and table on the server. */
  readonly #allocationLock: string

  /** Look-ups through the pool, batched: by id and by each lookup column. */
  readonly batchers: LookupBatchers

  constructor(pool: Pool, facts: TableFacts) {
    const { table, columns } = facts
    this.table = table
    this.name = MYSQL.quote(table)
    this.limits = facts.limits
    this.sql = tableSql(MYSQL, this.name)
    this.health = facts.health
    this.budgets = facts.budgets
    this.healthSql = healthSql('mysql', table)
    this.scope = `${facts.database}.${table}`
    const list = this.sql.list
    // Without the column (a server older than MariaDB 10.3 or MySQL 8.0.23) the same value
    // comes from a scan of every id: correct, but its cost grows with the table.
    this.#largestSql = columns.has(ID_NUMBER)
      ? `SELECT MAX(${ID_NUMBER}) AS largest FROM ${this.name}`
      : `SELECT MAX(CAST(id AS UNSIGNED)) AS largest FROM ${this.name} WHERE ${numberedId(MYSQL)}`
    // The hash finds the few rows that share a value; the winner comes first. A legacy table's
    // collation may ignore case or trailing spaces: ties go by the id's bytes.
    const order = winnerFirst(MYSQL, 'id', columns.has(ID_NUMBER) ? ID_NUMBER : undefined)
    this.#allocationLock = `tk:ids:${createHash('sha256').update(`${facts.database}.${table}`).digest('hex').slice(0, 48)}`
    this.#pool = pool
    // Without the column (a server without invisible columns, or that refused to add it) the
    // same query computes the expiry of every row: correct, but its cost grows with the table.
    this.due = columns.has(EXPIRY_NUMBER)
      ? {
          name: this.name,
          list,
          key: EXPIRY_NUMBER,
          indexed: `${EXPIRY_NUMBER} IS NOT NULL`,
          // A legacy table's collation may ignore case: its ids are ordered by their bytes.
          id: facts.binaryIds ? 'id' : MYSQL.binary('id'),
        }
      : {
          name: this.name,
          list,
          key: `(${expiryKey(MYSQL)})`,
          indexed: MYSQL.digits('expiry_time', EXPIRY_DIGITS),
          id: MYSQL.binary('id'),
        }
    this.#pageSql = `SELECT ${list} FROM ${this.name} ORDER BY id`
    this.#pageAfterSql = `SELECT ${list} FROM ${this.name} WHERE id > ? ORDER BY id`
    this.#selectBy = Object.fromEntries(
      LOOKUP_COLUMNS.map((column) => [
        column,
        `SELECT ${list} FROM ${this.name} WHERE ${hashColumn(column)} = UNHEX(SHA2(?, 256)) AND ${column} = ? ${order} LIMIT 1`,
      ]),
    ) as Record<LookupColumn, string>
    this.batchers = lookupBatchers(async (key, values) => {
      const where =
        key === 'id'
          ? `id IN (${values.map(() => '?').join(', ')})`
          : `${hashColumn(key)} IN (${values.map(() => 'UNHEX(SHA2(?, 256))').join(', ')})`
      const [rows] = await pool.execute(
        `SELECT ${list} FROM ${this.name} WHERE ${where}${key === 'id' ? '' : ` ${order}`}`,
        values,
      )
      return rows as StoredRow[]
    })
  }

  /**
   * A page of rows in id order: the first, or the one after id `after`. The limit is written
   * into the text (a checked whole number): MySQL refuses a prepared LIMIT bound as a double.
   */
  async page(after: string | undefined, pageSize: number): Promise<StoredRow[]> {
    const [rows] =
      after === undefined
        ? await this.#pool.execute(`${this.#pageSql} LIMIT ${pageSize}`)
        : await this.#pool.execute(`${this.#pageAfterSql} LIMIT ${pageSize}`, [after])
    return rows as StoredRow[]
  }

  /** The row with this id; with `lock`, locked until the transaction ends. */
  async findById(db: Pool | Connection, id: string, lock = false): Promise<StoredRow | undefined> {
    const [rows] = await db.execute(`${this.sql.byId}${lock ? ' FOR UPDATE' : ''}`, [id])
    return (rows as StoredRow[])[0]
  }

  async findRow(db: Pool | Connection, lookup: Lookup): Promise<StoredRow | undefined> {
    const [rows] = await db.execute(this.#selectBy[lookup.column], [lookup.value, lookup.value])
    return (rows as StoredRow[])[0]
  }

  /**
   * Takes the id allocation lock on the transaction's connection: `GET_LOCK`, shared by every
   * process and machine using this table, held until {@link unlockAllocation} after the commit.
   * InnoDB row locks alone would not do: two savers' locking reads of the index end share its gap
   * lock, and each one's insert then waits for the other's (a deadlock per race).
   */
  async lockAllocation(connection: Connection): Promise<void> {
    const [rows] = await connection.query('SELECT GET_LOCK(?, ?) AS got', [
      this.#allocationLock,
      ALLOCATION_WAIT_S,
    ])
    if ((rows as { got: number | null }[])[0]?.got !== 1) {
      throw new TokenStoreError(
        STORE,
        'saveToken',
        `another saver kept the new-id lock of table ${this.name} for ${ALLOCATION_WAIT_S} s; nothing was written`,
      )
    }
  }

  /** Gives the allocation lock up; `false` when that is unknown (the connection broke). */
  async unlockAllocation(connection: Connection): Promise<boolean> {
    try {
      await connection.query('DO RELEASE_LOCK(?)', [this.#allocationLock])
      return true
    } catch {
      return false
    }
  }

  /** The largest `numericIdValue` among the ids in the transaction's snapshot. */
  async largestNumericId(connection: Connection): Promise<number | undefined> {
    const [rows] = await connection.query(this.#largestSql)
    const largest = (rows as { largest: number | string | null }[])[0]?.largest
    return largest === null || largest === undefined ? undefined : Number(largest)
  }
}
