// The CLI's per-token commands and migrate, run as real processes while this process refreshes
// the same token with rotation on (its answer held back by a proxy after the emulator rotated).
// Each command must wait for the refresh's lease and act on the token as the refresh left it.
import { describe, expect, it } from 'vitest'
import { Initializer, OAuthToken } from '../../src/index.ts'
import { scratchDir } from '../helpers/common.ts'
import { HOUR, refreshRace } from '../helpers/refresh-race.ts'
import { FILE, POSTGRES, SQLITE, type StoreKind } from '../helpers/store-kinds.ts'
import { describeWithService } from '../helpers/services.ts'
import { cli, type Child } from '../helpers/cli-child.ts'

const race = refreshRace(scratchDir('tokenkeeper-cli-races-'))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Lets the held refresh answer go once the command shows that it waits for the lease (or, for
 * a command that does not say so, after `fallbackMs`), or once it has ended without waiting.
 */
async function releaseWhen(child: Child, fallbackMs?: number): Promise<void> {
  await Promise.race([
    child.done,
    child.saw('stderr', /is in use/),
    ...(fallbackMs === undefined ? [] : [sleep(fallbackMs)]),
  ])
  race.link.release()
}

function commands(kind: StoreKind): void {
  it(`delete waits for the refresh and leaves no row behind (${kind.name})`, async () => {
    const [mine, , place] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const { refreshing } = await race.refreshInFlight(session)

    const child = cli(['delete', id, '--store', place.url])
    await releaseWhen(child)
    const run = await child.done
    await refreshing.catch(() => undefined)

    expect(run.code, run.stderr).toBe(0)
    // Deleted after the refresh saved, not before it (when the refresh would put it back).
    expect(await mine.findTokenById(id)).toBeNull()
    expect(run.stderr).toMatch(/token \S+ is in use/)
  })

  it(`revoke <id> revokes the rotated refresh token and leaves no row behind (${kind.name})`, async () => {
    const [mine, , place] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const first = session.token.refreshToken!
    const { refreshing } = await race.refreshInFlight(session)

    const child = cli(['revoke', id, '--store', place.url, '--accounts-url', race.emulator.url])
    await releaseWhen(child)
    const run = await child.done
    await refreshing.catch(() => undefined)
    const newest = session.token

    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('revoked 1, failed 0')
    expect(await mine.findTokenById(id)).toBeNull()
    for (const token of [first, newest.refreshToken!, newest.accessToken!]) {
      expect(race.emulator.isValid(token)).toBe(false)
    }
  })

  it(`refresh waits for the refresh in flight and keeps its chain (${kind.name})`, async () => {
    const [mine, , place] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const first = session.token.refreshToken!
    const { refreshing } = await race.refreshInFlight(session)
    const refreshes = race.emulator.counts.refresh

    const child = cli(['refresh', id, '--store', place.url, '--accounts-url', race.emulator.url])
    // The command says the token is in use before its session waits for the lease.
    await releaseWhen(child)
    const run = await child.done
    await refreshing

    expect(run.code, run.stderr).toBe(0)
    const stored = (await mine.findTokenById(id))!
    // The command's forced refresh is answered by the one that replaced the token while it
    // waited for the lease (session.refresh({ force })): no second request, and the chain goes
    // on from the newest link, which is stored; the older one is spent.
    expect(race.emulator.counts.refresh).toBe(refreshes)
    expect(stored.refreshToken).toBe(session.token.refreshToken)
    expect(stored.refreshToken).not.toBe(first)
    expect(race.emulator.isValid(stored.refreshToken!)).toBe(true)
    expect(race.emulator.isValid(first)).toBe(false)
  })

  it(`purge --idle keeps a token refreshed while it ran (${kind.name})`, async () => {
    const [mine, , place] = await race.twoHandles(kind)
    // Signed in 40 days ago, unused since: idle. Now it is used again, and refreshed.
    race.clock.now = Date.now() - 40 * 24 * HOUR
    const session = await race.expiredSession(mine)
    race.clock.now = Date.now()
    const id = session.id!
    const { refreshing } = await race.refreshInFlight(session)

    const child = cli(['purge', '--idle', '30d', '--store', place.url])
    // purge waits for the lease without a word: let the answer go once it had time to start.
    await releaseWhen(child, 4000)
    const run = await child.done
    await refreshing

    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/purged 0 tokens/)
    const stored = await mine.findTokenById(id)
    expect(stored?.refreshToken).toBe(session.token.refreshToken)
  })
}

function migrations(kind: StoreKind): void {
  it(`migrate copies the token in its newest form (${kind.name} to SQLite)`, async () => {
    const [mine, , source] = await race.twoHandles(kind)
    const [copied, , target] = await race.twoHandles(SQLITE)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const { refreshing } = await race.refreshInFlight(session)

    const child = cli(['migrate', '--from', source.url, '--to', target.url])
    // Once the command has read the source (the refresh still unanswered), let the answer go.
    await Promise.race([child.done, child.saw('stdout', /tokens? in the source/)])
    race.link.release()
    const run = await child.done
    await refreshing

    expect(run.code, run.stdout + run.stderr).toBe(0)
    const newest = (await mine.findTokenById(id))!
    expect((await copied.findTokenById(id))?.refreshToken).toBe(newest.refreshToken)
    expect((await copied.findTokenById(id))?.fields()).toEqual(newest.fields())
    expect(run.stdout).toMatch(/1 changed in the source while migrating/)
    expect(run.stdout).toMatch(/0 missing, 0 different - ok/)
    // The copy is alive: the application, moved to the target, refreshes it.
    race.clock.now += 2 * HOUR
    const moved = await Initializer.initialize({
      environment: race.emulator.environment,
      store: copied,
      token: new OAuthToken({ id }),
      config: { now: () => race.clock.now },
    })
    expect(race.emulator.isValid(await moved.getAccessToken())).toBe(true)
  })
}

describe('CLI per-token commands against a refresh in flight', () => {
  commands(FILE)
  migrations(FILE)
})
await describeWithService('postgres', 'CLI per-token commands on PostgreSQL', () => {
  commands(POSTGRES)
  migrations(POSTGRES)
})
