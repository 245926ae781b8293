// npm run bench: the stores, and the official SDK, side by side in one run. Writes
// bench/results.json, bench/results.md (the tables docs/benchmarks.md shows) and bench/throughput.svg.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import type Database from 'better-sqlite3'
import {
  DataCenter,
  FileStore,
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  type TokenStore,
} from '../src/index.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { RedisStore } from '../src/stores/redis.ts'
import { COLUMNS, rowFromToken } from '../src/store/rows.ts'
import { formatRate, measure, type Measurement } from './harness.ts'
import { realisticToken, saveUsers, userName } from './data.ts'
import { MYSQL, POSTGRES, REDIS, REDIS_URL, reachable, type ServerKind } from './servers.ts'
import { benchOfficial, type Count } from './official.ts'
import { benchScaleSection, scaleSizes, type ScaleFigures } from './scale.ts'
import { benchKeeper, type KeeperFigures } from './keeper.ts'
import { benchIdlePasses, type IdlePassFigures } from './keeper-idle.ts'
import {
  renderMarkdown,
  targetFor,
  writeReport,
  type BenchReport,
  type BenchResult,
} from './report.ts'

const quick = process.argv.includes('--quick')
/**
 * `--only keeper` runs the keeper's sections alone and puts their rows into the last report
 * (bench/results.json), which keeps the other sections of its own run and says which run each
 * part is from.
 */
const only = process.argv.includes('--only')
  ? process.argv[process.argv.indexOf('--only') + 1]
  : undefined
if (only !== undefined && only !== 'keeper') {
  console.error(`--only takes 'keeper', not ${JSON.stringify(only)}`)
  process.exit(2)
}
const wanted = (part: 'stores' | 'keeper'): boolean => only === undefined || only === part
/** A count from the environment (`KEEPER_TOKENS=1000`), else the default. */
function sized(name: string, fallback: number): number {
  const value = process.env[name]
  if (value === undefined || value === '') return fallback
  if (!/^\d+$/.test(value)) {
    console.error(`${name} must be a whole number, not ${JSON.stringify(value)}`)
    process.exit(2)
  }
  return Number(value)
}
const KEEPER_TOKENS = sized('KEEPER_TOKENS', quick ? 1000 : 10_000)
// One keeper on SQLite kept up with about 40 refreshes a second on a loaded 2-core machine:
// the lifetimes give it 33 a second at either size.
const KEEPER_LIFETIME_SEC = sized('KEEPER_LIFETIME_SEC', quick ? 60 : 600)
const KEEPER_IDLE_ROWS = sized('KEEPER_IDLE_ROWS', quick ? 10_000 : 100_000)
const SIZES = quick ? [1, 1000, 10_000] : [1, 1000, 10_000, 100_000]
const work = mkdtempSync(join(tmpdir(), 'tokenkeeper-bench-'))
const results: BenchResult[] = []
let counts: Count[] = []
let scale: ScaleFigures[] = []
const keeper: KeeperFigures[] = []
let keeperIdle: IdlePassFigures[] = []
/** Sections that failed: the report keeps every row measured before and after them. */
const problems: string[] = []

/**
 * Runs one section of the benchmark, when its part is wanted; a failure is reported, and the
 * run goes on.
 */
async function section(
  name: string,
  body: () => Promise<void>,
  part: 'stores' | 'keeper' = 'stores',
): Promise<void> {
  if (!wanted(part)) return
  try {
    await body()
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    problems.push(`${name}: ${message}`)
    console.log(`${name}: FAILED, the run goes on: ${message}`)
  }
}

function record(
  store: string,
  operation: string,
  tokens: number,
  callers: number,
  m: Measurement,
): void {
  results.push({ store, operation, tokens, callers, ...m })
  const target = targetFor({ store, operation, tokens, callers })
  const mark =
    target === undefined
      ? ''
      : `  (target ${formatRate(target.rate)}: ${m.median >= target.rate ? 'met' : 'NOT met'})`
  console.log(
    `${store.padEnd(24)} ${operation.padEnd(17)} ${String(tokens).padStart(6)} tokens ${String(callers).padStart(2)} caller(s): ${formatRate(m.median).padStart(9)} median [${formatRate(m.p25)} – ${formatRate(m.p75)}]${mark}`,
  )
}

async function fill(kind: string, size: number): Promise<TokenStore> {
  const now = Date.now()
  if (kind === 'SQLiteStore') {
    const path = join(work, `${size}-${Math.random()}.db`)
    const store = new SQLiteStore({ path })
    const db = store.database as Database.Database
    const insert = db.prepare(
      `INSERT INTO oauthtoken (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
    )
    db.transaction(() => {
      for (let i = 0; i < size; i += 1) {
        const row = rowFromToken(realisticToken(i, now), String(i + 1))
        insert.run(COLUMNS.map((c) => row[c]))
      }
    })()
    return store
  }
  const store =
    kind === 'FileStore'
      ? new FileStore(join(work, `${size}-${Math.random()}.txt`))
      : new MemoryStore()
  await saveUsers(store, size)
  return store
}

/**
 * Durable saves into a store of `size` tokens: a refresh, where the user's row gets new access
 * and expiry values, from one caller and from 16 at a time. Saves that rewrite a large file are
 * time-boxed.
 */
async function measureSaves(kind: string, store: TokenStore, size: number): Promise<void> {
  const now = Date.now()
  const update = (i: number) => store.saveToken(realisticToken((i * 7919) % size, now))
  const slow = kind === 'FileStore' && size >= 10_000
  for (const parallel of [1, 16]) {
    const m = slow
      ? await measure(update, { roundMs: 1000, rounds: 5, parallel })
      : await measure(update, { opsPerRound: 200 * (parallel === 1 ? 1 : 4), rounds: 7, parallel })
    record(kind, 'saveToken', size, parallel, m)
  }
}

const probe = (size: number) => (i: number) =>
  new OAuthToken({ userSignature: new UserSignature(userName((i * 7919) % size)) })

console.log(
  `tokenkeeper benchmark on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`,
)
try {
  await section('local stores', async () => {
    for (const kind of ['MemoryStore', 'FileStore', 'SQLiteStore']) {
      for (const size of SIZES) {
        const store = await fill(kind, size)
        const probes = Array.from({ length: 4096 }, (_, i) => probe(size)(i))
        const found = await store.findToken(probes[0]!)
        if (!found) throw new Error(`${kind}: a stored token was not found`)
        // A session on one of the stored users: valid tokens come from memory, whatever the size.
        const session = await Initializer.initialize({
          environment: DataCenter.US.PRODUCTION,
          token: new OAuthToken({ userSignature: new UserSignature(userName(0)) }),
          store,
        })
        const access = await measure(() => session.getAccessToken(), {
          opsPerRound: 1_000_000,
          rounds: 7,
        })
        record(kind, 'getAccessToken', size, 1, access)
        if (size === 1) {
          await store.close?.()
          continue
        }
        const m = await measure((i) => store.findToken(probes[i & 4095]!), { opsPerRound: 20_000 })
        record(kind, 'findToken', size, 1, m)
        await measureSaves(kind, store, size)
        await store.close?.()
      }
    }
  })
  const servers: ServerKind[] = [MYSQL, POSTGRES, REDIS]
  const serverSizes = SIZES
  for (const server of servers)
    await section(server.name, async () => {
      if (!(await reachable(server.host, server.port))) {
        console.log(`${server.name}: skipped, nothing listens on ${server.host}:${server.port}`)
        return
      }
      const bare = await server.roundTrip()
      record(
        server.name,
        'driver round trip',
        0,
        1,
        await measure(() => bare.once(), { opsPerRound: 2000, rounds: 7 }),
      )
      await bare.end()
      for (const size of serverSizes) {
        const { store, drop } = await server.fill(size)
        try {
          const probes = Array.from({ length: 4096 }, (_, i) => probe(size)(i))
          if (!(await store.findToken(probes[0]!)))
            throw new Error(`${server.name}: a stored token was not found`)
          const session = await Initializer.initialize({
            environment: DataCenter.US.PRODUCTION,
            token: new OAuthToken({ userSignature: new UserSignature(userName(0)) }),
            store,
          })
          record(
            server.name,
            'getAccessToken',
            size,
            1,
            await measure(() => session.getAccessToken(), { opsPerRound: 1_000_000, rounds: 7 }),
          )
          if (size > 1) {
            record(
              server.name,
              'findToken',
              size,
              1,
              await measure((i) => store.findToken(probes[i & 4095]!), {
                opsPerRound: 2000,
                rounds: 7,
              }),
            )
            record(
              server.name,
              'findToken',
              size,
              32,
              await measure((i) => store.findToken(probes[i & 4095]!), {
                opsPerRound: 10_000,
                rounds: 7,
                parallel: 32,
              }),
            )
            if (store instanceof RedisStore) {
              // The same look-ups with the near cache off: one round trip each.
              const uncached = new RedisStore({
                url: REDIS_URL,
                prefix: store.prefix,
                cache: false,
              })
              record(
                'RedisStore, cache: false',
                'findToken',
                size,
                1,
                await measure((i) => uncached.findToken(probes[i & 4095]!), {
                  opsPerRound: 2000,
                  rounds: 7,
                }),
              )
              await uncached.close()
            }
            await measureSaves(server.name, store, size)
          }
        } finally {
          await drop()
        }
      }
    })
  // The official SDK, in the same run, on the same machine.
  await section('official SDK', async () => {
    counts = await benchOfficial(work, record, {
      sizes: SIZES,
      mysql: await reachable(MYSQL.host, MYSQL.port),
    })
  })
  // The keeper's pass that finds nothing due, per store; KEEPER_IDLE_ROWS=0 leaves it out. Each
  // store that fails is named in the problems and the others are still measured.
  if (KEEPER_IDLE_ROWS > 0) {
    await section(
      'keeper idle pass',
      async () => {
        keeperIdle = await benchIdlePasses(KEEPER_IDLE_ROWS, problems)
      },
      'keeper',
    )
  }
  // The keeper: tokens with shortened lifetimes kept fresh by 1 and by 4 keeper processes
  // (KEEPER_TOKENS, KEEPER_LIFETIME_SEC; KEEPER_TOKENS=0 leaves it out).
  for (const keepers of KEEPER_TOKENS > 0 ? [1, 4] : []) {
    await section(
      `keeper (${keepers})`,
      async () => {
        const f = await benchKeeper(work, {
          tokens: KEEPER_TOKENS,
          keepers,
          cycles: 3,
          lifetimeSec: KEEPER_LIFETIME_SEC,
        })
        keeper.push(f)
        console.log(
          `keeper (${keepers}): ${f.tokens} tokens, ${Math.round(f.refreshesPerCycle)} refreshes per cycle, ${f.duplicates} duplicates, ${f.expiredReads} expired reads of ${f.callerReads}, ${f.cpuMsPerRefresh.toFixed(2)} ms CPU per refresh`,
        )
      },
      'keeper',
    )
  }
  // Every store filled in bulk and opened at scale; SCALE_ROWS=0 leaves the section out.
  if (process.env.SCALE_ROWS !== '0' && wanted('stores')) {
    await section('scale', async () => {
      scale = await benchScaleSection(scaleSizes(quick ? [10_000] : [100_000, 1_000_000]))
    })
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}

const run = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  quick,
}
/** The command of this run as typed, with the sizes set in the environment. */
const command = [
  ...['KEEPER_TOKENS', 'KEEPER_LIFETIME_SEC', 'KEEPER_IDLE_ROWS', 'SCALE_ROWS'].flatMap((name) =>
    process.env[name] ? [`${name}=${process.env[name]}`] : [],
  ),
  'npm run bench',
  ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
].join(' ')
const RESULTS = new URL('./results.json', import.meta.url)
const last =
  only === 'keeper' && existsSync(RESULTS)
    ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as BenchReport)
    : undefined
const report: BenchReport = last
  ? {
      ...last,
      keeper,
      keeperIdle,
      keeperRun: { ...run, command },
      // The last run's problems of its other sections stay; its keeper problems are replaced.
      problems: [...(last.problems ?? []).filter((p) => !p.startsWith('keeper')), ...problems],
    }
  : { ...run, results, counts, scale, keeper, keeperIdle, problems }
await writeReport(report)
console.log(
  `\n${renderMarkdown(report)}\nwritten to bench/results.json, results.md, throughput.svg and docs/benchmarks.md`,
)
// The official DBStore leaves the connection of every save that failed open (99 of 100 failed
// saves in the concurrent new-user run), and those sockets would keep the process alive.
process.exit(0)
