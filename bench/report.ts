import { renderKeeperMarkdown, type KeeperFigures } from './keeper.ts'
import { renderIdleMarkdown, type IdlePassFigures } from './keeper-idle.ts'
// The benchmark report: the targets of the issues, and the tables and chart made from one run's
// results. `npm run bench` writes it; `tsx bench/report.ts` writes it again from
// bench/results.json.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { format } from 'prettier'
import { panelsFromResults, renderChart } from './chart.ts'
import { formatRate, type Measurement } from './harness.ts'
import type { Count } from './official.ts'
import type { ScaleFigures } from './scale.ts'
import { renderScaleMarkdown } from './scale-report.ts'

/** One measurement of the run. */
export interface BenchResult extends Measurement {
  readonly store: string
  readonly operation: string
  /** Stored tokens; 0 where the store holds none (the driver's bare round trip). */
  readonly tokens: number
  readonly callers: number
}

/** What `npm run bench` writes to bench/results.json. */
export interface BenchReport {
  readonly date: string
  readonly node: string
  readonly cpus: string
  readonly quick: boolean
  readonly results: readonly BenchResult[]
  readonly counts: readonly Count[]
  /** The Scale section (bench/scale.ts); absent in reports written before it. */
  readonly scale?: readonly ScaleFigures[]
  /** The keeper rows (bench/keeper.ts); absent in reports written before them. */
  readonly keeper?: readonly KeeperFigures[]
  /** The keeper's pass that finds nothing due, per store (bench/keeper-idle.ts). */
  readonly keeperIdle?: readonly IdlePassFigures[]
  /** The run the keeper rows are from, when `--only keeper` measured them apart from the rest. */
  readonly keeperRun?: {
    readonly date: string
    readonly node: string
    readonly cpus: string
    readonly quick: boolean
    readonly command: string
  }
  /** Sections that failed in this run (their rows are missing); absent in older reports. */
  readonly problems?: readonly string[]
}

type Key = Pick<BenchResult, 'store' | 'operation' | 'tokens' | 'callers'>

/** A target of the issues: a rate some measurement must reach, and what limits it if not. */
interface Target {
  readonly key: Key
  readonly rate: number
  /** Why the measured figure falls short, given the run's other results. */
  readonly limit: (find: (key: Key) => BenchResult | undefined) => string
}

const rateOf = (r: BenchResult | undefined) => (r ? formatRate(r.median) : 'not measured')
const roundTrip = (store: string) => (find: (key: Key) => BenchResult | undefined) =>
  `one look-up is one network round trip; the driver's bare round trip (SELECT 1 or PING) ran at ${rateOf(find({ store, operation: 'driver round trip', tokens: 0, callers: 1 }))} from one caller in this run`

const STORES = ['MemoryStore', 'FileStore', 'SQLiteStore', 'DBStore', 'PostgresStore', 'RedisStore']
const SIZES = [1, 1000, 10_000, 100_000]

export const TARGETS: readonly Target[] = [
  {
    key: { store: 'FileStore', operation: 'findToken', tokens: 100_000, callers: 1 },
    rate: 50_000,
    limit: () => 'an index in memory, revalidated by one stat of the file per call',
  },
  {
    key: { store: 'SQLiteStore', operation: 'findToken', tokens: 100_000, callers: 1 },
    rate: 100_000,
    limit: () =>
      "better-sqlite3's own prepared-statement get() on this machine (a bare get() by primary key measured 100k–135k/s)",
  },
  {
    key: { store: 'FileStore', operation: 'saveToken', tokens: 10_000, callers: 1 },
    rate: 200,
    limit: (find) =>
      `each durable save writes the whole 4 MB file to a new file, fdatasyncs it and renames it (the official format has no other safe way to change one row); saves that arrive together share one write: 16 callers reached ${rateOf(find({ store: 'FileStore', operation: 'saveToken', tokens: 10_000, callers: 16 }))}`,
  },
  ...['DBStore', 'PostgresStore'].flatMap((store): Target[] => [
    {
      key: { store, operation: 'findToken', tokens: 100_000, callers: 1 },
      rate: 5000,
      limit: roundTrip(store),
    },
    {
      key: { store, operation: 'findToken', tokens: 100_000, callers: 32 },
      rate: 20_000,
      limit: () => 'the server and the client share the 2 cores',
    },
  ]),
  {
    key: { store: 'RedisStore', operation: 'findToken', tokens: 100_000, callers: 1 },
    rate: 20_000,
    limit: (find) =>
      `repeated look-ups are answered from the near cache, others take a round trip: ${roundTrip('RedisStore')(find)}`,
  },
  ...STORES.flatMap((store) =>
    SIZES.map((tokens): Target => ({
      key: { store, operation: 'getAccessToken', tokens, callers: 1 },
      rate: 1_000_000,
      limit: () => 'a valid token is served from memory',
    })),
  ),
]

const same = (a: Key, b: Key) =>
  a.store === b.store &&
  a.operation === b.operation &&
  a.tokens === b.tokens &&
  a.callers === b.callers

/** The target a measurement has, if any. */
export function targetFor(key: Key): Target | undefined {
  return TARGETS.find((t) => same(t.key, key))
}

const count = (n: number) => n.toLocaleString('en-US')
const perSecond = (r: BenchResult) => `${count(Math.round(r.median))}/s`
const tokensCell = (n: number) => (n === 0 ? '–' : count(n))

/** "12× faster", "1.5× slower": tokenkeeper's median against the official one. */
function speedRatio(official: BenchResult, ours: BenchResult): string {
  const ratio = ours.median / official.median
  const shown = (x: number) => (x >= 10 ? count(Math.round(x)) : x.toFixed(1))
  return ratio >= 1 ? `${shown(ratio)}× faster` : `${shown(1 / ratio)}× slower`
}

function countRatio(c: Count): string {
  if (c.better === 'fewer') {
    if (c.tokenkeeper === 0) return '–'
    return c.official === c.tokenkeeper
      ? 'same'
      : `${count(Math.round(c.official / c.tokenkeeper))}× fewer`
  }
  if (c.official === 0) return c.tokenkeeper > 0 ? 'official saved none' : '–'
  return c.official === c.tokenkeeper
    ? 'same'
    : `${count(Math.round(c.tokenkeeper / c.official))}× more`
}

/** The rows that pair an official measurement with ours. */
const PAIRS: readonly { what: string; official: string; ours: string; operation: string }[] = [
  {
    what: 'getAccessToken on a valid token, file store',
    official: 'official SDK, FileStore',
    ours: 'FileStore',
    operation: 'getAccessToken',
  },
  {
    what: 'getAccessToken on a valid token, MySQL store',
    official: 'official SDK, DBStore',
    ours: 'DBStore',
    operation: 'getAccessToken',
  },
  {
    what: 'findToken, file store',
    official: 'official FileStore',
    ours: 'FileStore',
    operation: 'findToken',
  },
  {
    what: 'findToken, MySQL store',
    official: 'official DBStore',
    ours: 'DBStore',
    operation: 'findToken',
  },
  {
    what: 'saveToken (a refresh), file store; ours durable',
    official: 'official FileStore',
    ours: 'FileStore',
    operation: 'saveToken',
  },
  {
    what: 'saveToken (a refresh), MySQL store',
    official: 'official DBStore',
    ours: 'DBStore',
    operation: 'saveToken',
  },
]

/** The Markdown the README shows: side by side, the targets, then every measurement. */
export function renderMarkdown(report: BenchReport): string {
  const find = (key: Key) => report.results.find((r) => same(r, key))
  const sideBySide = PAIRS.flatMap(({ what, official, ours, operation }) =>
    SIZES.flatMap((tokens) => {
      const theirs = find({ store: official, operation, tokens, callers: 1 })
      const mine = find({ store: ours, operation, tokens, callers: 1 })
      if (!theirs || !mine) return []
      return [
        `| ${what} | ${count(tokens)} | ${perSecond(theirs)} | ${perSecond(mine)} | ${speedRatio(theirs, mine)} |`,
      ]
    }),
  )
  const withNote = (n: number, note?: string) => (note ? `${count(n)} (${note})` : count(n))
  const counted = report.counts.map(
    (c) =>
      `| ${c.what} | – | ${withNote(c.official, c.officialNote)} | ${withNote(c.tokenkeeper, c.tokenkeeperNote)} | ${countRatio(c)} |`,
  )
  const targets = TARGETS.flatMap((t) => {
    const r = find(t.key)
    if (!r) return []
    const met = r.median >= t.rate
    const what = `${t.key.store} ${t.key.operation}, ${count(t.key.tokens)} token${t.key.tokens === 1 ? '' : 's'}, ${t.key.callers} caller${t.key.callers > 1 ? 's' : ''}`
    return [
      `| ${what} | ≥ ${formatRate(t.rate)} | ${formatRate(r.median)} (${formatRate(r.p25)} – ${formatRate(r.p75)}) | ${met ? '✓ met' : `✗ not met: ${t.limit(find)}`} |`,
    ]
  })
  const all = report.results.map(
    (r) =>
      `| ${r.store} | ${r.operation} | ${tokensCell(r.tokens)} | ${r.callers} | ${formatRate(r.median)} | ${formatRate(r.p25)} – ${formatRate(r.p75)} |`,
  )
  return [
    `One run on ${report.cpus}, Node ${report.node}, ${report.date.slice(0, 10)}${report.quick ? ' (--quick)' : ''}. Medians of several rounds; p25 – p75 beside them.`,
    '',
    ...(report.problems?.length
      ? [
          '**Sections that failed in this run** (their rows are missing below):',
          '',
          ...report.problems.map((p) => `- ${p}`),
          '',
        ]
      : []),
    '**Side by side with the official SDK** (`@zohocrm/typescript-sdk-8.0`), one caller:',
    '',
    '| measured | stored tokens | official SDK | tokenkeeper | ratio |',
    '|---|---:|---:|---:|---|',
    ...sideBySide,
    ...counted,
    '',
    '**Performance targets** (set when each store was built; a miss is explained beside it):',
    '',
    '| target | required | measured (p25 – p75) | |',
    '|---|---:|---:|---|',
    ...targets,
    '',
    ...(report.keeperRun
      ? [
          `The keeper's rows are from a run of their own: ${report.keeperRun.cpus}, Node ${report.keeperRun.node}, ${report.keeperRun.date.slice(0, 10)}, \`${report.keeperRun.command}\`.`,
          '',
        ]
      : []),
    ...renderIdleMarkdown(report.keeperIdle ?? []),
    ...renderKeeperMarkdown(report.keeper ?? []),
    ...renderScaleMarkdown(report.scale ?? []),
    '**Every measurement:**',
    '',
    '| store | operation | stored tokens | callers | median | p25 – p75 |',
    '|---|---|---:|---:|---:|---:|',
    ...all,
    '',
  ].join('\n')
}

/** The chart: throughput against stored tokens, one caller, every store and the official SDK. */
export function renderSvg(report: BenchReport): string {
  const panels = panelsFromResults(report.results, [
    { operation: 'getAccessToken', title: 'getAccessToken on a valid token' },
    { operation: 'findToken', title: 'findToken' },
    { operation: 'saveToken', title: 'saveToken (a refresh)' },
  ])
  return renderChart(panels, {
    title: 'Throughput against stored tokens: tokenkeeper and the official SDK (dashed)',
    subtitle: `one caller, medians; ${report.cpus}, Node ${report.node}, ${report.date.slice(0, 10)}`,
  })
}

const START = '<!-- bench:start -->'
const END = '<!-- bench:end -->'

/**
 * Writes bench/results.json, bench/results.md and bench/throughput.svg, and puts the tables
 * into docs/benchmarks.md between its bench markers, formatted as the project's prettier formats them.
 */
export async function writeReport(report: BenchReport): Promise<void> {
  const here = (name: string) => new URL(`./${name}`, import.meta.url)
  const markdown = await format(renderMarkdown(report), { parser: 'markdown' })
  writeFileSync(here('results.json'), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(here('results.md'), markdown)
  writeFileSync(here('throughput.svg'), renderSvg(report))
  const readmeUrl = new URL('../docs/benchmarks.md', import.meta.url)
  const readme = readFileSync(readmeUrl, 'utf8')
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start)
    throw new Error(`docs/benchmarks.md lacks the ${START} … ${END} markers`)
  writeFileSync(
    readmeUrl,
    `${readme.slice(0, start + START.length)}\n\n${markdown}\n${readme.slice(end)}`,
  )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = JSON.parse(
    readFileSync(new URL('./results.json', import.meta.url), 'utf8'),
  ) as BenchReport
  await writeReport(report)
  console.log('written to bench/results.md, bench/throughput.svg and docs/benchmarks.md')
}
