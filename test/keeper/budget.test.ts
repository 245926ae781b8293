// The provider's budgets on its token endpoint, counted in the store: callers over the budget get
// the current token while it is valid, else BudgetExceededError with retryAfterMs; the emulator,
// which enforces Zoho's limits, refuses nothing.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BudgetExceededError,
  Initializer,
  MemoryStore,
  OAuthToken,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../children/force-refresh.ts', import.meta.url))
let emulator: AccountsEmulator
let clock = Date.now()

beforeAll(async () => {
  // Zoho's limits on: 10 access tokens per refresh token and 10 exchanges per client, in 10 min.
  emulator = await startAccountsEmulator({ exchangeLimit: true, now: () => clock })
})
afterAll(async () => {
  await emulator.close()
})

async function signInAt(store: TokenStore, user: string, now = () => clock): Promise<string> {
  return (await signIn(emulator, { store, user, config: { now } })).id!
}

describe('budgets', () => {
  it('over the refresh budget, the valid token answers; the emulator refuses nothing', async () => {
    clock += 3_600_000
    const store = new MemoryStore()
    const id = await signInAt(store, 'budget-refresh@example.com')
    emulator.resetCounts()
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id }),
      config: { now: () => clock },
    })
    const got: string[] = []
    for (let i = 0; i < 14; i += 1) got.push((await session.refresh({ force: true })).accessToken!)
    expect(emulator.counts.refresh).toBe(10)
    expect(emulator.counts.rejected).toBe(0)
    expect(new Set(got).size).toBe(10)
    expect(got.slice(10)).toEqual(Array(4).fill(got[9]))
    // Ten minutes later the window has moved on: a forced refresh is sent again.
    clock += 600_000
    await session.refresh({ force: true })
    expect(emulator.counts.refresh).toBe(11)
  })

  it('an expired token over its budget: BudgetExceededError with retryAfterMs, nothing sent', async () => {
    clock += 3_600_000
    const store = new MemoryStore()
    const id = await signInAt(store, 'budget-expired@example.com')
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id }),
      config: { now: () => clock },
    })
    for (let i = 0; i < 10; i += 1) await session.refresh({ force: true })
    // The stored token expired (say its lifetime was short) while the budget is spent.
    const stored = (await store.findTokenById(id))!
    stored.expiryTime = clock - 1
    await store.saveToken(stored)
    emulator.resetCounts()
    clock += 60_000
    const refused = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ id }),
      config: { now: () => clock },
    }).catch((err: unknown) => err)
    expect(refused).toBeInstanceOf(BudgetExceededError)
    expect(refused).toMatchObject({ code: 'RATE_LIMIT_ERROR', retryAfterMs: 540_000 })
    expect(emulator.counts.total).toBe(0)
  })

  it('the exchange budget per client: the 11th code in 10 minutes is not sent', async () => {
    clock += 3_600_000
    const store = new MemoryStore()
    emulator.resetCounts()
    for (let i = 0; i < 10; i += 1) await signInAt(store, `exchange-${i}@example.com`)
    const eleventh = await signInAt(store, 'exchange-10@example.com').catch((err: unknown) => err)
    expect(eleventh).toBeInstanceOf(BudgetExceededError)
    expect((eleventh as BudgetExceededError).retryAfterMs).toBe(600_000)
    expect(emulator.counts.exchange).toBe(10)
    expect(emulator.counts.rejected).toBe(0)
  })
})

describe('a budget storm across processes', () => {
  it('8 processes forcing refreshes of two tokens: 0 refusals; the current token or BudgetExceededError', async () => {
    // A window of its own at the emulator, whose clock is the tests' (the processes count the
    // store's budgets by the real clock).
    clock += 3_600_000
    const path = scratchPath(dir, 'storm.db')
    const store = new SQLiteStore({ path })
    const ids = [
      await signInAt(store, 'storm-a@example.com'),
      await signInAt(store, 'storm-b@example.com'),
    ]
    await store.close()
    emulator.resetCounts()
    const barrier = join(dir, 'storm-barrier')
    writeFileSync(barrier, '')
    const run = promisify(execFile)
    const outputs = await Promise.all(
      Array.from({ length: 8 }, () =>
        run(process.execPath, [
          '--import',
          'tsx',
          CHILD,
          `sqlite:${path}`,
          emulator.url,
          ids.join(','),
          '5',
          '8',
          barrier,
        ]),
      ),
    )
    const answers = outputs.flatMap(
      ({ stdout }) =>
        JSON.parse(stdout) as { accessToken?: string; code?: string; retryAfterMs?: number }[],
    )
    expect(answers).toHaveLength(8 * 2 * 5)
    expect(emulator.counts.rejected).toBe(0)
    // 80 forced refreshes of two tokens: the budget lets 10 of each reach the server.
    expect(emulator.counts.refresh).toBe(20)
    for (const answer of answers) {
      if (answer.accessToken === undefined) {
        expect(answer).toMatchObject({ code: 'RATE_LIMIT_ERROR' })
        expect(answer.retryAfterMs).toBeGreaterThan(0)
      }
    }
  })
})
