import { LOOKUP_COLUMNS } from '../../store-kit/columns.js'
import type { LookupColumn } from '../../store/matching.js'
import type { StoredRow } from '../../store/rows.js'
import { LookupBatcher } from '../batch.js'

/** What a row is looked up by: its id, or one of the lookup columns. */
export type LookupKey = LookupColumn | 'id'

/** A batcher per {@link LookupKey}. */
export type LookupBatchers = Record<LookupKey, LookupBatcher<StoredRow>>

/**
 * Look-ups by id and by each lookup column, those that arrive in one turn of the event loop
 * answered by one query (see LookupBatcher). `read(key, values)` gives the rows that hold any of
 * the values, each value's winning row first (`winnerFirst`); the first row of a value answers
 * for it. A row whose column only looks alike (an index on a hash narrowed the read) answers
 * for nothing: the value itself decides.
 */
export function lookupBatchers(
  read: (key: LookupKey, values: string[]) => Promise<readonly StoredRow[]>,
): LookupBatchers {
  const batcher = (key: LookupKey): LookupBatcher<StoredRow> =>
    new LookupBatcher<StoredRow>(async (values) => {
      const found = new Map<string, StoredRow>()
      for (const row of await read(key, values)) {
        const value = row[key]
        if (value !== null && !found.has(value)) found.set(value, row)
      }
      return found
    })
  const keys: LookupKey[] = ['id', ...LOOKUP_COLUMNS]
  return Object.fromEntries(keys.map((key) => [key, batcher(key)])) as LookupBatchers
}
