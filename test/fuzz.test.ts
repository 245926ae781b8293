// Hostile input, fuzzed: random strings (full unicode, any code point, graphemes) mixed with
// known injection payloads (SQL, CSV, Redis/Lua, null-looking, path-ish, whitespace-only,
// 4 KB) go through every store. Each save must change exactly its own row, to exactly what was
// saved, and every lookup key must find it again.
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import type { TokenStore } from '../src/store.ts'
import { FileStore } from '../src/stores/file.ts'
import { ListStore } from '../src/stores/list.ts'
import { MemoryStore } from '../src/stores/memory.ts'
import { DBStore } from '../src/stores/mysql.ts'
import { PostgresStore } from '../src/stores/postgres.ts'
import { RedisStore } from '../src/stores/redis.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { OAuthToken, UserSignature } from '../src/token.ts'
import { scratchDir } from './helpers/common.ts'
import { SERVICES, describeWithService } from './helpers/services.ts'

const EMBEDDED_RUNS = 100
const SERVER_RUNS = 50
const SEED = process.env.FUZZ_SEED
  ? Number(process.env.FUZZ_SEED)
  : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0
const dir = scratchDir('tokenkeeper-fuzz-')
const TAG = `${process.pid}_${randomBytes(3).toString('hex')}`

/** Known trouble for naive stores: each is tried as a whole value and inside random text. */
const PAYLOADS: readonly string[] = [
  // SQL
  "'; DROP TABLE oauthtoken; --",
  '" OR 1=1',
  "' OR '1'='1",
  "'); DELETE FROM oauthtoken; --",
  '%',
  '_',
  '\\',
  "\\'",
  '`id`',
  '$1',
  '?',
  // CSV
  ',',
  '"',
  '""',
  '\r\n',
  '\n',
  '\r',
  "=cmd|' /C calc'!A0",
  '"a","b"\r\n"c"',
  '@SUM(1+1)',
  // Redis and Lua
  '\r\n*3\r\n$3\r\nDEL\r\n',
  '*',
  'tokenkeeper:*',
  '{tag}',
  ']]',
  "redis.call('FLUSHALL')",
  // null-looking
  'NULL',
  'null',
  '\\N',
  'undefined',
  'None',
  // path-ish
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '/dev/null',
  // empty: stored as absent
  '',
]

/** Whitespace only, of every kind. */
const whitespace = fc.string({
  unit: fc.constantFrom(' ', '\t', '\n', '\r', '\r\n', '\u00a0', '\u2003', '\u3000', '\u2028'),
  minLength: 1,
  maxLength: 6,
})

/** About 4 KB: a short random string repeated. */
const long = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
  .map((part) => part.repeat(Math.ceil(4096 / part.length)))

const payload = fc.constantFrom(...PAYLOADS)

const value: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }) },
  { weight: 4, arbitrary: payload },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), payload, fc.string({ maxLength: 8 }))
      .map(([before, inside, after]) => before + inside + after),
  },
  { weight: 1, arbitrary: whitespace },
  { weight: 1, arbitrary: long },
)

/** A user name: any value but the empty string (a UserSignature needs one). */
const userName = value.filter((name) => name.length > 0)

const field = fc.option(value, { nil: undefined, freq: 4 })

const fieldsArb = fc.record({
  clientId: field,
  clientSecret: field,
  refreshToken: field,
  accessToken: field,
  grantToken: field,
  redirectUrl: field,
  apiDomain: field,
  expiryTime: fc.option(
    fc.oneof(
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
      fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER),
    ),
    { nil: undefined, freq: 4 },
  ),
})

type Fields = typeof fieldsArb extends fc.Arbitrary<infer T> ? T : never

/** One run: a few new users, then updates of them, by user name or by id (maybe renaming). */
const runArb = fc.record({
  inserts: fc.uniqueArray(fc.record({ userName, fields: fieldsArb }), {
    minLength: 1,
    maxLength: 4,
    selector: (insert) => insert.userName,
  }),
  updates: fc.array(
    fc.record({
      target: fc.nat(),
      byId: fc.boolean(),
      rename: fc.option(userName, { nil: undefined, freq: 3 }),
      fields: fieldsArb,
    }),
    { maxLength: 3 },
  ),
})

/** A token as plain data, absent values `undefined`: what comparisons compare. */
interface Plain {
  id: string | undefined
  userName: string | undefined
  clientId: string | undefined
  clientSecret: string | undefined
  refreshToken: string | undefined
  accessToken: string | undefined
  grantToken: string | undefined
  redirectUrl: string | undefined
  apiDomain: string | undefined
  expiryTime: number | undefined
}

function plain(token: OAuthToken): Plain {
  return {
    id: token.id,
    userName: token.userSignature?.name,
    clientId: token.clientId,
    clientSecret: token.clientSecret,
    refreshToken: token.refreshToken,
    accessToken: token.accessToken,
    grantToken: token.grantToken,
    redirectUrl: token.redirectUrl,
    apiDomain: token.apiDomain,
    expiryTime: token.expiryTime,
  }
}

/** What a save of these values must store: empty strings are stored as absent. */
function expected(id: string | undefined, name: string, fields: Fields): Plain {
  const text = (v: string | undefined) => (v === undefined || v.length === 0 ? undefined : v)
  return {
    id,
    userName: name,
    clientId: text(fields.clientId),
    clientSecret: text(fields.clientSecret),
    refreshToken: text(fields.refreshToken),
    accessToken: text(fields.accessToken),
    grantToken: text(fields.grantToken),
    redirectUrl: text(fields.redirectUrl),
    apiDomain: text(fields.apiDomain),
    expiryTime: fields.expiryTime,
  }
}

async function snapshot(store: TokenStore): Promise<Map<string, Plain>> {
  const rows = new Map<string, Plain>()
  for (const token of await store.getTokens()) {
    const row = plain(token)
    expect(row.id, 'every row has an id').toBeTypeOf('string')
    expect(rows.has(row.id!), `id ${row.id} appears twice`).toBe(false)
    rows.set(row.id!, row)
  }
  return rows
}

/** Everything but `except` is as it was. */
function expectUnchanged(before: Map<string, Plain>, after: Map<string, Plain>, except?: string) {
  for (const [id, row] of before) {
    if (id !== except) expect(after.get(id), `row ${id} changed`).toEqual(row)
  }
}

interface Subject {
  /** The store the run saves into, the same for every run of a property. */
  readonly store: TokenStore
  /** A second store on the same data, to read back what the first wrote (a file reread). */
  readonly reader?: () => TokenStore
  /** Checks after each run beyond the rows (FileStore: no unreadable row). */
  readonly extraCheck?: (store: TokenStore) => void
  /** Values the backend cannot hold: a save with one is refused, and nothing changes. */
  readonly refuses?: (value: string) => boolean
}

/** Saves one token and checks that exactly its row changed, to exactly what was saved. */
async function saveAndCheck(
  subject: Subject,
  before: Map<string, Plain>,
  token: OAuthToken,
  fields: Fields,
): Promise<{ after: Map<string, Plain>; id: string | undefined }> {
  const { store, refuses } = subject
  const name = token.userSignature!.name
  const owner = [...before.values()].find((row) => row.userName === name)
  const values = [name, ...Object.values(fields)].filter((v) => typeof v === 'string')
  if (
    (token.id !== undefined && owner !== undefined && owner.id !== token.id) ||
    (refuses !== undefined && values.some(refuses))
  ) {
    // That user name is another row's, or the backend cannot hold a value: refused, and
    // nothing changes.
    await expect(store.saveToken(token)).rejects.toMatchObject({ code: 'TOKEN_STORE' })
    const after = await snapshot(store)
    expect(after).toEqual(before)
    return { after, id: undefined }
  }
  await store.saveToken(token)
  const after = await snapshot(store)
  const id = token.id ?? owner?.id
  expect(id, 'the saved token has its id').toBeTypeOf('string')
  const inserted = !before.has(id!)
  if (owner === undefined && token.id === undefined) expect(inserted).toBe(true)
  expect(after.size).toBe(before.size + (inserted ? 1 : 0))
  expect(after.get(id!)).toEqual(expected(id, name, fields))
  expectUnchanged(before, after, id)
  return { after, id }
}

/** Every lookup key of every row of the run finds it again; a shared key finds one that has it. */
async function expectFound(reader: TokenStore, rows: Map<string, Plain>, ids: Set<string>) {
  for (const id of ids) {
    const row = rows.get(id)!
    expect(plain((await reader.findTokenById(id))!)).toEqual(row)
    const byName = await reader.findToken(
      new OAuthToken({ userSignature: new UserSignature(row.userName!) }),
    )
    expect(byName && plain(byName)).toEqual(row)
    for (const key of ['accessToken', 'grantToken', 'refreshToken'] as const) {
      const wanted = row[key]
      if (wanted === undefined) continue
      const found = await reader.findToken(new OAuthToken({ [key]: wanted }))
      expect(found, `findToken by ${key}`).not.toBeNull()
      const candidates = [...rows.values()].filter((other) => other[key] === wanted)
      expect(candidates).toContainEqual(plain(found!))
    }
  }
}

/** Runs the property on one store and prints one line about it. */
async function fuzz(label: string, runs: number, subject: Subject): Promise<void> {
  const { store } = subject
  let tokens = 0
  let executed = 0
  const property = fc.asyncProperty(runArb, async ({ inserts, updates }) => {
    executed += 1
    let rows = await snapshot(store)
    const ids: (string | undefined)[] = []
    for (const insert of inserts) {
      const token = new OAuthToken({
        ...insert.fields,
        userSignature: new UserSignature(insert.userName),
      })
      tokens += 1
      const result = await saveAndCheck(subject, rows, token, insert.fields)
      rows = result.after
      ids.push(result.id)
    }
    for (const update of updates) {
      const target = ids[update.target % ids.length]
      const current = target === undefined ? undefined : rows.get(target)
      if (current === undefined) continue
      const name = update.byId ? (update.rename ?? current.userName!) : current.userName!
      const token = new OAuthToken({
        ...update.fields,
        ...(update.byId ? { id: current.id } : {}),
        userSignature: new UserSignature(name),
      })
      tokens += 1
      const result = await saveAndCheck(subject, rows, token, update.fields)
      rows = result.after
    }
    const reader = subject.reader?.() ?? store
    try {
      if (reader !== store) expect(await snapshot(reader)).toEqual(rows)
      subject.extraCheck?.(reader)
      const touched = new Set(ids.filter((id): id is string => id !== undefined))
      await expectFound(reader, rows, touched)
    } finally {
      if (reader !== store) await reader.close?.()
    }
  })
  const details = await fc.check(property, {
    numRuns: runs,
    seed: SEED,
    interruptAfterTimeLimit: 40_000,
  })
  console.log(
    `fuzz ${label}: ${details.numRuns} runs, ${tokens} tokens, ${details.failed ? 1 : 0} failures` +
      `${details.failed ? ` (after ${executed} executions with shrinking)` : ''}, seed ${SEED}`,
  )
  if (details.failed || details.interrupted) {
    const cause = details.errorInstance
    const shown = (v: unknown) => inspect(v, { depth: 4, maxStringLength: 200 })
    let why = cause instanceof Error ? cause.message : shown(cause)
    if (cause instanceof Error && 'actual' in cause && 'expected' in cause) {
      why += `\nactual: ${shown(cause.actual)}\nexpected: ${shown(cause.expected)}`
    }
    throw new Error(
      `${fc.defaultReportMessage(details) ?? `fuzz ${label}: interrupted`}\nerror: ${why}`,
    )
  }
}

const fileChecks = (store: TokenStore) => expect((store as FileStore).problems).toEqual([])

describe('hostile input through the embedded stores', () => {
  it('MemoryStore', async () => {
    await fuzz('MemoryStore', EMBEDDED_RUNS, { store: new MemoryStore() })
  })

  it('ListStore', async () => {
    await fuzz('ListStore', EMBEDDED_RUNS, { store: new ListStore() })
  })

  it('FileStore', async () => {
    const path = join(dir, 'sdk_tokens.txt')
    const store = new FileStore(path)
    await fuzz('FileStore', EMBEDDED_RUNS, {
      store,
      // A fresh store reads the file: the values went through the CSV on disk and back.
      reader: () => new FileStore(path),
      extraCheck: fileChecks,
    })
    fileChecks(store)
  })

  it('SQLiteStore', async () => {
    const path = join(dir, 'zohooauth.db')
    const store = new SQLiteStore({ path })
    try {
      await fuzz('SQLiteStore', EMBEDDED_RUNS, { store, reader: () => new SQLiteStore({ path }) })
    } finally {
      await store.close()
    }
  })
})

await describeWithService('mariadb', 'hostile input through DBStore (MariaDB)', () => {
  const database = 'tokenkeeper_test'
  const table = `tk_fuzz_${TAG}`
  let store: DBStore | undefined
  afterAll(async () => {
    await store?.close()
    const admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`DROP TABLE IF EXISTS \`${database}\`.\`${table}\``)
    await admin.end()
  })

  it('DBStore', async () => {
    const admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${database}`)
    await admin.end()
    store = new DBStore({ url: `${SERVICES.mariadb.url}/${database}`, table })
    await fuzz('DBStore', SERVER_RUNS, { store })
  })
})

await describeWithService('postgres', 'hostile input through PostgresStore', () => {
  const table = `tk_fuzz_${TAG}`
  let store: PostgresStore | undefined
  afterAll(async () => {
    await store?.close()
    const admin = new pg.Client({ connectionString: SERVICES.postgres.url })
    await admin.connect()
    await admin.query(`DROP TABLE IF EXISTS "${table}"`)
    await admin.end()
  })

  it('PostgresStore', async () => {
    store = new PostgresStore({ connectionString: SERVICES.postgres.url, table })
    await fuzz('PostgresStore', SERVER_RUNS, {
      store,
      // PostgreSQL text cannot hold NUL: the store refuses such a value with a TokenStoreError
      // saying so, and writes nothing (checked like any other refusal).
      refuses: (value) => value.includes('\u0000'),
    })
  })
})

await describeWithService('redis', 'hostile input through RedisStore', () => {
  const prefix = `tk-fuzz-${TAG}:`
  let store: RedisStore | undefined
  afterAll(async () => {
    await store?.close()
    const admin = new Redis(`${SERVICES.redis.url}/0`)
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) await admin.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await admin.quit()
  })

  it('RedisStore', async () => {
    store = new RedisStore({ url: `${SERVICES.redis.url}/0`, prefix })
    await fuzz('RedisStore', SERVER_RUNS, { store })
  })
})
