import { describe, it } from 'vitest'
import { ListStore, MemoryStore } from '../../src/index.ts'
import { tokenStoreConformance } from '../../src/testing/index.ts'

describe('MemoryStore conformance', () => {
  for (const t of tokenStoreConformance({ create: () => new MemoryStore() })) it(t.name, t.run)
})

describe('ListStore conformance', () => {
  for (const t of tokenStoreConformance({
    create: () => new ListStore(),
    readRaw: (store) =>
      Promise.resolve(
        (store as ListStore).records.map((record) => ({
          id: record[0],
          user_name: record[1],
          client_id: record[2],
          client_secret: record[3],
          refresh_token: record[4],
          access_token: record[5],
          grant_token: record[6],
          expiry_time: record[7],
          redirect_url: record[8],
          api_domain: record[9],
        })),
      ),
  })) {
    it(t.name, t.run)
  }
})
