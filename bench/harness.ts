/** A measurement: operations per second over several rounds, as a median with its spread. */
export interface Measurement {
  readonly median: number
  readonly p25: number
  readonly p75: number
  readonly rounds: number
  readonly opsPerRound: number
}

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q
  const low = Math.floor(at)
  const high = Math.ceil(at)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (at - low)
}

/**
 * Runs `op` in rounds of `opsPerRound` calls after a warm-up round, and gives the median
 * throughput. `op(i)` gets a running counter so that calls can vary their input.
 *
 * For slow operations give `roundMs` instead: the warm-up round runs calls (at least one) for
 * that long, and each measured round then makes as many calls as the warm-up managed.
 */
export async function measure(
  op: (i: number) => Promise<unknown>,
  options: { rounds?: number; parallel?: number } & ({ opsPerRound: number } | { roundMs: number }),
): Promise<Measurement> {
  const { rounds = 9, parallel = 1 } = options
  let counter = 0
  let opsPerRound: number
  if ('roundMs' in options) {
    const started = performance.now()
    let done = 0
    while (done === 0 || performance.now() - started < options.roundMs) {
      await Promise.all(Array.from({ length: parallel }, () => op(counter++)))
      done += parallel
    }
    opsPerRound = done
  } else {
    opsPerRound = options.opsPerRound
  }
  const round = async (): Promise<number> => {
    const started = process.hrtime.bigint()
    if (parallel === 1) {
      for (let i = 0; i < opsPerRound; i += 1) await op(counter++)
    } else {
      let left = opsPerRound
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (left > 0) {
            left -= 1
            await op(counter++)
          }
        }),
      )
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    return opsPerRound / seconds
  }
  if (!('roundMs' in options)) await round()
  const results: number[] = []
  for (let r = 0; r < rounds; r += 1) results.push(await round())
  results.sort((a, b) => a - b)
  return {
    median: quantile(results, 0.5),
    p25: quantile(results, 0.25),
    p75: quantile(results, 0.75),
    rounds,
    opsPerRound,
  }
}

/** A number of operations per second, shortened for a table. */
export function formatRate(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(2)}M/s`
  if (value >= 10_000) return `${Math.round(value / 1000)}k/s`
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k/s`
  return `${value.toFixed(value >= 100 ? 0 : 1)}/s`
}
