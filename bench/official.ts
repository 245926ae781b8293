// The official Zoho CRM TypeScript SDK (@zohocrm/typescript-sdk-8.0) measured in the same run as
// tokenkeeper, on the same machine, with the same tokens: its file store's look-ups and saves,
// its token flow's getToken (its getAccessToken), and the refresh requests of 100 concurrent
// callers of an expired token.
import { join } from 'node:path'
import { FileStore, Initializer, OAuthToken, UserSignature } from '../src/index.ts'
import { startAccountsEmulator } from '../src/testing/index.ts'
import { realisticToken, userName } from './data.ts'
import { measure, type Measurement } from './harness.ts'
import {
  initializeOfficial,
  officialSdk as sdk,
  officialTokenFor,
  type OfficialStore,
} from './official-sdk.ts'

/** A row of the comparison: what was measured, and the result for each side. */
export interface Comparison {
  readonly what: string
  readonly tokens: number
  readonly official: string
  readonly tokenkeeper: string
  readonly ratio: string
}

type Record_ = (
  store: string,
  operation: string,
  tokens: number,
  callers: number,
  m: Measurement,
) => void

/** Fills a token file with `size` users the fast way (our batched saves; the format is theirs). */
async function fill(path: string, size: number, expiryTime: number): Promise<void> {
  const store = new FileStore(path)
  await Promise.all(
    Array.from({ length: size }, (_, i) => {
      const token = realisticToken(i)
      token.expiryTime = expiryTime
      return store.saveToken(token)
    }),
  )
  await store.close()
}

/** Runs the official measurements; returns the side-by-side rows. */
export async function benchOfficial(
  work: string,
  record: Record_,
  sizes: readonly number[],
): Promise<Comparison[]> {
  const comparisons: Comparison[] = []
  const emulator = await startAccountsEmulator({ accessTokenLimit: false })
  try {
    const initialize = (token: Parameters<typeof initializeOfficial>[2], store: OfficialStore) =>
      initializeOfficial(emulator.url, emulator.environment.tokenUrl, token, store)
    for (const size of sizes) {
      const path = join(work, `official-${size}.txt`)
      await fill(path, size, Date.now() + 3_600_000)
      const store = new sdk.FileStore(path)
      // Few operations per round: at 10k tokens each call reads and splits the whole file.
      const ops = Math.max(5, Math.min(2000, Math.round(200_000 / Math.max(size, 100))))
      const probes = Array.from({ length: 64 }, (_, i) =>
        officialTokenFor(userName((i * 7919) % size)),
      )
      const find = await measure((i) => store.findToken(probes[i & 63]!), {
        opsPerRound: ops,
        rounds: 5,
      })
      record('official FileStore', 'findToken', size, 1, find)

      const token = officialTokenFor(userName(0))
      await initialize(token, store)
      const access = await measure(() => token.getToken(), { opsPerRound: ops, rounds: 5 })
      record('official SDK', 'getAccessToken', size, 1, access)
      const ours = await Initializer.initialize({
        environment: emulator.environment,
        store: new FileStore(path),
        token: new OAuthToken({ userSignature: new UserSignature(userName(0)) }),
      })
      const oursAccess = await measure(() => ours.getAccessToken(), {
        opsPerRound: 200_000,
        rounds: 5,
      })
      comparisons.push(
        compare('getAccessToken on a valid token (file store)', size, access, oursAccess),
      )

      if (size >= 1000) {
        let next = size
        const save = await measure(
          () => {
            // A new user as the official flow saves one after a grant exchange.
            const builder = new sdk.OAuthBuilder()
            const fresh = realisticToken(next++)
            builder.clientId(fresh.clientId!)
            builder.clientSecret(fresh.clientSecret!)
            builder.refreshToken(fresh.refreshToken!)
            builder.userSignature(new sdk.UserSignature(fresh.userSignature!.name))
            return store.saveToken(builder.build())
          },
          { opsPerRound: Math.max(3, Math.round(ops / 4)), rounds: 3 },
        )
        record('official FileStore', 'saveToken (new user)', size, 1, save)
      }
    }
    // 100 concurrent callers of an expired token, each with its own token object or session, as
    // the concurrent requests of a web app make them: refresh requests sent.
    const client = emulator.clients[0]!
    const stormPath = join(work, 'official-storm.txt')
    const sharedStore = new FileStore(stormPath)
    const seed = await Initializer.initialize({
      environment: emulator.environment,
      store: sharedStore,
      token: new OAuthToken({
        userSignature: new UserSignature('storm@zylker.example'),
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: emulator.issueGrantCode(),
      }),
    })
    const expire = async (): Promise<void> => {
      const row = (await sharedStore.findTokenById(seed.id!))!
      row.expiryTime = Date.now() - 1000
      await sharedStore.saveToken(row)
    }
    // The official initialization refreshes an expired token itself: expire it after.
    await initialize(officialTokenFor('storm@zylker.example'), new sdk.FileStore(stormPath))
    await expire()
    emulator.resetCounts()
    const official = await Promise.allSettled(
      Array.from({ length: 100 }, () => officialTokenFor('storm@zylker.example').getToken()),
    )
    const officialRefreshes = emulator.counts.refresh
    const officialFailures = official.filter((o) => o.status === 'rejected').length
    await expire()
    emulator.resetCounts()
    const ours = await Promise.allSettled(
      Array.from({ length: 100 }, async () => {
        const session = await Initializer.initialize({
          environment: emulator.environment,
          store: sharedStore,
          token: new OAuthToken({ id: seed.id! }),
        })
        return session.getAccessToken()
      }),
    )
    const ourRefreshes = emulator.counts.refresh
    const ourFailures = ours.filter((o) => o.status === 'rejected').length
    const failed = (n: number) => (n > 0 ? ` (${n} callers failed)` : '')
    comparisons.push({
      what: 'refresh requests for 100 concurrent callers of an expired token',
      tokens: 1,
      official: `${officialRefreshes}${failed(officialFailures)}`,
      tokenkeeper: `${ourRefreshes}${failed(ourFailures)}`,
      ratio: ourRefreshes > 0 ? `${Math.round(officialRefreshes / ourRefreshes)}× fewer` : '–',
    })
  } finally {
    await emulator.close()
  }
  return comparisons
}

function compare(
  what: string,
  tokens: number,
  official: Measurement,
  ours: Measurement,
): Comparison {
  const rate = (m: Measurement) => `${Math.round(m.median).toLocaleString('en-US')}/s`
  return {
    what,
    tokens,
    official: rate(official),
    tokenkeeper: rate(ours),
    ratio: `${(ours.median / official.median).toFixed(0)}× faster`,
  }
}
