// SQLiteStore's due scan: the published suite, on a file and in memory; the partial index on
// (expiry, id) that makes a pass cost what is due (EXPLAIN QUERY PLAN shows one range of it, in
// its order); a table the reference's code still writes; and a read-only open that adds nothing.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { dueCursor } from '../../../src/due.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { dueScanConformance } from '../../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../../children/sqlite-readonly.ts', import.meta.url))
const NOW = 1_900_000_000_000

/** The reference's CustomStoreSQLite table and its insert, exactly as the article has them. */
const REFERENCE_TABLE =
  'CREATE TABLE  oauthtoken (id varchar(10) NOT NULL,user_name varchar(255), client_id ' +
  'varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token ' +
  'varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(' +
  '255), api_domain varchar(255), primary key (id))'
const REFERENCE_INSERT =
  'insert into oauthtoken (id,user_name,client_id,client_secret,refresh_token,access_token,' +
  'grant_token,expiry_time,redirect_url,api_domain) values (?,?,?,?,?,?,?,?,?,?)'

const user = (name: string, expiryTime?: number): OAuthToken =>
  new OAuthToken({
    userSignature: new UserSignature(name),
    refreshToken: `1000.r.${name}`,
    accessToken: `1000.a.${name}`,
    expiryTime,
  })

describe('SQLiteStore due scan, in memory', () => {
  for (const t of dueScanConformance({ create: () => new SQLiteStore({ path: ':memory:' }) })) {
    it(t.name, t.run)
  }
})

describe('SQLiteStore due scan, with encryption: the expiry in the clear, each token opened', () => {
  const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
  for (const t of dueScanConformance({
    create: () => new SQLiteStore({ path: ':memory:', encryption }),
  })) {
    it(t.name, t.run)
  }
})

describe('SQLiteStore due scan, on a file', () => {
  for (const t of dueScanConformance({
    create: () => new SQLiteStore({ path: scratchPath(dir, 'due.db') }),
  })) {
    it(t.name, t.run)
  }
})

describe('SQLiteStore due scan: the index', () => {
  it('reads one range of the expiry index, in its order: EXPLAIN QUERY PLAN shows it', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'plan.db') })
    try {
      for (let i = 0; i < 200; i += 1) await store.saveToken(user(`u${i}`, NOW + (i - 100) * 1000))
      const db = store.database as Database.Database
      db.exec('ANALYZE')
      // The statements the store prepares for the scan, seen as it prepares them.
      const seen: string[] = []
      const prepare = db.prepare.bind(db)
      db.prepare = (text: string) => {
        seen.push(text)
        return prepare(text)
      }
      const first = await store.findDueTokens({ before: NOW, limit: 10 })
      const next = await store.findDueTokens({
        before: NOW,
        limit: 10,
        after: dueCursor(first.at(-1)!),
      })
      db.prepare = prepare
      expect(first.map((t) => t.userSignature?.name)).toEqual(
        Array.from({ length: 10 }, (_, i) => `u${i}`),
      )
      expect(next[0]?.userSignature?.name).toBe('u10')
      expect(seen).toHaveLength(2)
      for (const text of seen) {
        const params = text.split('?').length - 1
        const plan = (
          db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...Array<number>(params).fill(1)) as {
            detail: string
          }[]
        ).map((row) => row.detail)
        expect(plan.join('\n'), text).toMatch(
          /^SEARCH oauthtoken USING INDEX oauthtoken_expiry_idx \(/,
        )
        // The index gives the order: no sort of the due rows.
        expect(plan.join('\n')).not.toMatch(/TEMP B-TREE|SCAN/)
      }
    } finally {
      await store.close()
    }
  })

  it("keeps the reference's table: its insert still works, odd expiries are never due", async () => {
    const path = scratchPath(dir, 'reference.db')
    const setup = new Database(path)
    setup.exec(REFERENCE_TABLE)
    setup.close()
    const store = new SQLiteStore({ path })
    try {
      await store.saveToken(user('ours', NOW - 1))
      const db = store.database as Database.Database
      const insert = db.prepare(REFERENCE_INSERT)
      const row = (id: string, expiry: string | null) =>
        insert.run(id, `${id}@example.com`, 'c', 's', `r${id}`, `a${id}`, null, expiry, null, null)
      row('10', String(NOW - 5))
      row('11', 'soon')
      row('12', '')
      row('13', null)
      row('14', `${NOW}x`)
      const due = await store.findDueTokens({ before: NOW })
      expect(due.map((t) => t.id)).toEqual(['10', '1'])
      const indexes = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%expiry%'")
        .pluck()
        .all()
      expect(indexes).toEqual(['oauthtoken_expiry_idx'])
    } finally {
      await store.close()
    }
  })

  it('a read-only database is served as it is: no index added, the scan still answers', async () => {
    const sub = scratchPath(dir, 'ro')
    mkdirSync(sub, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const path = `${sub}/readonly.db`
    const setup = new Database(path)
    setup.exec(REFERENCE_TABLE)
    setup
      .prepare(REFERENCE_INSERT)
      .run('1', 'ada@example.com', 'c', 's', 'r', 'a', null, '5', null, null)
    setup.close()
    chmodSync(path, 0o444)
    const before = readFileSync(path)
    // Root ignores file modes: the child runs as nobody, as a user without write permission would.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path], {
      ...asUser,
      encoding: 'utf8',
    })
    expect(child.stderr).toBe('')
    expect(JSON.parse(child.stdout)).toMatchObject({ found: 'a' })
    expect(readFileSync(path).equals(before)).toBe(true)
    const reader = new Database(path, { readonly: true })
    try {
      const names = reader
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index'")
        .pluck()
        .all()
      expect(names.filter((n) => String(n).includes('expiry'))).toEqual([])
    } finally {
      reader.close()
    }
    // The same scan without the index: every row read, the same answer.
    const store = new SQLiteStore({ path })
    try {
      expect((await store.findDueTokens({ before: 10 })).map((t) => t.id)).toEqual(['1'])
    } finally {
      await store.close()
    }
  })
})
