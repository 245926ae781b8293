// Maintenance against a refresh running at the same time, with rotation on: purgeTokens,
// revokeTokens and the migration take each token's lease and read it again before they write.
// The refresh is caught at its most fragile moment: the emulator has rotated the refresh token,
// and its answer is still on the way (held by a proxy) while the maintenance runs.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  IdCollisionError,
  Initializer,
  OAuthToken,
  UserSignature,
  purgeTokens,
  revokeTokens,
  type Session,
  type TokenStore,
} from '../src/index.ts'
import { migrateTokens } from '../src/migration.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'
import { scratchDir } from './helpers.ts'
import { slowAnswers, type SlowAnswers } from './helpers/slow-answers.ts'
import {
  FILE,
  POSTGRES,
  REDIS,
  SQLITE,
  type StoreKind,
  type StorePlace,
} from './helpers/store-kinds.ts'
import { describeWithService } from './services.ts'

const dir = scratchDir('tokenkeeper-races-')
const HOUR = 3_600_000
/** How long the refresh's answer is held back while the maintenance runs. */
const HOLD_MS = 700
const USER = 'ada@zylker.example'

const clock = { now: Date.now() }
let emulator: AccountsEmulator
let link: SlowAnswers
beforeAll(async () => {
  emulator = await startAccountsEmulator({
    rotateRefreshTokens: true,
    latencyMs: 20,
    accessTokenLimit: false,
    now: () => clock.now,
  })
  link = await slowAnswers(emulator.url)
})
afterAll(async () => {
  await link.close()
  await emulator.close()
})

const places: StorePlace[] = []
afterEach(async () => {
  link.release()
  await Promise.all(places.splice(0).map((place) => place.cleanup()))
})

/** Two handles on one new store of a kind: the refreshing process's and the maintenance's. */
async function twoHandles(kind: StoreKind): Promise<[TokenStore, TokenStore, StorePlace]> {
  const place = kind.place(dir)
  places.push(place)
  return [await place.open(), await place.open(), place]
}

/** A signed-in session whose access token has expired (by the shared clock). */
async function expiredSession(store: TokenStore, user = USER): Promise<Session> {
  const { clientId, clientSecret } = emulator.clients[0]!
  const session = await Initializer.initialize({
    environment: link.environment,
    store,
    token: new OAuthToken({
      clientId,
      clientSecret,
      grantToken: emulator.issueGrantCode(),
      userSignature: new UserSignature(user),
    }),
    config: { now: () => clock.now, retries: 0 },
  })
  clock.now += 2 * HOUR
  return session
}

/** Starts a refresh of the session and waits until the server rotated and the answer is held. */
async function refreshInFlight(session: Session): Promise<{ refreshing: Promise<string> }> {
  heldCount += 1
  const held = link.held(heldCount)
  link.hold(1, HOLD_MS)
  const refreshing = session.getAccessToken()
  await held
  return { refreshing }
}
let heldCount = 0

function races(kind: StoreKind): void {
  it(`purgeTokens keeps a token refreshed while it ran (${kind.name})`, async () => {
    const [mine, theirs] = await twoHandles(kind)
    const session = await expiredSession(mine)
    const id = session.id!
    const { refreshing } = await refreshInFlight(session)

    const result = await purgeTokens(theirs, { expired: true, now: () => clock.now })
    const atReturn = await theirs.findTokenById(id)
    await refreshing
    const newest = session.token

    // Kept, and in its newest form, when purge returns: nothing to resurrect, nothing lost.
    expect(atReturn?.refreshToken).toBe(newest.refreshToken)
    expect(result.deleted).not.toContain(id)
    expect(result.kept).toEqual([id])
    expect((await theirs.findTokenById(id))?.refreshToken).toBe(newest.refreshToken)
    expect(emulator.isValid(newest.refreshToken!)).toBe(true)
  })

  it(`revokeTokens revokes the rotated refresh token and leaves no row behind (${kind.name})`, async () => {
    const [mine, theirs] = await twoHandles(kind)
    const session = await expiredSession(mine)
    const id = session.id!
    const first = session.token.refreshToken!
    const { refreshing } = await refreshInFlight(session)

    const result = await revokeTokens(theirs, {
      environment: emulator.environment,
      userName: USER,
    })
    await refreshing.catch(() => undefined)
    const newest = session.token

    expect(result).toEqual({ revoked: [id], failed: [] })
    expect(newest.refreshToken).not.toBe(first)
    // Nothing valid is left at the server, and no row (a dead one) came back in the store.
    for (const token of [first, newest.refreshToken!, newest.accessToken!]) {
      expect(emulator.isValid(token)).toBe(false)
    }
    expect(await theirs.findTokenById(id)).toBeNull()
    expect(await mine.findTokenById(id)).toBeNull()
  })

  it(`migrateTokens ends with the newest token in the target (${kind.name} to SQLite)`, async () => {
    const [mine, source] = await twoHandles(kind)
    const [target] = await twoHandles(SQLITE)
    const session = await expiredSession(mine)
    const id = session.id!
    const { refreshing } = await refreshInFlight(session)

    const result = await migrateTokens(source, target)
    await refreshing
    const newest = (await source.findTokenById(id))!

    expect(newest.refreshToken).toBe(session.token.refreshToken)
    expect((await target.findTokenById(id))?.fields()).toEqual(newest.fields())
    expect(result).toMatchObject({ failed: [], missing: [], different: [] })
    // Read before the refresh answered, copied after it: counted as changed meanwhile.
    expect(result.changed).toEqual([id])
    // The copy is alive: a session on the target refreshes it.
    clock.now += 2 * HOUR
    const moved = await Initializer.initialize({
      environment: emulator.environment,
      store: target,
      token: new OAuthToken({ id }),
      config: { now: () => clock.now },
    })
    expect(emulator.isValid(await moved.getAccessToken())).toBe(true)
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
    const [source] = await twoHandles(SQLITE)
    const [target] = await twoHandles(SQLITE)
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
})
