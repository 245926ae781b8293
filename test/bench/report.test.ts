// The benchmark report: ratios, targets and what limits a target that is not met, from the
// results of a run.
import { describe, expect, it } from 'vitest'
import {
  renderMarkdown,
  targetFor,
  type BenchReport,
  type BenchResult,
} from '../../bench/report.ts'
import { growthTable } from '../../bench/scale-report.ts'
import type { ScaleFigures } from '../../bench/scale.ts'

const result = (
  store: string,
  operation: string,
  tokens: number,
  callers: number,
  median: number,
): BenchResult => ({
  store,
  operation,
  tokens,
  callers,
  median,
  p25: median * 0.9,
  p75: median * 1.1,
  rounds: 5,
  opsPerRound: 100,
})

const report: BenchReport = {
  date: '2026-11-23T10:00:00.000Z',
  node: 'v20.20.2',
  cpus: '2 × test cpu',
  quick: false,
  results: [
    result('FileStore', 'findToken', 10_000, 1, 300_000),
    result('official FileStore', 'findToken', 10_000, 1, 150),
    result('FileStore', 'saveToken', 1000, 1, 500),
    result('official FileStore', 'saveToken', 1000, 1, 1000),
    result('FileStore', 'saveToken', 10_000, 1, 150),
    result('FileStore', 'saveToken', 10_000, 16, 1000),
    result('RedisStore', 'driver round trip', 0, 1, 9000),
    result('RedisStore', 'findToken', 100_000, 1, 8000),
    result('DBStore', 'findToken', 100_000, 32, 70_000),
  ],
  counts: [
    {
      what: 'refresh requests: 100 callers',
      official: 100,
      tokenkeeper: 1,
      officialNote: '3 of 100 callers failed',
      better: 'fewer',
    },
    { what: 'new users kept', official: 0, tokenkeeper: 100, better: 'more' },
    { what: 'new users before failure', official: 10, tokenkeeper: 10_000, better: 'more' },
  ],
}

describe('the benchmark report', () => {
  const markdown = renderMarkdown(report)
  const line = (start: string) => markdown.split('\n').find((l) => l.startsWith(start)) ?? ''

  it('puts each official measurement beside ours with the ratio either way', () => {
    expect(line('| findToken, file store | 10,000 |')).toBe(
      '| findToken, file store | 10,000 | 150/s | 300,000/s | 2,000× faster |',
    )
    expect(line('| saveToken (a refresh), file store; ours durable | 1,000 |')).toContain(
      '| 2.0× slower |',
    )
  })

  it('shows counted outcomes with their notes and which way is better', () => {
    expect(line('| refresh requests: 100 callers')).toBe(
      '| refresh requests: 100 callers | – | 100 (3 of 100 callers failed) | 1 | 100× fewer |',
    )
    expect(line('| new users kept')).toContain('| official saved none |')
    expect(line('| new users before failure')).toContain('| 1,000× more |')
  })

  it('marks targets met or not, and says what limits one that is not, from the same run', () => {
    expect(line('| DBStore findToken, 100,000 tokens, 32 callers')).toContain('✓ met')
    const save = line('| FileStore saveToken, 10,000 tokens, 1 caller')
    expect(save).toContain('≥ 200/s')
    expect(save).toMatch(/✗ not met: .*16 callers reached 1\.0k\/s/)
    expect(line('| RedisStore findToken, 100,000 tokens, 1 caller')).toMatch(
      /✗ not met: .*round trip .* ran at 9\.0k\/s/,
    )
    // A target whose measurement is missing from the run is left out, not shown as met.
    expect(markdown).not.toContain('SQLiteStore findToken, 100,000 tokens')
    expect(
      targetFor({
        store: 'official FileStore',
        operation: 'findToken',
        tokens: 100_000,
        callers: 1,
      }),
    ).toBeUndefined()
  })
})

describe('a benchmark run with a failed section', () => {
  it('keeps every row measured and names the section that failed', () => {
    const markdown = renderMarkdown({
      ...report,
      problems: ['official SDK: refresh storm: a process was not ready'],
    })
    expect(markdown).toContain('**Sections that failed in this run**')
    expect(markdown).toContain('- official SDK: refresh storm: a process was not ready')
    expect(markdown).toContain('| findToken, file store | 10,000 | 150/s | 300,000/s |')
  })
})

describe('the scale section says whether each cost grows with the rows', () => {
  // Only what the growth table reads; the other figures do not enter it.
  const figures = (store: string, rows: number, firstOpenMs: number, iterateMs: number) =>
    ({
      store,
      rows,
      firstOpenMs,
      openMs: 5,
      iterate: { ms: iterateMs },
      firstOpenNote: 'reads the file',
      fillNote: 'bulk',
    }) as unknown as ScaleFigures

  it('gives the time per row at the larger size over that at the smaller, and flags growth', () => {
    const lines = growthTable(
      [figures('FileStore', 100_000, 1000, 200), figures('FileStore', 1_000_000, 10_500, 30_000)],
      [100_000, 1_000_000],
    ).filter((line) => line.startsWith('| FileStore |') && line.split('|').length === 6)
    // First open: 10.5 s / 1M over 1 s / 100k = 1.05; the pass: 30 s / 1M over 0.2 s / 100k = 15.
    expect(lines).toEqual(['| FileStore | 1.05 | 0.10 | 15.00 (grows faster than the rows) |'])
  })

  it('has no growth table for one size', () => {
    expect(growthTable([figures('FileStore', 10_000, 100, 20)], [10_000])).toEqual([])
  })
})

describe('the keeper rows', () => {
  const keeperRows = {
    keeperIdle: [
      {
        store: 'SQLiteStore',
        tokens: 100_000,
        how: 'index on (expiry, id)',
        firstPassMs: 1561,
        medianMs: 0.031,
        minMs: 0.03,
        maxMs: 0.105,
        passes: 7,
        fullReadMs: 748.4,
        fullReadPasses: 3,
        allIdleMs: 0.052,
      },
      {
        store: 'RedisStore',
        tokens: 100_000,
        how: 'sorted set of ids by expiry',
        firstPassMs: 7600,
        medianMs: 0.57,
        minMs: 0.5,
        maxMs: 0.9,
        passes: 7,
        fullReadMs: 7800,
        fullReadPasses: 3,
      },
    ],
    keeper: [
      {
        keepers: 4,
        tokens: 10_000,
        cycles: 3,
        lifetimeSec: 600,
        signInMs: 9000,
        refreshesPerCycle: 9721,
        refreshedEveryCycle: 9163,
        refreshedOnceLess: 837,
        refreshedOtherwise: 0,
        duplicates: 0,
        expiredReads: 0,
        callerReads: 133_385,
        failed: 0,
        cpuMsPerRefresh: 4.5,
        maxRssMb: 138,
        longestPassMs: 11_894,
      },
    ],
  }

  it('shows the idle pass per store and the kept tokens, in the run of the rest', () => {
    const markdown = renderMarkdown({ ...report, ...keeperRows })
    expect(markdown).toContain(
      '| SQLiteStore | index on (expiry, id) | 1.56 s | 31 µs (105 µs) | 748.4 ms | 52 µs |',
    )
    // A row measured before the all-idle pass existed says so instead of inventing a figure.
    expect(markdown).toContain('| 7.80 s | not measured |')
    expect(markdown).toContain(
      '| 4 | 10,000 | 600 s (300 s) | 3 | 9,721 | 9,163 / 837 / 0 | 0 | 0 of 133,385 | 0 | 4.50 ms | 138 MB | 11,894 ms |',
    )
    expect(markdown).not.toContain('run of their own')
  })

  it('says which run they are from when --only keeper measured them apart', () => {
    const markdown = renderMarkdown({
      ...report,
      ...keeperRows,
      keeperRun: {
        date: '2026-11-30T15:24:00.000Z',
        node: 'v20.20.2',
        cpus: '2 × other cpu',
        quick: false,
        command: 'npm run bench -- --only keeper',
      },
    })
    expect(markdown).toContain(
      "The keeper's rows are from a run of their own: 2 × other cpu, Node v20.20.2, 2026-11-30, `npm run bench -- --only keeper`.",
    )
    expect(markdown).toContain('One run on 2 × test cpu, Node v20.20.2, 2026-11-23.')
  })
})
