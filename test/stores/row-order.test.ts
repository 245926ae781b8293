// Which row wins when several hold the looked-up value (issue 16): compareRowIds' edge cases,
// and every store, its SQL, Redis or in-memory form of the rule included, naming the same winner
// for ids where the forms could part: equal numbers in other spellings, case, non-ASCII text,
// and legacy tables whose id column sorts by a collation that ignores case.
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryStore, ListStore, OAuthToken, type TokenStore } from '../../src/index.ts'
import { compareRowIds, winningRow } from '../../src/store/matching.ts'
import { withEncryption } from '../../src/stores/encrypted.ts'
import { FileStore } from '../../src/stores/file.ts'
import { DBStore } from '../../src/stores/mysql.ts'
import { PostgresStore } from '../../src/stores/postgres.ts'
import { RedisStore } from '../../src/stores/redis.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const sign = (n: number): number => Math.sign(n)

describe('compareRowIds', () => {
  it('puts the smaller number first, by value, not by text', () => {
    expect(sign(compareRowIds('9', '10'))).toBe(-1)
    expect(sign(compareRowIds('10', '9'))).toBe(1)
    expect(sign(compareRowIds('2', '12'))).toBe(-1)
  })

  it('orders equal numbers in other spellings ("7", "007") by their text', () => {
    expect(sign(compareRowIds('007', '7'))).toBe(-1)
    expect(sign(compareRowIds('7', '007'))).toBe(1)
    expect(sign(compareRowIds('0000000007', '007'))).toBe(-1)
    expect(compareRowIds('7', '7')).toBe(0)
  })

  it('numbers only ids of one to ten ASCII digits: eleven digits come after every number', () => {
    expect(sign(compareRowIds('9999999999', '10000000000'))).toBe(-1)
    expect(sign(compareRowIds('10000000000', '9999999999'))).toBe(1)
    // Not numbered, eleven digits are text: before a letter.
    expect(sign(compareRowIds('10000000000', 'x'))).toBe(-1)
    expect(sign(compareRowIds('00000000001', '2'))).toBe(1)
    // Signs, spaces and other scripts' digits are not numbered either.
    expect(sign(compareRowIds('+5', '6'))).toBe(1)
    expect(sign(compareRowIds(' 5', '6'))).toBe(1)
    expect(sign(compareRowIds('٣', '4'))).toBe(1)
  })

  it('orders the ids that are not numbered by code point: case matters, "X" before "x"', () => {
    expect(sign(compareRowIds('X', 'x'))).toBe(-1)
    expect(sign(compareRowIds('x', 'X'))).toBe(1)
    expect(sign(compareRowIds('Y', 'x'))).toBe(-1)
    expect(sign(compareRowIds('x', 'é'))).toBe(-1)
    expect(sign(compareRowIds('ab', 'abc'))).toBe(-1)
  })

  it('orders text by code point, as UTF-8 bytes do: U+E000 before U+1F600, a prefix first', () => {
    // By UTF-16 code units the emoji's high surrogate (U+D83D) would come before U+E000.
    expect(compareRowIds('\uE000', '\u{1F600}')).toBeLessThan(0)
    expect(compareRowIds('\u{1F600}', '\uE000')).toBeGreaterThan(0)
    expect(compareRowIds('a\u{1F600}', 'a\u{1F601}')).toBeLessThan(0)
    expect(compareRowIds('ab', 'abc')).toBeLessThan(0)
    expect(compareRowIds('abc', 'ab')).toBeGreaterThan(0)
    expect(compareRowIds('a\u{1F600}', 'a\u{1F600}')).toBe(0)
  })

  it('treats the empty id as text: after every number, before any other text', () => {
    expect(sign(compareRowIds('', '5'))).toBe(1)
    expect(sign(compareRowIds('5', ''))).toBe(-1)
    expect(sign(compareRowIds('', 'a'))).toBe(-1)
    expect(compareRowIds('', '')).toBe(0)
  })

  it('is a total order: antisymmetric and transitive over a mixed set of ids', () => {
    const ids = ['', '0', '00', '7', '007', '12', '9999999999', '10000000000', 'X', 'x', '+5', 'é']
    for (const a of ids) {
      for (const b of ids) {
        expect(sign(compareRowIds(a, b)) + sign(compareRowIds(b, a)), `${a} and ${b}`).toBe(0)
        for (const c of ids) {
          if (compareRowIds(a, b) < 0 && compareRowIds(b, c) < 0) {
            expect(compareRowIds(a, c)).toBeLessThan(0)
          }
        }
      }
    }
  })
})

describe('winningRow', () => {
  it('picks the row that compareRowIds puts first, whatever the order given', () => {
    const rows = ['12', 'x', '9', '10'].map((id) => ({ id, tag: `row ${id}` }))
    expect(winningRow(rows)).toEqual({ id: '9', tag: 'row 9' })
    expect(winningRow([...rows].reverse())?.id).toBe('9')
  })

  it('skips rows without an id, and gives undefined when no row is left', () => {
    expect(winningRow([{ id: null }, { id: 'b' }, { id: null }, { id: 'a' }])?.id).toBe('a')
    expect(winningRow([{ id: null }])).toBeUndefined()
    expect(winningRow([])).toBeUndefined()
  })
})

/** Ids where an SQL, sorted-set or in-memory form of the rule could part from it (≤ 10 chars). */
const IDS = ['é', '12', 'x', '٣', '007', 'Y', '9999999999', '+5', '7', '0000000007']
/** The order compareRowIds gives them, written out. */
const ORDER = ['0000000007', '007', '7', '12', '9999999999', '+5', 'Y', 'x', 'é', '٣']

it('compareRowIds orders the ids the stores are checked with as written out', () => {
  expect([...IDS].sort(compareRowIds)).toEqual(ORDER)
})

const client = { clientId: '1000.CLIENT', clientSecret: 'secret' }

/**
 * Saves rows with IDS that share a grant and a refresh token, then checks that a save without
 * an id updates the winner, and that findToken gives the rows in ORDER as each winner goes.
 */
async function expectWinners(store: TokenStore): Promise<void> {
  const tag = randomBytes(4).toString('hex')
  const grant = `grant ${tag}`
  const refresh = `refresh ${tag}`
  for (const id of IDS) {
    await store.saveToken(
      new OAuthToken({ ...client, id, grantToken: grant, refreshToken: refresh, accessToken: id }),
    )
  }
  const byGrant = new OAuthToken({ ...client, grantToken: grant })
  const update = new OAuthToken({
    ...client,
    grantToken: grant,
    refreshToken: refresh,
    accessToken: 'updated',
  })
  await store.saveToken(update)
  expect(update.id, 'a save without an id updates the winning row').toBe(ORDER[0])
  expect((await store.findTokenById(ORDER[1]!))?.accessToken).toBe(ORDER[1])
  const byRefresh = new OAuthToken({ ...client, refreshToken: refresh })
  expect((await store.findToken(byRefresh))?.id, 'by refresh token').toBe(ORDER[0])
  // Look-ups of one column that arrive together go to a server store as one (batched) query.
  const absent = new OAuthToken({ ...client, grantToken: `absent ${tag}` })
  const together = await Promise.all([store.findToken(byGrant), store.findToken(absent)])
  expect(
    together.map((token) => token?.id),
    'looked up together',
  ).toEqual([ORDER[0], undefined])
  const found: (string | undefined)[] = []
  for (const id of ORDER) {
    found.push((await store.findToken(byGrant))?.id)
    await store.deleteToken(id)
  }
  expect(found, 'the winner, each time the one before it is gone').toEqual(ORDER)
  expect(await store.findToken(byGrant)).toBeNull()
}

const ENCRYPTION = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
const dir = scratchDir('tk-row-order-')

describe('every store names the winner compareRowIds names', () => {
  const opened: TokenStore[] = []
  const keep = <S extends TokenStore>(store: S): S => {
    opened.push(store)
    return store
  }
  afterAll(async () => {
    for (const store of opened) await store.close?.()
  })

  it('MemoryStore', () => expectWinners(keep(new MemoryStore())))
  it('ListStore', () => expectWinners(keep(new ListStore())))
  it('MemoryStore with encryption', () =>
    expectWinners(keep(withEncryption(new MemoryStore(), ENCRYPTION))))
  it('FileStore', () => expectWinners(keep(new FileStore(scratchPath(dir, 'tokens.txt')))))
  it('FileStore, read again from its file', async () => {
    const path = scratchPath(dir, 'tokens.txt')
    const writer = keep(new FileStore(path))
    // The rows are written by one store and found by another, which reads them from the file.
    const reader = keep(new FileStore(path))
    await expectWinners({
      ...wrap(reader),
      saveToken: (token) => writer.saveToken(token),
      deleteToken: (id) => writer.deleteToken(id),
    })
  })
  it('SQLiteStore', () =>
    expectWinners(keep(new SQLiteStore({ path: scratchPath(dir, 'tokens.db') }))))
  it('SQLiteStore on a legacy table whose id column sorts without case (NOCASE)', async () => {
    const path = scratchPath(dir, 'legacy.db')
    const db = new Database(path)
    db.exec(legacyTable('oauthtoken', 'COLLATE NOCASE'))
    db.close()
    await expectWinners(keep(new SQLiteStore({ path })))
  })
})

/** The six methods of a store as plain functions, to combine two stores' methods. */
function wrap(store: TokenStore): TokenStore {
  return {
    findToken: (token) => store.findToken(token),
    findTokenById: (id) => store.findTokenById(id),
    saveToken: (token) => store.saveToken(token),
    deleteToken: (id) => store.deleteToken(id),
    getTokens: () => store.getTokens(),
    deleteTokens: () => store.deleteTokens(),
  }
}

/** The official SDKs' table, its id column given `collation`. */
function legacyTable(table: string, collation: string, suffix = ''): string {
  return (
    `CREATE TABLE ${table} (id varchar(10) ${collation} NOT NULL, user_name varchar(255), ` +
    'client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), ' +
    'access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), ' +
    `redirect_url varchar(255), api_domain varchar(255), PRIMARY KEY (id))${suffix}`
  )
}

const RUN = `${process.pid}_${randomBytes(3).toString('hex')}`

await describeWithService('mariadb', 'DBStore (MariaDB) names the winner', () => {
  const database = 'tokenkeeper_test'
  const tables: string[] = []
  const opened: DBStore[] = []
  const open = (table: string): DBStore => {
    tables.push(table)
    const store = new DBStore({ url: `${SERVICES.mariadb.url}/${database}`, table })
    opened.push(store)
    return store
  }
  afterAll(async () => {
    for (const store of opened) await store.close()
    const admin = await mysql.createConnection({ uri: `${SERVICES.mariadb.url}/${database}` })
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin.end()
  })

  it('on its own table', () => expectWinners(open(`tk_order_${RUN}_1`)))
  it('on a legacy table in a case-insensitive collation (utf8mb4_general_ci)', async () => {
    const table = `tk_order_${RUN}_2`
    const admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    try {
      await admin.query(`CREATE DATABASE IF NOT EXISTS ${database}`)
      await admin.query(
        legacyTable(
          `${database}.${table}`,
          '',
          ' CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci',
        ),
      )
    } finally {
      await admin.end()
    }
    await expectWinners(open(table))
  })
})

await describeWithService('postgres', 'PostgresStore names the winner', () => {
  const tables: string[] = []
  const opened: PostgresStore[] = []
  const open = (table: string): PostgresStore => {
    tables.push(table)
    const store = new PostgresStore({ connectionString: SERVICES.postgres.url, table })
    opened.push(store)
    return store
  }
  const admin = async <T>(body: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: SERVICES.postgres.url })
    await client.connect()
    try {
      return await body(client)
    } finally {
      await client.end()
    }
  }
  afterAll(async () => {
    for (const store of opened) await store.close()
    await admin(async (client) => {
      for (const table of tables) await client.query(`DROP TABLE IF EXISTS ${table}`)
    })
  })

  it('on its own table', () => expectWinners(open(`tk_order_${RUN}_1`)))
  it('on a legacy table whose id column sorts without case (ICU English)', async (context) => {
    const table = `tk_order_${RUN}_2`
    const icu = await admin(
      async (client) =>
        (await client.query("SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'")).rowCount,
    )
    if (icu === 0) {
      // A server built without ICU cannot make this table: say so where the run is read, and
      // fail where the servers are required (CI), as test/helpers/services.ts does for a missing server.
      const why = 'this PostgreSQL server has no ICU collation en-x-icu'
      if (process.env.REQUIRE_SERVICES === '1') throw new Error(`REQUIRE_SERVICES=1 but ${why}`)
      console.warn(`skipping the ICU row-order test: ${why}`)
      context.skip(why)
    }
    await admin((client) => client.query(legacyTable(table, 'COLLATE "en-x-icu"')))
    await expectWinners(open(table))
  })
})

await describeWithService('redis', 'RedisStore names the winner', () => {
  const prefix = `tk-order-${RUN}:`
  const opened: RedisStore[] = []
  afterAll(async () => {
    for (const store of opened) await store.close()
    const admin = new Redis(SERVICES.redis.url)
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length > 0) await admin.unlink(...keys)
    await admin.quit()
  })

  it('on a new prefix', () => {
    const store = new RedisStore({ url: SERVICES.redis.url, prefix })
    opened.push(store)
    return expectWinners(store)
  })
})
