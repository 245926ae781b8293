import {
  largestNumericId,
  numericIdValue,
  type Lookup,
  type LookupColumn,
  type RowLookups,
  type StoredRow,
} from '../store.js'

const LOOKUP_COLUMNS: readonly LookupColumn[] = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
]

/**
 * Rows in insertion order with an index on the id and on every lookup column, so that every
 * lookup is one map access. Used by the in-memory store and as the file store's cache.
 */
export class RowTable implements RowLookups {
  readonly #rows = new Map<string, StoredRow>()
  readonly #indexes = new Map<LookupColumn, Map<string, Set<string>>>(
    LOOKUP_COLUMNS.map((column) => [column, new Map()]),
  )
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

  /** The first row, in insertion order, that the lookup matches. */
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
    const ids = this.#indexes.get(lookup.column)?.get(lookup.value)
    if (ids === undefined) return undefined
    for (const id of ids) return id
    return undefined
  }

  /** Inserts a row, or replaces the row with its id in place. */
  put(row: StoredRow): void {
    const old = this.#rows.get(row.id)
    if (old) this.#unindex(old)
    this.#rows.set(row.id, row)
    this.#noteId(row.id)
    for (const [column, index] of this.#indexes) {
      const value = row[column]
      if (value === null) continue
      let ids = index.get(value)
      if (!ids) index.set(value, (ids = new Set()))
      ids.add(row.id)
    }
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
    for (const index of this.#indexes.values()) index.clear()
  }

  rows(): IterableIterator<StoredRow> {
    return this.#rows.values()
  }

  #unindex(row: StoredRow): void {
    for (const [column, index] of this.#indexes) {
      const value = row[column]
      if (value === null) continue
      const ids = index.get(value)
      ids?.delete(row.id)
      if (ids?.size === 0) index.delete(value)
    }
  }
}
