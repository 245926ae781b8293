import { largestNumericId, numericIdValue } from '../store/ids.js'
import { type Lookup, type LookupColumn, winningRow } from '../store/matching.js'
import { type StoredRow } from '../store/rows.js'
import { type RowLookups } from '../store/save.js'

/** Adds a row's value to one column's index. */
function indexRow(
  index: Map<string, string | Set<string>>,
  value: string | null,
  id: string,
): void {
  if (value === null) return
  const ids = index.get(value)
  if (ids === undefined) index.set(value, id)
  else if (typeof ids !== 'string') ids.add(id)
  else if (ids !== id) index.set(value, new Set([ids, id]))
}

/**
 * Rows in insertion order with an index on the id and on every lookup column, so that every
 * lookup is one map access. Used by the in-memory store and as the file store's cache.
 */
export class RowTable implements RowLookups {
  readonly #rows = new Map<string, StoredRow>()
  // A value held by one row maps to its id; a Set only when rows share it.
  // Each column's index is built at its first lookup and kept from then on: opening a file of a
  // million rows to find one token by id builds none of them.
  readonly #indexes = new Map<LookupColumn, Map<string, string | Set<string>>>()
  /** The largest numeric id; `null` once the row holding it is gone (found again when asked). */
  #largest: number | undefined | null = undefined

  get size(): number {
    return this.#rows.size
  }

  get(id: string): StoredRow | undefined {
    return this.#rows.get(id)
  }

  hasId(id: string): boolean {
    return this.#rows.has(id)
  }

  /** The row the lookup matches; of several, the one that wins by `compareRowIds`. */
  find(lookup: Lookup): StoredRow | undefined {
    const id = this.findId(lookup)
    return id === undefined ? undefined : this.#rows.get(id)
  }

  largestNumericId(): number | undefined {
    if (this.#largest === null) this.#largest = largestNumericId(this.#rows.keys())
    return this.#largest
  }

  #noteId(id: string): void {
    const value = numericIdValue(id)
    if (value !== undefined && this.#largest !== null && !(value <= (this.#largest ?? -1))) {
      this.#largest = value
    }
  }

  findId(lookup: Lookup): string | undefined {
    const ids = this.#index(lookup.column).get(lookup.value)
    if (ids === undefined || typeof ids === 'string') return ids
    // Rows sharing a value are rare and few: the winner is picked when asked.
    return winningRow(Array.from(ids, (id) => ({ id })))?.id
  }

  #index(column: LookupColumn): Map<string, string | Set<string>> {
    let index = this.#indexes.get(column)
    if (index === undefined) {
      index = new Map()
      for (const row of this.#rows.values()) indexRow(index, row[column], row.id)
      this.#indexes.set(column, index)
    }
    return index
  }

  /**
   * Inserts a row unless a row holds its id already (`false` then, nothing changed): one map
   * look-up fewer than `hasId` then `put`, for reading a file of a million rows.
   */
  add(row: StoredRow): boolean {
    if (this.#rows.get(row.id) !== undefined) return false
    this.#rows.set(row.id, row)
    this.#noteId(row.id)
    for (const [column, index] of this.#indexes) indexRow(index, row[column], row.id)
    return true
  }

  /** Inserts a row, or replaces the row with its id in place. */
  put(row: StoredRow): void {
    const old = this.#rows.get(row.id)
    if (old) this.#unindex(old)
    this.#rows.set(row.id, row)
    this.#noteId(row.id)
    for (const [column, index] of this.#indexes) indexRow(index, row[column], row.id)
  }

  delete(id: string): boolean {
    const old = this.#rows.get(id)
    if (!old) return false
    this.#unindex(old)
    this.#rows.delete(id)
    if (this.#largest !== null && numericIdValue(id) === this.#largest) this.#largest = null
    return true
  }

  clear(): void {
    this.#rows.clear()
    this.#largest = undefined
    this.#indexes.clear()
  }

  rows(): IterableIterator<StoredRow> {
    return this.#rows.values()
  }

  #unindex(row: StoredRow): void {
    for (const [column, index] of this.#indexes) {
      const value = row[column]
      if (value === null) continue
      const ids = index.get(value)
      if (ids === row.id) index.delete(value)
      else if (typeof ids === 'object') {
        ids.delete(row.id)
        if (ids.size === 0) index.delete(value)
      }
    }
  }
}
