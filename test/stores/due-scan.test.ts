// The due scan (what a background keeper asks a store for) of the in-memory stores, against the
// published suite; the server and file stores run it in their own test files.
import { describe, it } from 'vitest'
import { ListStore, MemoryStore } from '../../src/index.ts'
import { dueScanConformance } from '../../src/testing/index.ts'

describe('MemoryStore due scan', () => {
  for (const t of dueScanConformance({ create: () => new MemoryStore() })) it(t.name, t.run)
})

describe('ListStore due scan', () => {
  for (const t of dueScanConformance({ create: () => new ListStore() })) it(t.name, t.run)
})
