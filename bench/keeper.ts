// The keeper rows of `npm run bench`: 10,000 tokens with shortened lifetimes kept fresh over
// three refresh cycles by 1 and by 4 keeper processes sharing one SQLite store, against the
// emulator (in this process) while callers read random tokens from the store.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { signIn, startAccountsEmulator } from '../src/testing/index.ts'

const CHILD = fileURLToPath(new URL('./children/keeper.ts', import.meta.url))

/** What one keeper run measured. */
export interface KeeperFigures {
  readonly keepers: number
  readonly tokens: number
  readonly cycles: number
  /** Refresh requests the emulator received, per cycle (each token is due once a cycle). */
  readonly refreshesPerCycle: number
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
    accessTokenLifetimeSec: lifetimeSec,
  })
  const path = join(work, `keeper-${keepers}-${Date.now()}.db`)
  const store = new SQLiteStore({ path })
  try {
    const ids: string[] = []
    let next = 0
    // Sign the users in 16 at a time, as a fleet of logins would.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < tokens) {
          const user = `keep${next++}@zylker.example`
          ids.push((await signIn(emulator, { store, user })).id!)
        }
      }),
    )
    const cycleMs = (lifetimeSec * 1000) / 2
    // The first cycle after sign-in has nothing due (every token is new): run one more.
    const runMs = cycleMs * (cycles + 1)
    emulator.resetCounts()
    const run = promisify(execFile)
    const children = Array.from({ length: keepers }, () =>
      run(
        process.execPath,
        [
          '--import',
          'tsx',
          CHILD,
          `sqlite:${path}`,
          emulator.url,
          String(runMs),
          String(Math.max(1000, cycleMs / 10)),
          String(cycleMs),
        ],
        { maxBuffer: 1 << 20 },
      ),
    )
    // Callers: read random tokens from the store the whole time, as an app's requests would.
    let reads = 0
    let expired = 0
    const until = Date.now() + runMs
    while (Date.now() < until) {
      const token = await store.findTokenById(ids[Math.floor(Math.random() * ids.length)]!)
      reads += 1
      if (!token?.expiryTime || token.expiryTime <= Date.now()) expired += 1
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const totals = (await Promise.all(children)).map(
      ({ stdout }) => JSON.parse(stdout) as ChildTotals,
    )
    const refreshed = totals.reduce((n, t) => n + t.refreshed, 0)
    const refreshes = emulator.counts.refresh
    return {
      keepers,
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
  return [
    '**The keeper** (tokens with shortened lifetimes kept fresh; each token is due once a cycle):',
    '',
    '| keepers | tokens | cycles | refreshes per cycle | duplicate refreshes | callers handed an expired token | failed | keeper CPU per refresh | keeper peak RSS | longest pass |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...figures.map(
      (f) =>
        `| ${f.keepers} | ${f.tokens.toLocaleString('en-US')} | ${f.cycles} | ${Math.round(f.refreshesPerCycle).toLocaleString('en-US')} | ${f.duplicates} | ${f.expiredReads} of ${f.callerReads.toLocaleString('en-US')} | ${f.failed} | ${f.cpuMsPerRefresh.toFixed(2)} ms | ${f.maxRssMb.toFixed(0)} MB | ${Math.round(f.longestPassMs).toLocaleString('en-US')} ms |`,
    ),
    '',
  ]
}
