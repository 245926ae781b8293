// Maintenance against a refresh running at the same time, with rotation on: purgeTokens,
// revokeTokens and the migration take each token's lease and read it again before they write.
// The refresh is caught at its most fragile moment: the emulator has rotated the refresh token,
// and its answer is still on the way (held by a proxy) while the maintenance runs.
import { describe, expect, it } from 'vitest'
import {
  IdCollisionError,
  Initializer,
  OAuthToken,
  UserSignature,
  purgeTokens,
  revokeTokens,
} from '../src/index.ts'
import { migrateTokens } from '../src/migration.ts'
import { scratchDir } from './helpers/common.ts'
import { HOUR, USER, refreshRace } from './helpers/refresh-race.ts'
import { FILE, POSTGRES, REDIS, SQLITE, type StoreKind } from './helpers/store-kinds.ts'
import { describeWithService } from './helpers/services.ts'

/** How long the refresh's answer is held back while the maintenance runs. */
const HOLD_MS = 700

const race = refreshRace(scratchDir('tokenkeeper-races-'))

function races(kind: StoreKind): void {
  it(`purgeTokens keeps a token refreshed while it ran (${kind.name})`, async () => {
    const [mine, theirs] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const { refreshing } = await race.refreshInFlight(session, HOLD_MS)

    const result = await purgeTokens(theirs, { expired: true, now: () => race.clock.now })
    const atReturn = await theirs.findTokenById(id)
    await refreshing
    const newest = session.token

    // Kept, and in its newest form, when purge returns: nothing to resurrect, nothing lost.
    expect(atReturn?.refreshToken).toBe(newest.refreshToken)
    expect(result.deleted).not.toContain(id)
    expect(result.kept).toEqual([id])
    expect((await theirs.findTokenById(id))?.refreshToken).toBe(newest.refreshToken)
    expect(race.emulator.isValid(newest.refreshToken!)).toBe(true)
  })

  it(`revokeTokens revokes the rotated refresh token and leaves no row behind (${kind.name})`, async () => {
    const [mine, theirs] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const first = session.token.refreshToken!
    const { refreshing } = await race.refreshInFlight(session, HOLD_MS)

    // The environment that issued the token (through the proxy): revokeTokens sends a token's
    // secrets only to the accounts server its API domain names.
    const result = await revokeTokens(theirs, {
      environment: race.link.environment,
      userName: USER,
    })
    await refreshing.catch(() => undefined)
    const newest = session.token

    expect(result).toEqual({ revoked: [id], failed: [], kept: [] })
    expect(newest.refreshToken).not.toBe(first)
    // Nothing valid is left at the server, and no row (a dead one) came back in the store.
    for (const token of [first, newest.refreshToken!, newest.accessToken!]) {
      expect(race.emulator.isValid(token)).toBe(false)
    }
    expect(await theirs.findTokenById(id)).toBeNull()
    expect(await mine.findTokenById(id)).toBeNull()
  })

  it(`Session.revoke in another process revokes the rotated token, no row comes back (${kind.name})`, async () => {
    const [mine, theirs] = await race.twoHandles(kind)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const first = session.token.refreshToken!
    // Another process's session, started while the token was still valid.
    const then = race.clock.now - 2 * HOUR
    const other = await Initializer.initialize({
      environment: race.emulator.environment,
      store: theirs,
      token: new OAuthToken({ id }),
      config: { now: () => then },
    })
    const { refreshing } = await race.refreshInFlight(session, HOLD_MS)

    await other.revoke()
    await refreshing.catch(() => undefined)
    const newest = session.token

    expect(newest.refreshToken).not.toBe(first)
    for (const token of [first, newest.refreshToken!, newest.accessToken!]) {
      expect(race.emulator.isValid(token)).toBe(false)
    }
    expect(await theirs.findTokenById(id)).toBeNull()
  })

  it(`migrateTokens ends with the newest token in the target (${kind.name} to SQLite)`, async () => {
    const [mine, source] = await race.twoHandles(kind)
    const [target] = await race.twoHandles(SQLITE)
    const session = await race.expiredSession(mine)
    const id = session.id!
    const { refreshing } = await race.refreshInFlight(session, HOLD_MS)

    const result = await migrateTokens(source, target)
    await refreshing
    const newest = (await source.findTokenById(id))!

    expect(newest.refreshToken).toBe(session.token.refreshToken)
    expect((await target.findTokenById(id))?.fields()).toEqual(newest.fields())
    expect(result).toMatchObject({ failed: [], missing: [], different: [] })
    // Read before the refresh answered, copied after it: counted as changed meanwhile.
    expect(result.changed).toEqual([id])
    // The copy is alive: a session on the target refreshes it.
    race.clock.now += 2 * HOUR
    const moved = await Initializer.initialize({
      environment: race.emulator.environment,
      store: target,
      token: new OAuthToken({ id }),
      config: { now: () => race.clock.now },
    })
    expect(race.emulator.isValid(await moved.getAccessToken())).toBe(true)
  })
}

describe('maintenance under the leases, against a refresh with rotation', () => {
  races(FILE)
  races(SQLITE)
})
await describeWithService('postgres', 'maintenance races on PostgreSQL', () => races(POSTGRES))
await describeWithService('redis', 'maintenance races on Redis', () => races(REDIS))

describe('migrateTokens: id collisions', () => {
  it('refuses a target row of another user under the same id, before writing anything', async () => {
    const [source] = await race.twoHandles(SQLITE)
    const [target] = await race.twoHandles(SQLITE)
    const ada = new OAuthToken({
      userSignature: new UserSignature(USER),
      clientId: '1000.A',
      clientSecret: 'secret-a',
      refreshToken: 'refresh-ada',
    })
    const grace = new OAuthToken({
      userSignature: new UserSignature('grace@zylker.example'),
      clientId: '1000.A',
      clientSecret: 'secret-a',
      refreshToken: 'refresh-grace',
    })
    await source.saveToken(ada)
    await source.saveToken(grace)
    const mallory = new OAuthToken({
      id: ada.id,
      userSignature: new UserSignature('mallory@evil.example'),
      clientId: '1000.A',
      clientSecret: 'secret-m',
      refreshToken: 'refresh-mallory',
    })
    await target.saveToken(mallory)
    const before = (await target.getTokens()).map((token) => token.fields())

    const error = await migrateTokens(source, target).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(IdCollisionError)
    expect(error).toMatchObject({ code: 'ID_COLLISION', ids: [ada.id] })
    expect((error as Error).message).toContain(ada.id)
    expect((error as Error).message).toMatch(/delete or rename .* or migrate into an empty store/)
    expect((error as Error).message).not.toMatch(/secret|refresh-/)
    expect((await target.getTokens()).map((token) => token.fields())).toEqual(before)
  })
  it('does not overwrite a token refreshed in the target (a later expiry): it fails instead', async () => {
    const [source] = await race.twoHandles(SQLITE)
    const [target] = await race.twoHandles(SQLITE)
    const now = Date.now()
    const old = new OAuthToken({
      userSignature: new UserSignature(USER),
      clientId: '1000.A',
      clientSecret: 'secret-a',
      refreshToken: 'refresh-old',
      accessToken: 'access-old',
      expiryTime: now,
    })
    await source.saveToken(old)
    const newer = old.clone()
    newer.refreshToken = 'refresh-new'
    newer.accessToken = 'access-new'
    newer.expiryTime = now + HOUR
    await target.saveToken(newer)

    const result = await migrateTokens(source, target)
    expect(result.failed).toEqual([
      { id: old.id, reason: expect.stringMatching(/target holds a newer token/) as unknown },
    ])
    expect(result.different).toEqual([old.id])
    expect((await target.findTokenById(old.id!))?.refreshToken).toBe('refresh-new')
  })
})
