// session.refresh({ force }): a refresh now, under the same coordination as any refresh, and the
// CLI's refresh command built on it (one refresh, whether the token was valid or due).
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Initializer, OAuthToken, type Session } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const dir = scratchDir('tokenkeeper-force-')
const HOUR = 3_600_000

let emulator: AccountsEmulator
beforeAll(async () => {
  emulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }],
    accessTokenLimit: false,
  })
})
afterAll(async () => {
  await emulator.close()
})

/** A token signed in through the emulator, stored in a new SQLite file: valid for an hour. */
async function signedIn(): Promise<{ path: string; session: Session }> {
  const path = scratchPath(dir, 'force.db')
  const { clientId, clientSecret } = emulator.clients[0]!
  const session = await Initializer.initialize({
    environment: emulator.environment,
    store: new SQLiteStore({ path }),
    token: new OAuthToken({ clientId, clientSecret, grantToken: emulator.issueGrantCode() }),
  })
  return { path, session }
}

/** Another session on the token, through its own handle on the file (as another process). */
function sessionOn(path: string, id: string): Promise<Session> {
  return Initializer.initialize({
    environment: emulator.environment,
    store: new SQLiteStore({ path }),
    token: new OAuthToken({ id }),
  })
}

describe('session.refresh({ force })', () => {
  it('refreshes a valid token now, saves it; without force a valid token is kept', async () => {
    const { path, session } = await signedIn()
    const first = session.token
    emulator.resetCounts()

    const kept = await session.refresh()
    expect(emulator.counts.refresh).toBe(0)
    expect(kept.accessToken).toBe(first.accessToken)

    const forced = await session.refresh({ force: true })
    expect(emulator.counts.refresh).toBe(1)
    expect(forced.accessToken).not.toBe(first.accessToken)
    expect(emulator.isValid(forced.accessToken!)).toBe(true)
    expect(forced.refreshToken).toBe(first.refreshToken)
    expect(await session.getAccessToken()).toBe(forced.accessToken)
    const store = new SQLiteStore({ path })
    expect((await store.findTokenById(session.id!))?.accessToken).toBe(forced.accessToken)
    await store.close()
  })

  it('concurrent forced refreshes of one token share one refresh, in a process and across', async () => {
    const { path, session } = await signedIn()
    const id = session.id!
    const sameStore = await Initializer.initialize({
      environment: emulator.environment,
      store: session.store,
      token: new OAuthToken({ id }),
    })
    const otherProcess = await sessionOn(path, id)
    emulator.resetCounts()

    const results = await Promise.all([
      session.refresh({ force: true }),
      sameStore.refresh({ force: true }),
      otherProcess.refresh({ force: true }),
    ])
    // One refresh: the same store's callers wait for the flight, the other handle finds the
    // token replaced under the lease and takes it.
    expect(emulator.counts.refresh).toBe(1)
    expect(new Set(results.map((t) => t.accessToken)).size).toBe(1)
    expect(results[0]?.accessToken).toMatch(/./)
  })

  it('refuses options it does not know, and a force that is not a boolean', async () => {
    const { session } = await signedIn()
    await expect(session.refresh({ forse: true } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'options.forse',
    })
    await expect(session.refresh({ force: 'yes' } as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      argument: 'options.force',
    })
    await expect(session.refresh(null as never)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
  })

  it('a forced refresh of a token that cannot be refreshed says so', async () => {
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store: new SQLiteStore({ path: scratchPath(dir, 'access-only.db') }),
      token: new OAuthToken({ accessToken: 'access-only', expiryTime: Date.now() + HOUR }),
    })
    const refused = await session.refresh({ force: true }).catch((err: unknown) => err)
    expect(refused).toMatchObject({ code: 'MANDATORY_VALUE_ERROR' })
    expect(String(refused)).toMatch(/the token cannot be refreshed: the token has no refresh/)
  })
})

describe('tokenkeeper refresh <id>', () => {
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT })

  it('refreshes a valid token once, and an expired one once too', async () => {
    const { path, session } = await signedIn()
    const id = session.id!
    await session.store.close?.()
    const args = ['refresh', id, '--store', `sqlite:${path}`, '--accounts-url', emulator.url]

    emulator.resetCounts()
    await cli(args)
    expect(emulator.counts.refresh).toBe(1)

    // Expired: loading it refreshes it; that refresh is the one the command asked for.
    const store = new SQLiteStore({ path })
    const stored = (await store.findTokenById(id))!
    stored.expiryTime = Date.now() - HOUR
    await store.saveToken(stored)
    emulator.resetCounts()
    const { stdout } = await cli(args)
    expect(stdout).toMatch(new RegExp(`^refreshed ${id}: the access token expires in \\d+m`))
    expect(emulator.counts.refresh).toBe(1)
    expect((await store.findTokenById(id))?.accessToken).not.toBe(stored.accessToken)
    await store.close()
  })
})
