// `tokenkeeper keep` as real processes against the emulator (rotation on): one pass reports what
// it did; four keepers on one store refresh each due token once between them; SIGTERM during a
// pass lets the refreshes in flight finish and be saved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TokenStore } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { RedisStore } from '../../src/stores/redis.ts'
import { PostgresStore } from '../../src/stores/postgres.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { cli } from '../helpers/cli-child.ts'
import { recordUse } from '../../src/usage.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const dir = scratchDir()
let emulator: AccountsEmulator

beforeAll(async () => {
  emulator = await startAccountsEmulator({ rotateRefreshTokens: true, accessTokenLimit: false })
})
afterAll(async () => {
  await emulator.close()
})

/** Signs `count` users in through `at`, each saved to `store` with its expiry already past. */
async function dueTokens(
  at: AccountsEmulator,
  store: TokenStore,
  count: number,
): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i += 1) {
    const session = await signIn(at, { store, user: `keep-${Date.now()}-${i}@example.com` })
    const token = session.token
    token.expiryTime = Date.now() - 1000
    await store.saveToken(token)
    ids.push(session.id!)
  }
  return ids
}

/** Every token is alive at `at` and not due: nothing refreshed was lost. */
async function allKept(at: AccountsEmulator, store: TokenStore, ids: string[]): Promise<void> {
  for (const id of ids) {
    const token = (await store.findTokenById(id))!
    expect(token.expiryTime!).toBeGreaterThan(Date.now())
    expect(at.isValid(token.refreshToken!)).toBe(true)
    expect(at.isValid(token.accessToken!)).toBe(true)
  }
}

describe('tokenkeeper keep', () => {
  it('--used-within leaves the unused tokens to their next use; --refresh-idle-after alone is refused', async () => {
    const path = scratchPath(dir, 'used-within.db')
    const store = new SQLiteStore({ path })
    const [used, unused] = await dueTokens(emulator, store, 2)
    expect(await recordUse(store, used!, Date.now())).toBe(true)
    const args = ['--once', '--store', `sqlite:${path}`, '--accounts-url', emulator.url]
    const run = await cli(['keep', '--used-within', '1d', ...args]).done
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(
      /^keep: pass 1: 2 due, 1 refreshed, 1 not in use, left to their next use \(\d+ ms\)$/m,
    )
    await allKept(emulator, store, [used!])
    expect((await store.findTokenById(unused!))!.expiryTime!).toBeLessThan(Date.now())
    const refused = await cli(['keep', '--refresh-idle-after', '30d', ...args]).done
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/--refresh-idle-after needs --used-within/)
    await store.close()
  })

  it('--once refreshes the due tokens and says so; --json gives one object per pass', async () => {
    const path = scratchPath(dir, 'once.db')
    const store = new SQLiteStore({ path })
    const ids = await dueTokens(emulator, store, 3)
    const run = await cli([
      'keep',
      '--once',
      '--store',
      `sqlite:${path}`,
      '--accounts-url',
      emulator.url,
    ]).done
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^keep: pass 1: 3 due, 3 refreshed \(\d+ ms\)$/m)
    await allKept(emulator, store, ids)
    const json = await cli([
      'keep',
      '--once',
      '--json',
      '--store',
      `sqlite:${path}`,
      '--accounts-url',
      emulator.url,
    ]).done
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({ pass: 1, due: 0, refreshed: 0, failed: 0 })
    await store.close()
  })

  it('--once exits 4 when a token failed; unknown options are refused with exit 2', async () => {
    const path = scratchPath(dir, 'fails.db')
    const store = new SQLiteStore({ path })
    await dueTokens(emulator, store, 1)
    await store.close()
    // Another environment than the token's: it is left alone and counted as failed.
    const run = await cli(['keep', '--once', '--store', `sqlite:${path}`, '--dc', 'EU']).done
    expect(run.code, run.stdout + run.stderr).toBe(4)
    expect(run.stdout).toContain('1 failed')
    const bad = await cli(['keep', '--once', '--store', `sqlite:${path}`, '--concurency', '2']).done
    expect(bad.code).toBe(2)
    const slow = await cli(['keep', '--store', `sqlite:${path}`, '--interval', '10ms']).done
    expect(slow.code).toBe(2)
  })

  it('SIGTERM during a pass: the refreshes in flight finish and are saved', async () => {
    const slow = await startAccountsEmulator({
      rotateRefreshTokens: true,
      accessTokenLimit: false,
      latencyMs: 400,
    })
    try {
      const path = scratchPath(dir, 'sigterm.db')
      const store = new SQLiteStore({ path })
      const ids = await dueTokens(slow, store, 6)
      slow.resetCounts()
      const child = cli([
        'keep',
        '--store',
        `sqlite:${path}`,
        '--accounts-url',
        slow.url,
        '--concurrency',
        '2',
      ])
      // Wait until refreshes have been asked for (their answers are 400 ms away), then stop.
      while (slow.counts.refresh === 0) await new Promise((resolve) => setTimeout(resolve, 20))
      child.kill('SIGTERM')
      const run = await child.done
      expect(run.code, run.stderr).toBe(0)
      expect(run.stderr).toContain('SIGTERM: finishing the refreshes in flight')
      expect(run.stdout).toMatch(/left for later \(stopping\)/)
      // Every token the emulator refreshed was saved (rotation: a lost one would leave a spent
      // refresh token stored); the others are untouched and still valid.
      let refreshed = 0
      for (const id of ids) {
        const token = (await store.findTokenById(id))!
        expect(slow.isValid(token.refreshToken!)).toBe(true)
        if (token.expiryTime! > Date.now()) refreshed += 1
      }
      expect(refreshed).toBe(slow.counts.refresh)
      expect(refreshed).toBeGreaterThan(0)
      expect(refreshed).toBeLessThan(6)
      await store.close()
    } finally {
      await slow.close()
    }
  })
})

/** Four `keep --once` processes started together on one store. */
function fourProcesses(name: string, url: () => string, open: () => TokenStore): void {
  it(`${name}: four keeper processes refresh each due token exactly once`, async () => {
    const store = open()
    try {
      const ids = await dueTokens(emulator, store, 10)
      const before = emulator.counts.refresh
      const runs = await Promise.all(
        Array.from(
          { length: 4 },
          () =>
            cli(['keep', '--once', '--json', '--store', url(), '--accounts-url', emulator.url])
              .done,
        ),
      )
      for (const run of runs) expect(run.code, run.stderr).toBe(0)
      const summaries = runs.map((run) => JSON.parse(run.stdout) as { refreshed: number })
      expect(summaries.reduce((sum, s) => sum + s.refreshed, 0)).toBe(10)
      expect(emulator.counts.refresh - before).toBe(10)
      await allKept(emulator, store, ids)
    } finally {
      await store.close?.()
    }
  })
}

describe('tokenkeeper keep, four processes', () => {
  const path = scratchPath(dir, 'four.db')
  fourProcesses(
    'SQLiteStore',
    () => `sqlite:${path}`,
    () => new SQLiteStore({ path }),
  )
})

await describeWithService('redis', 'tokenkeeper keep, four processes on Redis', () => {
  const prefix = `keepcli:${process.pid}:`
  fourProcesses(
    'RedisStore',
    () => `${SERVICES.redis.url}?prefix=${encodeURIComponent(prefix)}`,
    () => new RedisStore({ url: SERVICES.redis.url, prefix }),
  )
})

await describeWithService('postgres', 'tokenkeeper keep, four processes on PostgreSQL', () => {
  const table = `keepcli_${process.pid}`
  fourProcesses(
    'PostgresStore',
    () => `${SERVICES.postgres.url}?table=${table}`,
    () => new PostgresStore({ connectionString: SERVICES.postgres.url, table }),
  )
})
