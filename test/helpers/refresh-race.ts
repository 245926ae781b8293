// The setting of the maintenance race tests: the accounts emulator with rotation on and a little
// latency, behind a proxy that holds back refresh answers, a clock the sessions and the emulator
// share, and stores of each kind opened twice (the refreshing process's handle, the maintenance's).
import { afterAll, afterEach, beforeAll } from 'vitest'
import {
  Initializer,
  OAuthToken,
  UserSignature,
  type Session,
  type TokenStore,
} from '../../src/index.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { slowAnswers, type SlowAnswers } from './slow-answers.ts'
import type { StoreKind, StorePlace } from './store-kinds.ts'

export const HOUR = 3_600_000
export const USER = 'ada@zylker.example'

/** What {@link refreshRace} gives a test file. */
export interface RefreshRace {
  readonly emulator: AccountsEmulator
  readonly link: SlowAnswers
  /** The clock of the emulator and of the sessions made here (epoch ms). */
  readonly clock: { now: number }
  /** A new store of a kind, opened twice: [the session's handle, another's, the place]. */
  twoHandles(kind: StoreKind): Promise<[TokenStore, TokenStore, StorePlace]>
  /** A session signed in through the proxy, whose access token has then expired (by the clock). */
  expiredSession(store: TokenStore, user?: string): Promise<Session>
  /**
   * Starts a refresh of the session and resolves once the emulator has rotated the refresh token
   * and its answer is held: for `holdMs`, or until `link.release()` without it.
   */
  refreshInFlight(session: Session, holdMs?: number): Promise<{ refreshing: Promise<string> }>
}

/** Sets the race up for the test file (started before its tests, closed after them). */
export function refreshRace(dir: string): RefreshRace {
  const clock = { now: Date.now() }
  const places: StorePlace[] = []
  let held = 0
  const race = {
    clock,
    emulator: undefined as unknown as AccountsEmulator,
    link: undefined as unknown as SlowAnswers,
    async twoHandles(kind: StoreKind): Promise<[TokenStore, TokenStore, StorePlace]> {
      const place = kind.place(dir)
      places.push(place)
      return [await place.open(), await place.open(), place]
    },
    async expiredSession(store: TokenStore, user = USER): Promise<Session> {
      const { clientId, clientSecret } = race.emulator.clients[0]!
      const session = await Initializer.initialize({
        environment: race.link.environment,
        store,
        token: new OAuthToken({
          clientId,
          clientSecret,
          grantToken: race.emulator.issueGrantCode(),
          userSignature: new UserSignature(user),
        }),
        config: { now: () => clock.now, retries: 0 },
      })
      clock.now += 2 * HOUR
      return session
    },
    async refreshInFlight(session: Session, holdMs?: number) {
      held += 1
      const answered = race.link.held(held)
      race.link.hold(1, holdMs)
      const refreshing = session.getAccessToken()
      // A refresh that fails before its answer is held must not leave the test waiting.
      await Promise.race([answered, refreshing])
      return { refreshing }
    },
  }
  beforeAll(async () => {
    race.emulator = await startAccountsEmulator({
      rotateRefreshTokens: true,
      latencyMs: 20,
      accessTokenLimit: false,
      now: () => clock.now,
    })
    race.link = await slowAnswers(race.emulator.url)
  })
  afterEach(async () => {
    race.link.release()
    for (const place of places.splice(0)) await place.cleanup()
  })
  afterAll(async () => {
    await race.link.close()
    await race.emulator.close()
  })
  return race
}
