// The two example stores built on tokenkeeper/store-kit (examples/custom-stores/) against both
// published suites: the store contract (with "which row wins") and the locking contract.
import { mkdirSync } from 'node:fs'
import Database from 'better-sqlite3'
import { describe, it } from 'vitest'
import { CustomStoreSQLite } from '../examples/custom-stores/sqlite.ts'
import {
  tokenLockingConformance,
  tokenStoreConformance,
  type RawRow,
} from '../src/testing/index.ts'
import { scratchDir, scratchPath } from './helpers.ts'

const dir = scratchDir()

function readRawFile(path: string): RawRow[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare('SELECT * FROM oauthtoken').all() as RawRow[]
  } finally {
    db.close()
  }
}

describe('CustomStoreSQLite (examples/custom-stores/sqlite.ts) conformance', () => {
  for (const t of tokenStoreConformance({
    create: () => new CustomStoreSQLite({ path: scratchPath(dir, 'zohooauth.db') }),
    reopen: (store) => new CustomStoreSQLite({ path: (store as CustomStoreSQLite).path }),
    readRaw: async (store) => readRawFile((store as CustomStoreSQLite).path),
    createBroken: () => {
      const path = scratchPath(dir, 'a-directory')
      mkdirSync(path)
      return new CustomStoreSQLite({ path })
    },
  }))
    it(t.name, t.run)
})

describe('CustomStoreSQLite leases and conditional saves (two stores on one file)', () => {
  for (const t of tokenLockingConformance({
    create: (lockLeaseMs) =>
      new CustomStoreSQLite({ path: scratchPath(dir, 'leases.db'), lockLeaseMs }),
    share: (store) =>
      new CustomStoreSQLite({ path: (store as CustomStoreSQLite).path, lockLeaseMs: 300 }),
  }))
    it(t.name, t.run)
})
