// The emulator's counts: request counters by kind, and tallies by refresh token, user, client and
// refusal reason, which a test reads to check who asked for what (and, through the admin
// endpoint, a test whose emulator runs in another process).
import type { EmulatorCounter, EmulatorCounts, EmulatorRefusal } from './types.js'

/** Every counter, in the order {@link EmulatorCounts} lists them. */
export const COUNTERS: readonly EmulatorCounter[] = [
  'consent',
  'approve',
  'exchange',
  'refresh',
  'revoke',
  'api',
  'currentUser',
  'rejected',
  'faults',
  'total',
]

/** The tallies by key. */
const TALLIES = ['refreshesByToken', 'refreshesByUser', 'exchangesByClient', 'refusals'] as const

/** A fresh set of counts, all 0 and every tally empty. */
export function zeroCounts(): EmulatorCounts {
  const counters = Object.fromEntries(COUNTERS.map((name) => [name, 0]))
  // Null prototypes: a key such as `__proto__` or `constructor` (a client id is any string) is
  // counted like any other.
  const tallies = Object.fromEntries(TALLIES.map((name) => [name, Object.create(null) as object]))
  return { ...counters, ...tallies } as EmulatorCounts
}

/** Sets every counter back to 0 and empties the tallies, in place: references stay live. */
export function resetCounts(counts: EmulatorCounts): void {
  for (const name of COUNTERS) counts[name] = 0
  for (const name of TALLIES) {
    const tally = counts[name] as Record<string, number>
    for (const key of Object.keys(tally)) delete tally[key]
  }
}

/** One more for `key` in a tally. */
export function tally(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}

/** One more refusal for `reason`. */
export function countRefusal(counts: EmulatorCounts, reason: EmulatorRefusal): void {
  tally(counts.refusals, reason)
}

/**
 * The counts as `GET /emulator/counts` answers them: all but `refreshesByToken`, whose keys are
 * refresh tokens, which an HTTP answer must not hand out.
 */
export function publicCounts(counts: EmulatorCounts): Omit<EmulatorCounts, 'refreshesByToken'> {
  const { refreshesByToken: _secret, ...rest } = counts
  return rest
}
