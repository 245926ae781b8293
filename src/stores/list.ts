import { largestNumericId } from '../store/ids.js'
import { rowMatches, winningRow, type Lookup } from '../store/matching.js'
import { COLUMNS, type StoredRow, type TokenRow } from '../store/rows.js'
import { InProcessStore, type InMemoryStoreOptions, type InProcessRows } from './in-process.js'

/** One record of a {@link ListStore}: the values in the official column order. */
export type TokenRecord = (string | null)[]

function toRecord(row: TokenRow): TokenRecord {
  return COLUMNS.map((column) => row[column])
}

function toRow(record: TokenRecord): StoredRow {
  const row = Object.fromEntries(COLUMNS.map((column, i) => [column, record[i] ?? null]))
  return row as StoredRow
}

/** The records as rows: every look-up scans the list. */
function listRows(records: TokenRecord[]): InProcessRows {
  const at = (id: string): number => records.findIndex((record) => record[0] === id)
  const get = (id: string): StoredRow | undefined => {
    const i = at(id)
    return i < 0 ? undefined : toRow(records[i]!)
  }
  const find = (lookup: Lookup): StoredRow | undefined =>
    winningRow(records.map(toRow).filter((row) => rowMatches(row, lookup)))
  return {
    rows: () => records.map(toRow),
    get,
    find,
    hasId: (id) => at(id) >= 0,
    findId: (lookup) => find(lookup)?.id,
    largestNumericId: () => largestNumericId(records.map((record) => record[0] ?? null)),
    put(row, insert) {
      if (insert) records.push(toRecord(row))
      else records[at(row.id)] = toRecord(row)
    },
    delete(id) {
      const i = at(id)
      if (i >= 0) records.splice(i, 1)
    },
    clear: () => void (records.length = 0),
  }
}

/**
 * Tokens as a list of lists, each inner list a token's values in the official column order:
 * the reference's list-based store. Lookups scan the list; fine for a handful of users.
 *
 * @example
 * const store = new ListStore()
 * store.records // [['k3Jx0aQ9Zt', 'ada@example.com', '1000.CLIENT', ...]]
 */
export class ListStore extends InProcessStore {
  /** The records themselves, in the official column order. */
  readonly records: TokenRecord[]

  constructor(options: InMemoryStoreOptions = {}) {
    const records: TokenRecord[] = []
    super('ListStore', listRows(records), options)
    this.records = records
  }
}
