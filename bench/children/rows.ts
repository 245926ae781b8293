// One round of the tokenkeeper rows of the benchmark, against the checkout at argv[2] (its own
// src/), printed as JSON lines: `npm run bench:against` runs this for two checkouts in turn.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type * as Lib from '../../src/index.ts'
import type { TokenStore } from '../../src/index.ts'
import type * as Sqlite from '../../src/stores/sqlite.ts'
import type * as Mysql from '../../src/stores/mysql.ts'
import type * as Postgres from '../../src/stores/postgres.ts'
import type * as Redis from '../../src/stores/redis.ts'
import { realisticToken, userName } from '../data.ts'
import { measure } from '../harness.ts'

const root = process.argv[2]!
const only = process.argv[3]
// Typed as this checkout's modules: the rows use only what both sides have.
const load = <T>(path: string): Promise<T> =>
  import(pathToFileURL(join(root, 'src', path)).href) as Promise<T>
const lib = await load<typeof Lib>('index.ts')
const hex = (bytes: number): string => randomBytes(bytes).toString('hex')
const now = Date.now()
const token = (i: number) => realisticToken(i, now, lib)
const work = mkdtempSync(join(tmpdir(), 'tokenkeeper-rows-'))
const emit = (store: string, operation: string, tokens: number, callers: number, median: number) =>
  console.log(JSON.stringify({ store, operation, tokens, callers, median }))

async function open(kind: string): Promise<TokenStore> {
  const table = `rows_${hex(4)}`
  switch (kind) {
    case 'FileStore':
      return new lib.FileStore(join(work, `${hex(4)}.txt`))
    case 'SQLiteStore':
      return new (await load<typeof Sqlite>('stores/sqlite.ts')).SQLiteStore({
        path: join(work, `${hex(4)}.db`),
      })
    case 'DBStore':
      return new (await load<typeof Mysql>('stores/mysql.ts')).DBStore({
        url: 'mysql://root@127.0.0.1:3306/tokenkeeper_bench',
        table,
      })
    case 'PostgresStore':
      return new (await load<typeof Postgres>('stores/postgres.ts')).PostgresStore({
        connectionString: 'postgres://postgres@127.0.0.1:5432/postgres',
        table,
      })
    default:
      return new (await load<typeof Redis>('stores/redis.ts')).RedisStore({
        url: 'redis://127.0.0.1:6379',
        prefix: `${table}:`,
      })
  }
}

try {
  for (const [kind, sizes] of [
    ['FileStore', [1000, 10_000]],
    ['SQLiteStore', [1000, 10_000]],
    ['DBStore', [1000]],
    ['PostgresStore', [1000]],
    ['RedisStore', [1000]],
  ] as const) {
    if (only && only !== kind) continue
    for (const size of sizes) {
      const store = await open(kind)
      // Seeded 50 at a time: more saves waiting on a loaded machine outlast a pool's wait limit.
      for (let i = 0; i < size; i += 50) {
        await Promise.all(
          Array.from({ length: Math.min(50, size - i) }, (_, j) => store.saveToken(token(i + j))),
        )
      }
      const probes = Array.from(
        { length: 4096 },
        (_, i) =>
          new lib.OAuthToken({ userSignature: new lib.UserSignature(userName((i * 7919) % size)) }),
      )
      const session = await lib.Initializer.initialize({
        environment: lib.DataCenter.US.PRODUCTION,
        token: new lib.OAuthToken({ userSignature: new lib.UserSignature(userName(0)) }),
        store,
      })
      const access = await measure(() => session.getAccessToken(), {
        opsPerRound: 200_000,
        rounds: 5,
      })
      emit(kind, 'getAccessToken', size, 1, access.median)
      const local = kind === 'FileStore' || kind === 'SQLiteStore'
      // Rounds of a fixed time, not of a fixed count: a cached look-up takes about a
      // microsecond, and 1,000 of them were a round too short to measure.
      const find = await measure((i) => store.findToken(probes[i & 4095]!), {
        roundMs: 200,
        rounds: 5,
      })
      emit(kind, 'findToken', size, 1, find.median)
      const update = (i: number) => store.saveToken(token((i * 7919) % size))
      for (const parallel of [1, 16]) {
        const m = await measure(update, { roundMs: 500, rounds: 5, parallel })
        emit(kind, 'saveToken', size, parallel, m.median)
      }
      if (!local) await store.deleteTokens()
      await store.close?.()
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
process.exit(0)
