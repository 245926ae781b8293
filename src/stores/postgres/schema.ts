import { createHash } from 'node:crypto'
import type { Pool, PoolClient } from 'pg'
import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import { type LookupColumn } from '../../store/matching.js'
import { COLUMNS } from '../../store/rows.js'
import { retry } from '../../store-kit/retry.js'
import { POSTGRES, numberedId } from '../sql/dialect.js'
import { EXPIRY_DIGITS, expiryKey, type DueColumns } from '../sql/due.js'
import { quoteIdentifier } from '../sql/identifiers.js'
import { limitsOf, type ColumnLimits } from '../sql/limits.js'
import { addApiDomainSql, createTableSql, lacksApiDomain } from '../sql/schema.js'
import { XACT_LOCK, bind, withClient } from './client.js'
import { prepareHealth, type HealthReady } from './health.js'
import { prepareStatements, type Statements } from './statements.js'

export const STORE = 'PostgresStore'

/** What the store learnt about its table when it opened it. */
export interface Ready {
  readonly pool: Pool
  readonly statements: Statements
  /** Whether the index on user names is unique (it is not on a legacy table holding a user twice). */
  readonly uniqueUsers: boolean
  /** The columns with a length limit (a legacy `varchar(255)` table), by column. */
  readonly limits: ColumnLimits
  /** The health column and the budget table, where they are. */
  readonly health: HealthReady
}

function indexName(table: string, column: LookupColumn | 'id' | 'expiry'): string {
  const suffix =
    column === 'id' ? `_id_number_idx` : column === 'expiry' ? '_expiry_idx' : `_${column}_md5_idx`
  if (table.length + suffix.length <= 63) return `${table}${suffix}`
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8)
  return `${table.slice(0, 63 - suffix.length - 9)}_${hash}${suffix}`
}

interface TableFacts {
  exists: boolean
  columns: Map<string, number | null>
  indexes: Map<string, boolean>
}

const COLUMNS_SQL =
  'SELECT attname::text AS name, CASE WHEN atttypid IN (1042, 1043) AND atttypmod > 4 ' +
  'THEN atttypmod - 4 END AS max_length FROM pg_attribute ' +
  'WHERE attrelid = to_regclass($1::text) AND attnum > 0 AND NOT attisdropped'
const INDEXES_SQL =
  'SELECT c.relname::text AS name, i.indisunique AS is_unique FROM pg_index i ' +
  'JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1::text)'

async function inspect(client: PoolClient, table: string): Promise<TableFacts> {
  const name = quoteIdentifier(table)
  const columns = await client.query<{ name: string; max_length: number | null }>(COLUMNS_SQL, [
    name,
  ])
  const indexes = await client.query<{ name: string; is_unique: boolean }>(INDEXES_SQL, [name])
  return {
    exists: columns.rows.length > 0,
    columns: new Map(columns.rows.map((c) => [c.name.toLowerCase(), c.max_length])),
    indexes: new Map(indexes.rows.map((i) => [i.name, i.is_unique])),
  }
}

function complete(facts: TableFacts, table: string): boolean {
  return (
    facts.exists &&
    COLUMNS.every((column) => facts.columns.has(column)) &&
    LOOKUP_COLUMNS.every((column) => facts.indexes.has(indexName(table, column))) &&
    facts.indexes.has(indexName(table, 'id'))
  )
}

/**
 * Makes the table ready: reads the catalog, and only when something is missing takes a
 * transaction-level advisory lock for this table and adds it, so that processes opening a new
 * database together create it once.
 */
export async function prepare(pool: Pool, table: string): Promise<Ready> {
  const facts = await withClient(pool, async (client) => {
    let found = await inspect(client, table)
    if (!complete(found, table)) {
      await change(client, table, () => ensureTable(client, table))
      found = await inspect(client, table)
    }
    // The due scan's index is added apart, and only where the server lets this role: without it
    // the scan gives the same answers, reading every row.
    if (!found.indexes.has(indexName(table, 'expiry')) && !(await readOnly(client))) {
      try {
        await change(client, table, () => client.query(dueIndexSql(table)))
      } catch (err) {
        // 42501: a role that may read and write rows but not add an index (not the owner).
        if ((err as { code?: unknown }).code !== '42501') throw err
      }
    }
    const health = await prepareHealth(
      client,
      table,
      found.columns,
      () => readOnly(client),
      (body) => change(client, table, body),
    )
    return { ...found, health }
  })
  return {
    pool,
    statements: prepareStatements(table),
    uniqueUsers: facts.indexes.get(indexName(table, 'user_name')) === true,
    limits: limitsOf(facts.columns),
    health: facts.health,
  }
}

/**
 * Runs a change of the schema in one transaction under the table's advisory lock, so that
 * processes opening a new database together make it once; tried again when someone without the
 * lock made the same object at the same moment.
 */
async function change(
  client: PoolClient,
  table: string,
  body: () => Promise<unknown>,
): Promise<void> {
  await retry(
    async () => {
      try {
        await client.query('BEGIN')
        await client.query(bind(XACT_LOCK, [`tokenkeeper:schema:${table}`]))
        await body()
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      }
    },
    {
      retryable: (err) =>
        ['23505', '42P07', '42710'].includes(String((err as { code?: unknown }).code)),
      attempts: 3,
    },
  )
}

/** Whether this session may not write (a hot standby, a read-only default): nothing is added. */
async function readOnly(client: PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ ro: boolean }>(
    "SELECT current_setting('transaction_read_only') = 'on' AS ro",
  )
  return rows[0]?.ro === true
}

/**
 * How the due scan reads the table: the expiry's value where it is digits, and the id in byte
 * order; the same text in the index and the query, so that the planner matches them.
 */
export function dueColumns(table: string): DueColumns {
  const name = quoteIdentifier(table)
  return {
    name,
    list: COLUMNS.map((c) => `${c}::text AS ${c}`).join(', '),
    key: `(${expiryKey(POSTGRES)})`,
    indexed: POSTGRES.digits('expiry_time', EXPIRY_DIGITS),
    id: POSTGRES.binary(`${name}.id`),
  }
}

/** The due scan's partial index on (expiry, id): one range of it is the due tokens, in order. */
function dueIndexSql(table: string): string {
  const due = dueColumns(table)
  const index = quoteIdentifier(indexName(table, 'expiry'), 'table')
  return (
    `CREATE INDEX IF NOT EXISTS ${index} ON ${due.name} ` +
    `(${due.key}, (${POSTGRES.binary('id')})) WHERE ${due.indexed}`
  )
}

async function ensureTable(client: PoolClient, table: string): Promise<void> {
  const name = quoteIdentifier(table)
  // Only when the name resolves to no table: one found further along the search_path is used.
  if (!(await inspect(client, table)).exists) await client.query(createTableSql('postgres', table))
  const facts = await inspect(client, table)
  if (lacksApiDomain(STORE, table, new Set(facts.columns.keys()))) {
    await client.query(addApiDomainSql('postgres', table))
  }
  for (const column of LOOKUP_COLUMNS) {
    const index = quoteIdentifier(indexName(table, column), 'table')
    const plain = `CREATE INDEX IF NOT EXISTS ${index} ON ${name} (md5(${column}))`
    if (column !== 'user_name') {
      await client.query(plain)
      continue
    }
    // A legacy table may already hold a user twice: then the index is a plain one, and saves
    // of one user are serialized by an advisory lock instead.
    await client.query('SAVEPOINT tk_unique')
    try {
      await client.query(`CREATE UNIQUE INDEX IF NOT EXISTS ${index} ON ${name} (md5(${column}))`)
      await client.query('RELEASE SAVEPOINT tk_unique')
    } catch (err) {
      if ((err as { code?: unknown }).code !== '23505') throw err
      await client.query('ROLLBACK TO SAVEPOINT tk_unique')
      await client.query(plain)
    }
  }
  // The ids the numbering counts, by value: the largest is the last entry. Partial, so the
  // cast is computed only for ids that are digits (any other id is stored as before).
  const ids = quoteIdentifier(indexName(table, 'id'), 'table')
  await client.query(
    `CREATE INDEX IF NOT EXISTS ${ids} ON ${name} ((id::bigint)) WHERE ${numberedId(POSTGRES)}`,
  )
}
