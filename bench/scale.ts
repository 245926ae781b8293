// Every store at scale: `npx tsx bench/scale.ts [kind,...] [rows,...]` (kinds: file, sqlite,
// mysql, postgres, redis; default all at 100,000 and 1,000,000), and the "Scale" section of
// `npm run bench`. A store is filled in bulk as a user of the official SDKs has it (see
// scale-stores.ts), then: the time to open it (the first open builds tokenkeeper's additive
// schema), findToken by user and saveToken of a new user, full passes with iterateTokens and
// getTokens, each in a process of its own so that its peak memory is its own, the CLI's passes
// (`list --json`, a `purge --expired` that removes nothing) with their peak RSS, and the official
// SDK's findToken where it can take part.
import { execFileSync, spawnSync } from 'node:child_process'
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { OAuthToken, UserSignature, type TokenStore } from '../src/index.ts'
import type { TokenIteration } from '../src/iteration.ts'
import { createStore } from '../src/stores/create.ts'
import { realisticToken, userName } from './data.ts'
import {
  FIRST_OPEN,
  MYSQL_DATABASE,
  SCALE_KINDS,
  SERVER_OF,
  STORE_NAMES,
  fillStore,
  type ScaleKind,
} from './scale-stores.ts'
import { reachable } from './servers.ts'

export { SCALE_KINDS, STORE_NAMES, type ScaleKind }

/** A full pass over the store, measured in its own process. */
export interface PassFigures {
  readonly ms: number
  readonly tokens: number
  /** Peak resident memory above the open store's, and the part of it that is not file pages. */
  readonly rssGrowth: number
  readonly anonGrowth: number
  readonly heapGrowth: number
}

/** A CLI command over the whole store, with the peak RSS of its process. */
export interface CliFigures {
  readonly ms: number
  /** "Maximum resident set size" of /usr/bin/time -v, in bytes. */
  readonly maxRss: number
  /** The error's last line when the command failed. */
  readonly failed?: string | undefined
}

/** The official SDK's findToken on the same store, each call in one process. */
export interface OfficialFigures {
  readonly what: string
  readonly medianMs: number
  readonly calls: number
  readonly maxRss: number
}

/** What {@link benchScale} measures. */
export interface ScaleFigures {
  readonly kind: ScaleKind
  readonly store: string
  readonly rows: number
  readonly fillMs: number
  readonly fillNote: string
  readonly fileBytes?: number | undefined
  /** A new store and a first findTokenById, in a new process. */
  readonly firstOpenMs: number
  readonly firstOpenNote: string
  readonly openMs: number
  /** Medians of single calls, in microseconds. */
  readonly findTokenUs: number
  readonly finds: number
  /** The first findToken's time (µs): the file store builds its lookup index then. */
  readonly firstFindUs?: number | undefined
  readonly saveTokenUs: number
  readonly saves: number
  readonly iterate: PassFigures
  readonly getTokens?: PassFigures | undefined
  readonly list: CliFigures
  readonly purge: CliFigures
  readonly official?: OfficialFigures | undefined
}

const SELF = fileURLToPath(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = join(ROOT, 'dist/cli/main.js')

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** A figure of /proc/self/status, in bytes (Linux); `undefined` elsewhere. */
function status(field: 'VmHWM' | 'RssAnon'): number | undefined {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').match(
      new RegExp(`^${field}:\\s+(\\d+)`, 'm'),
    )
    return line ? Number(line[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

type ScaleStore = TokenStore & TokenIteration & { close(): Promise<void> }
const open = async (url: string) => (await createStore(url)) as ScaleStore

/** In a child: one open of the store, timed; prints the milliseconds. */
async function childOpen(url: string, id: string): Promise<void> {
  const started = performance.now()
  const store = await open(url)
  const found = await store.findTokenById(id)
  const ms = performance.now() - started
  if (!found) throw new Error(`token ${id} not found`)
  await store.close()
  process.stdout.write(JSON.stringify(ms))
}

/** In a child: one full pass, timed, with its peak memory; prints {@link PassFigures}. */
async function childPass(url: string, way: string): Promise<void> {
  const store = await open(url)
  await store.findTokenById('1')
  // The peak resident size counts from here (Linux: "5" resets VmHWM).
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    // Elsewhere the sampled peak below is the figure.
  }
  const start = process.memoryUsage()
  const startAnon = status('RssAnon') ?? start.rss
  let peak = { rss: start.rss, anon: startAnon, heap: start.heapUsed }
  const sample = (): void => {
    const now = process.memoryUsage()
    peak = {
      rss: Math.max(peak.rss, now.rss),
      anon: Math.max(peak.anon, status('RssAnon') ?? now.rss),
      heap: Math.max(peak.heap, now.heapUsed),
    }
  }
  const started = performance.now()
  let tokens = 0
  if (way === 'iterate') {
    for await (const token of store.iterateTokens()) {
      void token
      tokens += 1
      if (tokens % 5000 === 0) sample()
    }
  } else {
    const all = await store.getTokens()
    sample()
    tokens = all.length
  }
  const ms = performance.now() - started
  sample()
  const figures: PassFigures = {
    ms,
    tokens,
    rssGrowth: Math.max(peak.rss, status('VmHWM') ?? 0) - start.rss,
    anonGrowth: peak.anon - startAnon,
    heapGrowth: peak.heap - start.heapUsed,
  }
  await store.close()
  process.stdout.write(JSON.stringify(figures))
}

/** In a child: the official SDK's findToken of random users, `calls` times, one after another. */
async function childOfficial(kind: string, location: string, rows: string, calls: string) {
  const { officialSdk: sdk, officialTokenFor } = await import('./official-sdk.ts')
  let store
  if (kind === 'file') {
    store = new sdk.FileStore(location)
  } else {
    const builder = new sdk.DBBuilder()
    builder.host('127.0.0.1')
    builder.databaseName(MYSQL_DATABASE)
    builder.tableName(location)
    builder.userName('root')
    builder.password('')
    builder.portNumber(3306)
    store = builder.build()
  }
  const times: number[] = []
  for (let i = 0; i < Number(calls); i += 1) {
    const probe = officialTokenFor(userName(Math.floor(Math.random() * Number(rows))))
    const started = performance.now()
    const found = await store.findToken(probe)
    times.push(performance.now() - started)
    if (!found) throw new Error('the official store did not find a stored user')
  }
  process.stdout.write(
    JSON.stringify({ medianMs: median(times), calls: times.length, maxRss: status('VmHWM') ?? 0 }),
  )
  // The official DBStore leaves its connections open.
  process.exit(0)
}

function child<T>(...args: string[]): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--child', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1024 * 1024,
  })
  return JSON.parse(out) as T
}

/** A CLI command on the store under /usr/bin/time -v, its output to /dev/null. */
function cli(url: string, ...args: string[]): CliFigures {
  const devNull = openSync('/dev/null', 'w')
  try {
    const started = performance.now()
    const run = spawnSync('/usr/bin/time', ['-v', process.execPath, CLI, ...args, '--store', url], {
      stdio: ['ignore', devNull, 'pipe'],
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    })
    const ms = performance.now() - started
    const rss = run.stderr.match(/Maximum resident set size \(kbytes\): (\d+)/)
    const lines = run.stderr.split('\n').filter((line) => line && !/^\t/.test(line))
    const error = lines.find((line) => !line.startsWith('Command exited with'))
    return {
      ms,
      maxRss: rss ? Number(rss[1]) * 1024 : 0,
      failed: run.status === 0 ? undefined : (error ?? `exit ${run.status}`).slice(0, 160),
    }
  } finally {
    closeSync(devNull)
  }
}

/**
 * `count` calls of `op` one after another, stopped after `maxMs` (at least 5): their median, and
 * the first call's time apart (the file store builds its lookup index then); the time box starts
 * after it.
 */
async function timed(count: number, maxMs: number, op: (i: number) => Promise<unknown>) {
  const times: number[] = []
  let begun = performance.now()
  for (let i = 0; i < count && (i < 5 || performance.now() - begun < maxMs); i += 1) {
    if (i === 1) begun = performance.now()
    const started = performance.now()
    await op(i)
    times.push(performance.now() - started)
  }
  return { us: median(times) * 1000, calls: times.length, firstUs: times[0]! * 1000 }
}

/**
 * That the bulk fill left what the store itself would have: a stored token found by its refresh
 * token (the token indexes), and the first new user numbered N + 1 (the numbering's index).
 */
async function checkLayout(store: ScaleStore, rows: number): Promise<void> {
  const first = await store.findTokenById('1')
  const byRefresh = await store.findToken(new OAuthToken({ refreshToken: first!.refreshToken! }))
  if (byRefresh?.id !== '1') throw new Error('token 1 was not found by its refresh token')
  const user = new OAuthToken({ userSignature: new UserSignature(userName(rows)) })
  const saved = await store.findToken(user)
  if (saved?.id !== String(rows + 1)) {
    throw new Error(`the first new user got id ${saved?.id}, not ${rows + 1}`)
  }
}

/** Fills a store of `rows` tokens (scratch files in `dir`) and measures it (see the top). */
export async function benchScale(
  kind: ScaleKind,
  rows: number,
  dir: string,
  log: (line: string) => void = () => undefined,
): Promise<ScaleFigures> {
  const filled = await fillStore(kind, dir, rows)
  const step = (what: string) => log(`  ${STORE_NAMES[kind]} ${rows}: ${what}`)
  try {
    step(`filled in ${(filled.fillMs / 1000).toFixed(1)} s`)
    const middle = String(Math.ceil(rows / 2))
    const firstOpenMs = child<number>('open', filled.url, middle)
    const openMs = child<number>('open', filled.url, middle)
    step('opened')

    const store = await open(filled.url)
    const find = await timed(1000, 10_000, async () => {
      const probe = new OAuthToken({
        userSignature: new UserSignature(userName(Math.floor(Math.random() * rows))),
      })
      if (!(await store.findToken(probe))) throw new Error('a stored user was not found')
    })
    const save = await timed(200, 10_000, (i) => store.saveToken(realisticToken(rows + i)))
    await checkLayout(store, rows)
    await store.close()
    step('findToken and saveToken measured')

    const iterate = child<PassFigures>('pass', filled.url, 'iterate')
    const getTokens = child<PassFigures>('pass', filled.url, 'getTokens')
    step('passes measured')
    const list = cli(filled.url, 'list', '--json')
    const purge = cli(filled.url, 'purge', '--expired')
    step('CLI measured')

    let official: OfficialFigures | undefined
    if (filled.official) {
      const calls = filled.official.kind === 'file' ? (rows >= 1_000_000 ? 3 : 5) : 5
      const figures = child<Omit<OfficialFigures, 'what'>>(
        'official',
        filled.official.kind,
        filled.official.location,
        String(rows),
        String(calls),
      )
      official = {
        what: filled.official.kind === 'file' ? 'official FileStore' : 'official DBStore',
        ...figures,
      }
      step('official SDK measured')
    }
    return {
      kind,
      store: STORE_NAMES[kind],
      rows,
      fillMs: filled.fillMs,
      fillNote: filled.fillNote,
      fileBytes: filled.path === undefined ? undefined : statSync(filled.path).size,
      firstOpenMs,
      firstOpenNote: FIRST_OPEN[kind],
      openMs,
      findTokenUs: find.us,
      finds: find.calls,
      firstFindUs: find.firstUs,
      saveTokenUs: save.us,
      saves: save.calls,
      iterate,
      getTokens,
      list,
      purge,
      official,
    }
  } finally {
    await filled.drop()
  }
}

/**
 * The "Scale" section: builds the CLI (dist/) from the sources, then every kind whose server
 * listens at every size. Sizes from SCALE_ROWS (comma-separated) when set.
 */
export async function benchScaleSection(
  sizes: readonly number[],
  kinds: readonly ScaleKind[] = SCALE_KINDS,
): Promise<ScaleFigures[]> {
  console.log(`\nScale: ${kinds.join(', ')} at ${sizes.map(count).join(' and ')} tokens`)
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  const figures: ScaleFigures[] = []
  const dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-scale-'))
  try {
    for (const rows of sizes) {
      for (const kind of kinds) {
        const server = SERVER_OF[kind]
        if (server && !(await reachable(server.host, server.port))) {
          console.log(
            `${STORE_NAMES[kind]}: skipped, nothing listens on ${server.host}:${server.port}`,
          )
          continue
        }
        const f = await benchScale(kind, rows, dir, (line) => console.error(line))
        console.log(formatScale(f))
        figures.push(f)
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return figures
}

/** SCALE_ROWS ("100000,1000000"), or `fallback`. */
export function scaleSizes(fallback: readonly number[]): number[] {
  const given = process.env.SCALE_ROWS
  if (!given) return [...fallback]
  const sizes = given.split(',').map(Number)
  if (!sizes.every((n) => Number.isSafeInteger(n) && n >= 1000)) {
    throw new Error('SCALE_ROWS: comma-separated sizes of at least 1000, such as 100000,1000000')
  }
  return sizes
}

const MB = 1024 * 1024
const count = (n: number): string => Math.round(n).toLocaleString('en-US')
export const ms = (n: number): string =>
  n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`
export const mb = (n: number): string => `${(n / MB).toFixed(0)} MB`
export const us = (n: number): string => (n >= 10_000 ? ms(n / 1000) : `${n.toFixed(0)} µs`)

/** A pass's time and the memory it added: resident / not file pages / JS heap. */
export const passCell = (p: PassFigures): string =>
  `${ms(p.ms)}; +${mb(p.rssGrowth)} / +${mb(p.anonGrowth)} / +${mb(p.heapGrowth)}`
export const cliCell = (c: CliFigures): string =>
  c.failed
    ? `failed after ${ms(c.ms)}, ${mb(c.maxRss)} (${c.failed})`
    : `${ms(c.ms)}; ${mb(c.maxRss)}`

/** The figures of one store as a small table. */
export function formatScale(f: ScaleFigures): string {
  const lines: string[][] = [
    [
      'fill in bulk',
      ms(f.fillMs),
      f.fillNote + (f.fileBytes ? `; ${mb(f.fileBytes)} after the run` : ''),
    ],
    ['first open', ms(f.firstOpenMs), `new store + findTokenById: ${f.firstOpenNote}`],
    ['open', ms(f.openMs), 'new store + findTokenById, in a new process'],
    [
      'findToken by user',
      us(f.findTokenUs),
      `median of ${f.finds} random users${f.firstFindUs === undefined ? '' : `; the first took ${us(f.firstFindUs)}`}`,
    ],
    ['saveToken, new user', us(f.saveTokenUs), `median of ${f.saves}`],
    [
      'pass: iterateTokens',
      ms(f.iterate.ms),
      `peak memory added: ${passCell(f.iterate).split('; ')[1]}`,
    ],
    ...(f.getTokens
      ? [
          [
            'pass: getTokens',
            ms(f.getTokens.ms),
            `peak memory added: ${passCell(f.getTokens).split('; ')[1]}`,
          ],
        ]
      : []),
    [
      'CLI list --json',
      ms(f.list.ms),
      f.list.failed ? `FAILED: ${f.list.failed}` : `max RSS ${mb(f.list.maxRss)}`,
    ],
    [
      'CLI purge --expired',
      ms(f.purge.ms),
      f.purge.failed ? `FAILED: ${f.purge.failed}` : `max RSS ${mb(f.purge.maxRss)}`,
    ],
    ...(f.official
      ? [
          [
            `${f.official.what} findToken`,
            ms(f.official.medianMs),
            `median of ${f.official.calls}, max RSS ${mb(f.official.maxRss)}`,
          ],
        ]
      : []),
  ]
  const width = [0, 1].map((i) => Math.max(...lines.map((line) => line[i]!.length)))
  return [
    `${f.store} at ${count(f.rows)} tokens (memory added: resident / not file pages / JS heap)`,
    ...lines.map(
      ([what, value, note]) =>
        `  ${what!.padEnd(width[0]!)}  ${value!.padStart(width[1]!)}  ${note}`,
    ),
  ].join('\n')
}

if (process.argv[1] === SELF) {
  const [flag, ...args] = process.argv.slice(2)
  if (flag === '--child') {
    const [what, ...rest] = args as [string, ...string[]]
    if (what === 'open') await childOpen(rest[0]!, rest[1]!)
    else if (what === 'pass') await childPass(rest[0]!, rest[1]!)
    else await childOfficial(rest[0]!, rest[1]!, rest[2]!, rest[3]!)
  } else {
    const words = process.argv.slice(2)
    const kinds = words.filter((w): w is ScaleKind => /^[a-z]/.test(w)).flatMap((w) => w.split(','))
    const unknown = kinds.filter((k) => !(SCALE_KINDS as readonly string[]).includes(k))
    if (unknown.length > 0) {
      throw new Error(`usage: npx tsx bench/scale.ts [${SCALE_KINDS.join('|')},...] [rows,...]`)
    }
    const sized = words.find((w) => /^\d/.test(w))
    if (sized) process.env.SCALE_ROWS = sized
    const figures = await benchScaleSection(
      scaleSizes([100_000, 1_000_000]),
      kinds.length > 0 ? (kinds as ScaleKind[]) : SCALE_KINDS,
    )
    // SCALE_OUT=path keeps the figures as JSON, for the report.
    if (process.env.SCALE_OUT)
      writeFileSync(process.env.SCALE_OUT, JSON.stringify(figures, null, 2))
    process.exit(0)
  }
}
