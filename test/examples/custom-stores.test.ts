// The two example stores built on tokenkeeper/store-kit (examples/custom-stores/) against both
// published suites: the store contract (with "which row wins") and the locking contract.
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { Kvm } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NatsKvStore } from '../../examples/custom-stores/nats-kv.ts'
import { CustomStoreSQLite } from '../../examples/custom-stores/sqlite.ts'
import {
  tokenLockingConformance,
  tokenStoreConformance,
  type RawRow,
} from '../../src/testing/index.ts'
import { sample } from '../../src/testing/conformance.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

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

await describeWithService('nats', 'NatsKvStore (examples/custom-stores/nats-kv.ts)', () => {
  const servers = `${SERVICES.nats.host}:${SERVICES.nats.port}`
  // Every bucket this file makes begins with this, so that parallel runs never meet.
  const tag = `tk_test_${process.pid}_${randomBytes(3).toString('hex')}`
  const buckets: string[] = []
  const fresh = (): string => {
    buckets.push(`${tag}_${buckets.length + 1}`)
    return buckets[buckets.length - 1]!
  }
  let admin: NatsConnection
  beforeAll(async () => {
    admin = await connect({ servers })
  })
  afterAll(async () => {
    const kvm = new Kvm(admin)
    for (const bucket of buckets) {
      for (const name of [bucket, `${bucket}_leases`]) {
        // The broken store's bucket was never made: nothing to remove.
        await kvm
          .open(name)
          .then((kv) => kv.destroy())
          .catch(() => undefined)
      }
    }
    await admin.close()
  })

  /** The rows as the bucket holds them, read through another connection. */
  const readRaw = async (store: NatsKvStore): Promise<RawRow[]> => {
    const kv = await new Kvm(admin).open(store.bucket)
    const rows: RawRow[] = []
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key)
      if (entry?.operation === 'PUT') rows.push(entry.json<RawRow>())
    }
    return rows
  }

  describe('conformance', () => {
    for (const t of tokenStoreConformance({
      create: () => new NatsKvStore({ servers, bucket: fresh() }),
      reopen: (store) => new NatsKvStore({ servers, bucket: (store as NatsKvStore).bucket }),
      readRaw: (store) => readRaw(store as NatsKvStore),
      // A port nothing listens on: every operation fails to connect.
      createBroken: () => new NatsKvStore({ servers: '127.0.0.1:1', bucket: fresh() }),
    }))
      it(t.name, t.run)
  })

  it('two stores on one bucket: concurrent saves never share an id, nor a user two rows', async () => {
    // Each store saves one at a time, so only a write refused at a stale sequence keeps the
    // two apart: without it, both would number a new row after the same largest id.
    const bucket = fresh()
    const a = new NatsKvStore({ servers, bucket })
    const b = new NatsKvStore({ servers, bucket })
    try {
      const users = Array.from({ length: 16 }, (_, i) => sample(`user${i}@example.com`))
      const again = [sample('ada@example.com'), sample('ada@example.com')]
      await Promise.all([
        ...users.map((token, i) => (i % 2 === 0 ? a : b).saveToken(token)),
        a.saveToken(again[0]!),
        b.saveToken(again[1]!),
      ])
      const ids = (await a.getTokens()).map((token) => Number(token.id)).sort((x, y) => x - y)
      expect(ids).toEqual(Array.from({ length: 17 }, (_, i) => i + 1))
      expect(again[0]!.id).toBe(again[1]!.id)
    } finally {
      await a.close()
      await b.close()
    }
  })

  describe('leases and conditional saves (two stores, two connections, one bucket)', () => {
    for (const t of tokenLockingConformance({
      create: (lockLeaseMs) => new NatsKvStore({ servers, bucket: fresh(), lockLeaseMs }),
      share: (store) =>
        new NatsKvStore({ servers, bucket: (store as NatsKvStore).bucket, lockLeaseMs: 300 }),
    }))
      it(t.name, t.run)
  })
})
