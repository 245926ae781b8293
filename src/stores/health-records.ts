import { assertHealthIds, assertHealthRecord } from '../health.js'
import { assertId } from '../store.js'

/**
 * Token health records kept in memory beside a store's rows (the memory and list stores): the
 * `HealthTracking` half of a store whose rows live in the process. `exists` tells whether the
 * row is stored: a record for a missing row is not kept.
 */
export class HealthRecords {
  readonly #records = new Map<string, string>()

  async find(ids: readonly string[]): Promise<Map<string, string>> {
    assertHealthIds(ids)
    const found = new Map<string, string>()
    for (const id of ids) {
      const record = this.#records.get(id)
      if (record !== undefined) found.set(id, record)
    }
    return found
  }

  async save(id: string, record: string | null, exists: (id: string) => boolean): Promise<void> {
    assertId(id)
    assertHealthRecord(record)
    if (record === null || !exists(id)) this.#records.delete(id)
    else this.#records.set(id, record)
  }

  /** Forgets a deleted row's record. */
  delete(id: string): void {
    this.#records.delete(id)
  }

  clear(): void {
    this.#records.clear()
  }
}
