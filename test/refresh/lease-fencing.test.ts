// Several processes share a store whose token lease (300 ms) is shorter than one refresh (1 s),
// rotation off. The first refresher is frozen with SIGSTOP after the server answered and before
// it saved, past its lease: the next holder refreshes and saves; the frozen one, once let go,
// finds the row changed and adopts the stored token instead of saving its own over it. Every
// caller ends with the one stored token.
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { startAccountsEmulator } from '../../src/testing/index.ts'
import type { WorkerSpec } from '../children/lease-stores.ts'
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

async function frozenBeforeSave(storeSpec: WorkerSpec['store']): Promise<void> {
  const emulator = await startAccountsEmulator({ latencyMs: LATENCY_MS, accessTokenLimit: false })
  try {
    const { id } = await expiredToken(emulator, storeSpec)
    emulator.resetCounts()
    const { results, stalls } = await runWorkers(
      dir,
      { store: storeSpec, emulatorUrl: emulator.url, tokenId: id, stallOn: 'token.refreshed' },
      // Past the next holder's whole refresh: it takes the lease 300 ms into the freeze and
      // saves about a second later.
      2000,
    )
    const timeline = timelineOf(results)
    expect(stalls, timeline).toBe(1)
    expect(results.flatMap((r) => r.errors)).toEqual([])
    const tokens = results.flatMap((r) => r.tokens)
    expect(tokens).toHaveLength(PROCESSES * CALLERS)
    // Every caller ends with the one stored token: nobody saved over a newer one.
    const stored = await storedToken(storeSpec, id)
    expect([...new Set(tokens)], timeline).toEqual([stored.accessToken])
    expect(emulator.isValid(stored.accessToken!)).toBe(true)
    // The lease lapsed while the first holder sat on its answer, so a second refresh was made
    // (harmless without rotation); the frozen holder found the row changed and adopted it.
    expect(emulator.counts.refresh, timeline).toBe(2)
    const frozen = results.find((r) => r.events.includes('stalled'))!
    expect(frozen.events, timeline).toContain('token.superseded')
  } finally {
    await emulator.close()
  }
}

describe('a holder frozen between the answer and the save never saves over a newer token', () => {
  it('FileStore', () =>
    frozenBeforeSave({ kind: 'file', path: scratchPath(dir, 'tokens.csv'), lockLeaseMs: LEASE_MS }))
  it('SQLiteStore', () =>
    frozenBeforeSave({
      kind: 'sqlite',
      path: scratchPath(dir, 'tokens.db'),
      lockLeaseMs: LEASE_MS,
    }))
})

await describeWithService('redis', 'a holder frozen between the answer and the save, Redis', () => {
  const prefix = `tk-lease-fence-${process.pid}-${randomBytes(3).toString('hex')}:`
  afterAll(async () => {
    const admin = new Redis(SERVICES.redis.url)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
    admin.disconnect()
  })
  it('RedisStore', () =>
    frozenBeforeSave({ kind: 'redis', url: SERVICES.redis.url, prefix, lockLeaseMs: LEASE_MS }))
})
