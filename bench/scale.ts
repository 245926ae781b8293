// The embedded stores at scale: `npx tsx bench/scale.ts [sqlite|file] [rows]`, default both at
// 1,000,000. A store is filled in bulk as the official SDKs leave it (their table or token file
// alone, ids 1..N), then: the time to open it (SQLite's first open also builds tokenkeeper's
// indexes), findToken by user and saveToken of a new user, and a full pass with iterateTokens
// and with getTokens, each pass in a process of its own so that its peak memory is its own.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { COLUMNS } from '../src/store.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { FileStore, OAuthToken, UserSignature, type TokenStore } from '../src/index.ts'
import type { TokenIteration } from '../src/iteration.ts'
import { formatRecord } from '../src/stores/csv.ts'
import { createTableSql } from '../src/stores/sql/schema.ts'
import { realisticToken, userName } from './data.ts'
import { rowBatches } from './servers.ts'

/** A full pass over the store, measured in its own process. */
export interface PassFigures {
  readonly ms: number
  readonly tokens: number
  /** Peak resident memory above the open store's, and the part of it that is not file pages. */
  readonly rssGrowth: number
  readonly anonGrowth: number
  readonly heapGrowth: number
}

/** The stores measured: the embedded ones, whose files the official SDKs share. */
export type ScaleKind = 'sqlite' | 'file'

/** What {@link benchScale} measures. */
export interface ScaleFigures {
  readonly kind: ScaleKind
  readonly rows: number
  readonly fillMs: number
  readonly databaseBytes: number
  /** A new store and a first findTokenById, in a new process. */
  readonly firstOpenMs: number
  readonly openMs: number
  /** Medians of single calls, in microseconds. */
  readonly findTokenUs: number
  readonly saveTokenUs: number
  readonly iterate: PassFigures
  readonly getTokens: PassFigures
}

const SELF = fileURLToPath(import.meta.url)

/**
 * Fills a new database in the official table (no index but the primary key), or a token file as
 * the official SDKs write it, ids 1..rows.
 */
function fill(kind: ScaleKind, path: string, rows: number): void {
  if (kind === 'file') {
    const lines = [formatRecord(COLUMNS)]
    for (const batch of rowBatches(rows, 10_000))
      for (const row of batch) lines.push(formatRecord(row))
    writeFileSync(path, lines.join('\n') + '\n')
    return
  }
  const db = new Database(path)
  db.exec(createTableSql('sqlite', 'oauthtoken'))
  const insert = db.prepare(
    `INSERT INTO oauthtoken (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
  )
  db.transaction(() => {
    for (const batch of rowBatches(rows, 10_000)) for (const row of batch) insert.run(row)
  })()
  db.close()
}

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

function open(
  kind: ScaleKind,
  path: string,
): TokenStore & TokenIteration & { close(): Promise<void> } {
  return kind === 'file' ? new FileStore(path) : new SQLiteStore({ path })
}

/** In a child: one open of the store, timed; prints the milliseconds. */
async function childOpen(kind: ScaleKind, path: string, id: string): Promise<void> {
  const started = performance.now()
  const found = await open(kind, path).findTokenById(id)
  const ms = performance.now() - started
  if (!found) throw new Error(`token ${id} not found`)
  process.stdout.write(JSON.stringify(ms))
}

/** In a child: one full pass, timed, with its peak memory; prints {@link PassFigures}. */
async function childPass(kind: ScaleKind, path: string, way: string): Promise<void> {
  const store = open(kind, path)
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
  process.stdout.write(JSON.stringify(figures))
}

function child<T>(...args: string[]): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--child', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out) as T
}

/** Fills a store of `rows` tokens in a scratch directory and measures it (see the top). */
export async function benchScale(kind: ScaleKind, rows: number): Promise<ScaleFigures> {
  const dir = mkdtempSync(join(tmpdir(), `tokenkeeper-scale-${kind}-`))
  try {
    const path = join(dir, kind === 'file' ? 'sdk_tokens.txt' : 'zohooauth.db')
    let started = performance.now()
    fill(kind, path, rows)
    const fillMs = performance.now() - started
    const middle = String(Math.ceil(rows / 2))
    const firstOpenMs = child<number>('open', kind, path, middle)
    const openMs = child<number>('open', kind, path, middle)

    const store = open(kind, path)
    const finds: number[] = []
    for (let i = 0; i < 1000; i += 1) {
      const probe = new OAuthToken({
        userSignature: new UserSignature(userName(Math.floor(Math.random() * rows))),
      })
      started = performance.now()
      const found = await store.findToken(probe)
      finds.push(performance.now() - started)
      if (!found) throw new Error('a stored user was not found')
    }
    const saves: number[] = []
    for (let i = 0; i < 200; i += 1) {
      const token = realisticToken(rows + i)
      started = performance.now()
      await store.saveToken(token)
      saves.push(performance.now() - started)
    }
    await store.close()
    const databaseBytes = statSync(path).size

    return {
      kind,
      rows,
      fillMs,
      databaseBytes,
      firstOpenMs,
      openMs,
      findTokenUs: median(finds) * 1000,
      saveTokenUs: median(saves) * 1000,
      iterate: child<PassFigures>('pass', kind, path, 'iterate'),
      getTokens: child<PassFigures>('pass', kind, path, 'getTokens'),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const MB = 1024 * 1024
const count = (n: number): string => Math.round(n).toLocaleString('en-US')
const ms = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(1)} ms`)
const mb = (n: number): string => `${(n / MB).toFixed(0)} MB`

/** The figures as a small table. */
export function formatScale(f: ScaleFigures): string {
  const pass = (name: string, p: PassFigures): string[] => [
    name,
    ms(p.ms),
    `${count((p.tokens / p.ms) * 1000)} tokens/s; peak RSS +${mb(p.rssGrowth)} ` +
      `(not file pages +${mb(p.anonGrowth)}, heap +${mb(p.heapGrowth)})`,
  ]
  const lines: string[][] = [
    ['fill in bulk (official format)', ms(f.fillMs), `${mb(f.databaseBytes)} after the run`],
    ['first open', ms(f.firstOpenMs), 'new store + findTokenById (SQLite: + indexes built)'],
    ['open', ms(f.openMs), 'new store + findTokenById'],
    ['findToken by user', `${f.findTokenUs.toFixed(0)} µs`, 'median of 1000 random users'],
    ['saveToken, new user', `${f.saveTokenUs.toFixed(0)} µs`, 'median of 200'],
    pass('pass: iterateTokens', f.iterate),
    pass('pass: getTokens', f.getTokens),
  ]
  const width = [0, 1].map((i) => Math.max(...lines.map((line) => line[i]!.length)))
  return [
    `${f.kind === 'file' ? 'FileStore' : 'SQLiteStore'} at ${count(f.rows)} tokens`,
    ...lines.map(
      ([what, value, note]) =>
        `  ${what!.padEnd(width[0]!)}  ${value!.padStart(width[1]!)}  ${note}`,
    ),
  ].join('\n')
}

if (process.argv[1] === SELF) {
  const [flag, ...args] = process.argv.slice(2)
  if (flag === '--child') {
    const [what, kind, ...rest] = args as [string, ScaleKind, ...string[]]
    await (what === 'open'
      ? childOpen(kind, rest[0]!, rest[1]!)
      : childPass(kind, rest[0]!, rest[1]!))
  } else {
    const kinds: ScaleKind[] = flag === 'sqlite' || flag === 'file' ? [flag] : ['file', 'sqlite']
    const given = flag === 'sqlite' || flag === 'file' ? args[0] : flag
    const rows = given === undefined ? 1_000_000 : Number(given)
    if (!(Number.isSafeInteger(rows) && rows >= 1000)) {
      throw new Error('usage: npx tsx bench/scale.ts [sqlite|file] [rows, at least 1000]')
    }
    for (const kind of kinds) console.log(formatScale(await benchScale(kind, rows)))
  }
}
