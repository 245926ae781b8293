// npm run bench: the stores side by side in one run. Writes bench/results.json and
// bench/results.md (the table the README shows).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
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
import { COLUMNS, newTokenId, rowFromToken } from '../src/store.ts'
import { formatRate, measure, type Measurement } from './harness.ts'
import { realisticToken, userName } from './data.ts'
import { MYSQL, POSTGRES, REDIS, reachable, type ServerKind } from './servers.ts'
import { benchOfficial, type Comparison } from './official.ts'

interface Result extends Measurement {
  store: string
  operation: string
  tokens: number
  callers: number
  target?: number
}

const quick = process.argv.includes('--quick')
const SIZES = quick ? [1, 1000, 10_000] : [1, 1000, 10_000, 100_000]
const SAVE_SIZES = [1000, 10_000]
const work = mkdtempSync(join(tmpdir(), 'tokenkeeper-bench-'))
const results: Result[] = []
const comparisons: Comparison[] = []

/** The targets of the issues, in operations per second. */
const TARGETS: Record<string, number> = {
  'FileStore findToken 100000': 50_000,
  'SQLiteStore findToken 100000': 100_000,
  'FileStore saveToken 10000': 200,
  'DBStore findToken 100000': 5000,
  'PostgresStore findToken 100000': 5000,
  'RedisStore findToken 100000': 20_000,
}
/** Targets with 32 concurrent callers. */
const CONCURRENT_TARGETS: Record<string, number> = {
  'DBStore findToken 100000': 20_000,
  'PostgresStore findToken 100000': 20_000,
}
const GET_ACCESS_TOKEN_TARGET = 1_000_000

function record(
  store: string,
  operation: string,
  tokens: number,
  callers: number,
  m: Measurement,
): void {
  const key = `${store} ${operation} ${tokens}`
  const target = store.startsWith('official')
    ? undefined
    : operation === 'getAccessToken'
      ? GET_ACCESS_TOKEN_TARGET
      : callers === 1
        ? TARGETS[key]
        : operation === 'findToken'
          ? CONCURRENT_TARGETS[key]
          : undefined
  results.push({
    store,
    operation,
    tokens,
    callers,
    ...m,
    ...(target === undefined ? {} : { target }),
  })
  const mark =
    target === undefined
      ? ''
      : m.median >= target
        ? `  (target ${formatRate(target)}: met)`
        : `  (target ${formatRate(target)}: NOT met)`
  console.log(
    `${store.padEnd(12)} ${operation.padEnd(10)} ${String(tokens).padStart(6)} tokens ${String(callers).padStart(2)} caller(s): ${formatRate(m.median).padStart(9)} median [${formatRate(m.p25)} – ${formatRate(m.p75)}]${mark}`,
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
        const row = rowFromToken(realisticToken(i, now), newTokenId())
        insert.run(COLUMNS.map((c) => row[c]))
      }
    })()
    return store
  }
  const store =
    kind === 'FileStore'
      ? new FileStore(join(work, `${size}-${Math.random()}.txt`))
      : new MemoryStore()
  // Saves that arrive together are written together: one write fills the file.
  await Promise.all(Array.from({ length: size }, (_, i) => store.saveToken(realisticToken(i, now))))
  return store
}

const probe = (size: number) => (i: number) =>
  new OAuthToken({ userSignature: new UserSignature(userName((i * 7919) % size)) })

console.log(
  `tokenkeeper benchmark on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`,
)
try {
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
      if (SAVE_SIZES.includes(size)) {
        const slow = kind === 'FileStore' && size >= 10_000
        const opsPerRound = slow ? 30 : 200
        const now = Date.now()
        // A refresh: the user's row gets new access and expiry values, durably.
        const update = async (i: number) => store.saveToken(realisticToken(i % size, now))
        record(kind, 'saveToken', size, 1, await measure(update, { opsPerRound, rounds: 7 }))
        record(
          kind,
          'saveToken',
          size,
          16,
          await measure(update, { opsPerRound: opsPerRound * 4, rounds: 7, parallel: 16 }),
        )
      }
      await store.close?.()
    }
  }
  const servers: ServerKind[] = [MYSQL, POSTGRES, REDIS]
  const serverSizes = quick ? [1000] : [1000, 100_000]
  for (const server of servers) {
    if (!(await reachable(server.host, server.port))) {
      console.log(`${server.name}: skipped, nothing listens on ${server.host}:${server.port}`)
      continue
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
      } finally {
        await drop()
      }
    }
  }
  // The official SDK, in the same run (it reads the whole file on every call: 1 to 10k tokens).
  comparisons.push(...(await benchOfficial(work, record, quick ? [1, 1000] : [1, 1000, 10_000])))
} finally {
  rmSync(work, { recursive: true, force: true })
}

const rows = results.map((r) => {
  const status =
    r.target === undefined
      ? ''
      : r.median >= r.target
        ? `≥ ${formatRate(r.target)} ✓`
        : `≥ ${formatRate(r.target)} ✗`
  return `| ${r.store} | ${r.operation} | ${r.tokens === 0 ? '–' : r.tokens.toLocaleString('en-US')} | ${r.callers} | ${formatRate(r.median)} | ${formatRate(r.p25)} – ${formatRate(r.p75)} | ${status} |`
})
const table = [
  '| store | operation | stored tokens | callers | median | p25 – p75 | target |',
  '|---|---|---:|---:|---:|---:|---|',
  ...rows,
].join('\n')
writeFileSync(
  new URL('./results.json', import.meta.url),
  JSON.stringify(
    { date: new Date().toISOString(), node: process.version, cpus: cpus().length, results },
    null,
    2,
  ) + '\n',
)
const sideBySide = [
  '| measured | stored tokens | official SDK | tokenkeeper | ratio |',
  '|---|---:|---:|---:|---|',
  ...comparisons.map(
    (c) =>
      `| ${c.what} | ${c.tokens.toLocaleString('en-US')} | ${c.official} | ${c.tokenkeeper} | ${c.ratio} |`,
  ),
].join('\n')
writeFileSync(new URL('./results.md', import.meta.url), `${table}\n\n${sideBySide}\n`)
console.log(`\n${sideBySide}`)
console.log(`\n${table}\n\nwritten to bench/results.json and bench/results.md`)
