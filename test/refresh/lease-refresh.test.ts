// Several processes share a store whose token lease (300 ms) is shorter than one refresh (the
// accounts emulator answers after 1 s), rotation on, and the first process to take the lease is
// frozen with SIGSTOP right there, past its lease, then let go with SIGCONT. Exactly one
// refresh reaches the server, every caller gets the same token, no invalid_grant, and a later
// refresh still works: the frozen holder finds its lease lost and waits instead of spending the
// refresh token a second time.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { Initializer, OAuthToken } from '../../src/index.ts'
import { startAccountsEmulator } from '../../src/testing/index.ts'
import { openStore, type WorkerSpec } from '../children/lease-stores.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import {
  CALLERS,
  LATENCY_MS,
  LEASE_MS,
  PROCESSES,
  expiredToken,
  runWorkers,
  storedToken,
  timelineOf,
} from '../helpers/lease-run.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const dir = scratchDir()
const tag = `${process.pid}_${randomBytes(3).toString('hex')}`

/** `leaseLapses`: the store's lease ends with time (files, Redis), not with a connection. */
async function frozenHolder(storeSpec: WorkerSpec['store'], leaseLapses: boolean): Promise<void> {
  const emulator = await startAccountsEmulator({
    rotateRefreshTokens: true,
    latencyMs: LATENCY_MS,
    accessTokenLimit: false,
  })
  try {
    const { id, refreshToken } = await expiredToken(emulator, storeSpec)
    emulator.resetCounts()
    const { results, stalls } = await runWorkers(
      dir,
      { store: storeSpec, emulatorUrl: emulator.url, tokenId: id, stallOn: 'token.lock_waited' },
      600,
    )
    const timeline = timelineOf(results)
    expect(stalls, timeline).toBe(1)
    expect(results.flatMap((r) => r.errors)).toEqual([])
    const tokens = results.flatMap((r) => r.tokens)
    expect(tokens).toHaveLength(PROCESSES * CALLERS)
    const { refresh, rejected } = emulator.counts
    expect({ refresh, rejected }, timeline).toEqual({ refresh: 1, rejected: 0 })
    expect(new Set(tokens).size).toBe(1)
    expect(emulator.isValid(tokens[0]!)).toBe(true)
    const frozen = results.find((r) => r.events.includes('stalled'))!
    // A lease that ends with time lapsed while the holder was stopped: it saw so before it sent
    // anything. A lease held by a connection was still its own.
    expect(frozen.events.includes('token.lease_lost'), timeline).toBe(leaseLapses)
    // The chain is alive: the stored refresh token is the rotated one, and it refreshes again.
    const stored = await storedToken(storeSpec, id)
    expect(stored.accessToken).toBe(tokens[0])
    expect(stored.refreshToken).not.toBe(refreshToken)
    expect(emulator.isValid(stored.refreshToken!)).toBe(true)
    stored.expiryTime = Date.now() - 1000
    const store = await openStore(storeSpec)
    try {
      await store.saveToken(stored)
      const later = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({ id }),
      })
      expect(emulator.isValid(await later.getAccessToken())).toBe(true)
      expect({ refresh: emulator.counts.refresh, rejected: emulator.counts.rejected }).toEqual({
        refresh: 2,
        rejected: 0,
      })
    } finally {
      await store.close?.()
    }
  } finally {
    await emulator.close()
  }
}

describe('rotation on, a refresh slower than the lease, the first holder frozen past it', () => {
  it('FileStore: one refresh, every caller the same token, the chain alive', () =>
    frozenHolder(
      { kind: 'file', path: scratchPath(dir, 'tokens.csv'), lockLeaseMs: LEASE_MS },
      true,
    ))
  it('SQLiteStore: one refresh, every caller the same token, the chain alive', () =>
    frozenHolder(
      { kind: 'sqlite', path: scratchPath(dir, 'tokens.db'), lockLeaseMs: LEASE_MS },
      true,
    ))
})

await describeWithService('redis', 'rotation on, a holder frozen past its lease, Redis', () => {
  const prefix = `tk-lease-refresh-${tag}:`
  afterAll(async () => {
    const admin = new Redis(SERVICES.redis.url)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    admin.disconnect()
  })
  it('RedisStore: one refresh, every caller the same token, the chain alive', () =>
    frozenHolder({ kind: 'redis', url: SERVICES.redis.url, prefix, lockLeaseMs: LEASE_MS }, true))
})

await describeWithService(
  'postgres',
  'rotation on, a holder frozen with its lock, PostgreSQL',
  () => {
    const table = `tk_lease_refresh_${tag}`
    afterAll(async () => {
      const admin = new pg.Client({ connectionString: SERVICES.postgres.url })
      await admin.connect()
      await admin.query(`DROP TABLE IF EXISTS "${table}"`)
      await admin.end()
    })
    // The advisory lock lasts as long as the frozen holder's connection: the others wait for it.
    it('PostgresStore: one refresh, every caller the same token, the chain alive', () =>
      frozenHolder({ kind: 'postgres', url: SERVICES.postgres.url, table }, false))
  },
)
