// 8 processes with 25 concurrent callers each share one store; the token has expired: exactly
// one refresh request reaches the accounts server, and no caller gets an error.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { Initializer, OAuthToken, UserSignature, createStore } from '../../src/index.ts'
import { startAccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const run = promisify(execFile)
const dir = scratchDir()
const WORKER = fileURLToPath(new URL('../children/refresh-worker.ts', import.meta.url))
const PROCESSES = 8
const CALLERS = 25

async function refreshFromManyProcesses(
  storeUrl: string,
  rotateRefreshTokens: boolean,
): Promise<void> {
  const emulator = await startAccountsEmulator({ rotateRefreshTokens })
  try {
    const client = emulator.clients[0]!
    const store = await createStore(storeUrl)
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({
        userSignature: new UserSignature(`ada-${rotateRefreshTokens}@zylker.example`),
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: emulator.issueGrantCode(),
      }),
    })
    // The stored token expires now.
    const stored = (await store.findTokenById(session.id!))!
    stored.expiryTime = Date.now() - 1000
    await store.saveToken(stored)
    await store.close?.()
    emulator.resetCounts()

    const barrier = scratchPath(dir, 'barrier')
    writeFileSync(barrier, '')
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        run(
          process.execPath,
          [
            '--import',
            'tsx',
            WORKER,
            storeUrl,
            emulator.url,
            session.id!,
            String(CALLERS),
            String(PROCESSES),
            barrier,
          ],
          {
            maxBuffer: 1 << 24,
          },
        ),
      ),
    )
    const results = outputs.map(
      ({ stdout }) => JSON.parse(stdout) as { tokens: string[]; errors: string[] },
    )
    expect(results.flatMap((r) => r.errors)).toEqual([])
    const tokens = results.flatMap((r) => r.tokens)
    expect(tokens).toHaveLength(PROCESSES * CALLERS)
    expect(emulator.counts.refresh).toBe(1)
    expect(new Set(tokens).size).toBe(1)
    expect(emulator.isValid(tokens[0]!)).toBe(true)
    const after = await createStore(storeUrl)
    const final = (await after.findTokenById(session.id!))!
    expect(final.accessToken).toBe(tokens[0])
    expect(emulator.isValid(final.refreshToken!)).toBe(true)
    await after.close?.()
  } finally {
    await emulator.close()
  }
}

describe('refresh coordination across processes', () => {
  for (const rotate of [false, true]) {
    it(`FileStore, rotation ${rotate ? 'on' : 'off'}`, () =>
      refreshFromManyProcesses(`file:${scratchPath(dir, 'tokens.txt')}`, rotate))
    it(`SQLiteStore, rotation ${rotate ? 'on' : 'off'}`, () =>
      refreshFromManyProcesses(`sqlite:${scratchPath(dir, 'tokens.db')}`, rotate))
  }
})

await describeWithService('mariadb', 'refresh coordination across processes, DBStore', () => {
  const table = `tk_refresh_${process.pid}`
  afterAll(async () => {
    const store = await createStore(`${SERVICES.mariadb.url}/tokenkeeper_test?table=${table}`)
    await store.deleteTokens()
    await store.close?.()
  })
  for (const rotate of [false, true]) {
    it(`DBStore, rotation ${rotate ? 'on' : 'off'}`, () =>
      refreshFromManyProcesses(`${SERVICES.mariadb.url}/tokenkeeper_test?table=${table}`, rotate))
  }
})

await describeWithService(
  'postgres',
  'refresh coordination across processes, PostgresStore',
  () => {
    const table = `tk_refresh_${process.pid}`
    const url = `${SERVICES.postgres.url}?table=${table}`
    afterAll(async () => {
      const store = await createStore(url)
      await store.deleteTokens()
      await store.close?.()
    })
    for (const rotate of [false, true]) {
      it(`PostgresStore, rotation ${rotate ? 'on' : 'off'}`, () =>
        refreshFromManyProcesses(url, rotate))
    }
  },
)

await describeWithService('redis', 'refresh coordination across processes, RedisStore', () => {
  const url = `${SERVICES.redis.url}?prefix=tk-refresh-${process.pid}:`
  afterAll(async () => {
    const store = await createStore(url)
    await store.deleteTokens()
    await store.close?.()
  })
  for (const rotate of [false, true]) {
    it(`RedisStore, rotation ${rotate ? 'on' : 'off'}`, () => refreshFromManyProcesses(url, rotate))
  }
})
