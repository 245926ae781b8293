// The keeper rows of `npm run bench`: 10,000 tokens with shortened lifetimes kept fresh over
// three refresh cycles by 1 and by 4 keeper processes sharing one SQLite store, against the
// emulator (in this process) while callers read random tokens from the store.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import type Database from 'better-sqlite3'
import { OAuthToken, UserSignature } from '../src/index.ts'
import { COLUMNS, rowFromToken } from '../src/store/rows.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'

const CHILD = fileURLToPath(new URL('./children/keeper.ts', import.meta.url))

/** What one keeper run measured. */
export interface KeeperFigures {
  readonly keepers: number
  readonly tokens: number
  readonly cycles: number
  /** Refresh requests the emulator received, per cycle (each token is due once a cycle). */
  readonly refreshesPerCycle: number
  /**
   * Tokens by how often the emulator saw them refreshed (by refresh token): once a cycle; once
   * less (their last due time fell after the run, pushed by the waits for a pass); any other
   * count (missed or refreshed twice in a cycle), which must be 0.
   */
  readonly refreshedEveryCycle: number
  readonly refreshedOnceLess: number
  readonly refreshedOtherwise: number
  /** The access tokens' lifetime (a cycle is half of it), and how long the sign-in took. */
  readonly lifetimeSec: number
  readonly signInMs: number
  /** Refreshes the keepers made beyond one per due token (two keepers on one token). */
  readonly duplicates: number
  /** Reads by callers that found an expired access token, of `callerReads`. */
  readonly expiredReads: number
  readonly callerReads: number
  readonly failed: number
  /** Keeper CPU (all keepers) per refresh, ms; the largest keeper's peak RSS, MB. */
  readonly cpuMsPerRefresh: number
  readonly maxRssMb: number
  readonly longestPassMs: number
}

interface ChildTotals {
  passes: number
  due: number
  refreshed: number
  fresh: number
  busy: number
  failed: number
  longestPassMs: number
  cpuMs: number
  maxRssMb: number
}

/**
 * Signs `tokens` users in: a grant code each, exchanged at the emulator 16 at a time, and the
 * tokens written into the store's table in one transaction, in its own format (`rowFromToken`),
 * ids 1..N. Through the store, one durable save at a time, 10,000 sign-ins took minutes on a
 * loaded machine; this is the fill, not what is measured. Signed in at once, every token would
 * fall due in the same pass; a fleet signs in over time, so each token's stored expiry is set
 * back by up to a cycle, evenly (never later than the real one: the keeper
 * then refreshes it earlier than it must, and callers never believe an expired token valid).
 */
async function signInInBulk(
  emulator: AccountsEmulator,
  store: SQLiteStore,
  tokens: number,
  cycleMs: number,
): Promise<string[]> {
  const { clientId, clientSecret } = emulator.clients[0]!
  const rows: (string | null)[][] = []
  let next = 0
  let failed = false
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      try {
        while (next < tokens && !failed) {
          const i = next++
          const response = await fetch(emulator.environment.tokenUrl, {
            method: 'POST',
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              client_id: clientId,
              client_secret: clientSecret,
              code: emulator.issueGrantCode(),
            }),
          })
          const grant = (await response.json()) as Record<string, unknown>
          if (typeof grant.access_token !== 'string' || typeof grant.refresh_token !== 'string') {
            throw new Error(`the emulator refused a sign-in: ${String(grant.error)}`)
          }
          const token = new OAuthToken({
            userSignature: new UserSignature(`keep${i}@zylker.example`),
            clientId,
            clientSecret,
            accessToken: grant.access_token,
            refreshToken: grant.refresh_token,
            // Stored up to a cycle before its real expiry, spread evenly: the tokens fall due
            // across a cycle, as a fleet signed in over time does.
            expiryTime: Date.now() + Number(grant.expires_in) * 1000 - (cycleMs * i) / tokens,
            apiDomain: emulator.url,
          })
          const row = rowFromToken(token, String(i + 1))
          rows.push(COLUMNS.map((c) => row[c]))
        }
      } catch (err) {
        failed = true
        throw err
      }
    }),
  )
  await store.getTokens() // creates the table and its indexes
  const db = store.database as Database.Database
  const insert = db.prepare(
    `INSERT INTO oauthtoken (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
  )
  db.transaction(() => {
    for (const row of rows) insert.run(row)
  })()
  return Array.from({ length: tokens }, (_, i) => String(i + 1))
}

/**
 * Keeps `tokens` tokens fresh with `keepers` processes for `cycles` refresh cycles: access tokens
 * live `lifetimeSec`, are refreshed when half of that is left, so each is due once per half
 * lifetime (one cycle).
 */
export async function benchKeeper(
  work: string,
  {
    tokens,
    keepers,
    cycles,
    lifetimeSec,
  }: { tokens: number; keepers: number; cycles: number; lifetimeSec: number },
): Promise<KeeperFigures> {
  const emulator = await startAccountsEmulator({
    accessTokenLimit: false,
    exchangeLimit: false,
    accessTokenLifetimeSec: lifetimeSec,
  })
  const path = join(work, `keeper-${keepers}-${Date.now()}.db`)
  const store = new SQLiteStore({ path })
  try {
    const cycleMs = (lifetimeSec * 1000) / 2
    const started = Date.now()
    const ids = await signInInBulk(emulator, store, tokens, cycleMs)
    const signInMs = Date.now() - started
    // Each token falls due within a cycle of its sign-in (see signInInBulk), then once a cycle
    // plus the wait for the next pass. The keepers run for `cycles` cycles from the first
    // sign-in: a token is due `cycles` times in that window, or one time fewer when the waits
    // for a pass pushed its last due time past the end (counted per refresh token, below).
    const runMs = started + cycleMs * cycles - Date.now()
    if (signInMs > cycleMs / 5) {
      throw new Error(
        `signing ${tokens} users in took ${signInMs} ms, more than a fifth of a cycle (${cycleMs} ms): give the tokens a longer lifetime (KEEPER_LIFETIME_SEC)`,
      )
    }
    emulator.resetCounts()
    const run = promisify(execFile)
    // Killed if this run fails half way, so that no keeper outlives it and the next section
    // starts on a quiet machine; their outcomes are awaited (never left unhandled) either way.
    const abort = new AbortController()
    const children = Promise.allSettled(
      Array.from({ length: keepers }, () =>
        run(
          process.execPath,
          [
            '--import',
            'tsx',
            CHILD,
            `sqlite:${path}`,
            emulator.url,
            String(runMs),
            String(Math.max(1000, cycleMs / 30)),
            String(cycleMs),
          ],
          { maxBuffer: 1 << 20, signal: abort.signal },
        ),
      ),
    )
    let totals: ChildTotals[]
    // Callers: read random tokens from the store the whole time, as an app's requests would.
    let reads = 0
    let expired = 0
    try {
      const until = Date.now() + runMs
      while (Date.now() < until) {
        const token = await store.findTokenById(ids[Math.floor(Math.random() * ids.length)]!)
        reads += 1
        if (!token?.expiryTime || token.expiryTime <= Date.now()) expired += 1
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      totals = (await children).map((outcome) => {
        if (outcome.status === 'rejected') {
          const { message, stderr } = outcome.reason as { message: string; stderr?: string }
          throw new Error(
            `a keeper process failed: ${stderr?.trim().split('\n').at(-1) ?? message}`,
          )
        }
        return JSON.parse(outcome.value.stdout) as ChildTotals
      })
    } finally {
      abort.abort()
      await children
    }
    const refreshed = totals.reduce((n, t) => n + t.refreshed, 0)
    const refreshes = emulator.counts.refresh
    // Without rotation each token keeps its refresh token: its refreshes are counted by it.
    const perToken = Object.values(emulator.counts.refreshesByToken)
    while (perToken.length < tokens) perToken.push(0)
    const refreshedTimes = (n: number) => perToken.filter((times) => times === n).length
    return {
      keepers,
      signInMs,
      lifetimeSec,
      refreshedEveryCycle: refreshedTimes(cycles),
      refreshedOnceLess: refreshedTimes(cycles - 1),
      refreshedOtherwise: tokens - refreshedTimes(cycles) - refreshedTimes(cycles - 1),
      tokens,
      cycles,
      refreshesPerCycle: refreshes / cycles,
      duplicates: refreshes - refreshed,
      expiredReads: expired,
      callerReads: reads,
      failed: totals.reduce((n, t) => n + t.failed, 0),
      cpuMsPerRefresh: totals.reduce((n, t) => n + t.cpuMs, 0) / Math.max(1, refreshes),
      maxRssMb: Math.max(...totals.map((t) => t.maxRssMb)),
      longestPassMs: Math.max(...totals.map((t) => t.longestPassMs)),
    }
  } finally {
    await store.close()
    await emulator.close()
  }
}

/** The keeper rows as a Markdown table. */
export function renderKeeperMarkdown(figures: readonly KeeperFigures[]): string[] {
  if (figures.length === 0) return []
  const n = (value: number) => Math.round(value).toLocaleString('en-US')
  return [
    "**The keeper** (tokens with shortened lifetimes kept fresh by keeper processes on one SQLite store, against the emulator, while callers read random tokens; a token is due when half its lifetime is left, so once a cycle of half a lifetime, and the tokens fall due evenly across a cycle; refreshes per token are counted at the emulator: a token refreshed once less than the cycles had its last due time pushed past the end of the run by the waits for a pass; CPU is all keepers' user and system time):",
    '',
    '| keepers | tokens | lifetime (cycle) | cycles | refreshes per cycle | tokens refreshed every cycle / once less / otherwise | duplicate refreshes | callers handed an expired token | failed | keeper CPU per refresh | keeper peak RSS | longest pass |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...figures.map(
      (f) =>
        `| ${f.keepers} | ${n(f.tokens)} | ${f.lifetimeSec} s (${f.lifetimeSec / 2} s) | ${f.cycles} | ${n(f.refreshesPerCycle)} | ${n(f.refreshedEveryCycle)} / ${n(f.refreshedOnceLess)} / ${n(f.refreshedOtherwise)} | ${f.duplicates} | ${f.expiredReads} of ${n(f.callerReads)} | ${f.failed} | ${f.cpuMsPerRefresh.toFixed(2)} ms | ${f.maxRssMb.toFixed(0)} MB | ${n(f.longestPassMs)} ms |`,
    ),
    '',
  ]
}
