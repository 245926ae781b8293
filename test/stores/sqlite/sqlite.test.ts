import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { tokenStoreConformance, type RawRow } from '../../../src/testing/index.ts'
import { createTableSql, lookupIndexes } from '../../../src/stores/sql/schema.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../../children/sqlite-readonly.ts', import.meta.url))

/** The reference's CustomStoreSQLite table, exactly as the article creates it. */
const REFERENCE_TABLE =
  'CREATE TABLE  oauthtoken (id varchar(10) NOT NULL,user_name varchar(255), client_id ' +
  'varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token ' +
  'varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(' +
  '255), api_domain varchar(255), primary key (id))'

function readRawFile(path: string, table = 'oauthtoken'): RawRow[] {
  const db = new Database(path, { readonly: true })
  try {
    return db.prepare(`SELECT * FROM ${table}`).all() as RawRow[]
  } finally {
    db.close()
  }
}

describe('SQLiteStore conformance, on a file', () => {
  for (const t of tokenStoreConformance({
    create: () => new SQLiteStore({ path: scratchPath(dir, 'zohooauth.db') }),
    reopen: (store) => new SQLiteStore({ path: (store as SQLiteStore).path }),
    readRaw: (store) => Promise.resolve(readRawFile((store as SQLiteStore).path)),
    createBroken: () => {
      const path = scratchPath(dir, 'a-directory')
      mkdirSync(path)
      return new SQLiteStore({ path })
    },
  })) {
    it(t.name, t.run)
  }
})

describe('SQLiteStore conformance, in memory', () => {
  for (const t of tokenStoreConformance({
    create: () => new SQLiteStore({ path: ':memory:' }),
    readRaw: (store) =>
      Promise.resolve(
        ((store as SQLiteStore).database as Database.Database)
          .prepare('SELECT * FROM oauthtoken')
          .all() as RawRow[],
      ),
  })) {
    it(t.name, t.run)
  }
})

describe('SQLiteStore databases', () => {
  it('works on a database made by the reference CustomStoreSQLite, and changes it only by adding', async () => {
    const path = scratchPath(dir, 'reference.db')
    const db = new Database(path)
    db.exec(REFERENCE_TABLE)
    // As the reference's save_token writes: numbered ids, expiry as text.
    db.prepare(
      'insert into oauthtoken (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values (?,?,?,?,?,?,?,?,?,?)',
    ).run(
      '1',
      'ada@example.com',
      '1000.C',
      'sec',
      '1000.r',
      '1000.a',
      '1000.g',
      '1732000000000',
      'https://x/cb',
      'https://www.zohoapis.com',
    )
    const before = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'oauthtoken'").get() as {
      sql: string
    }
    db.close()

    const store = new SQLiteStore({ path })
    const ada = await store.findToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
    )
    expect(ada).toMatchObject({ id: '1', refreshToken: '1000.r', expiryTime: 1732000000000 })
    const bob = new OAuthToken({
      userSignature: new UserSignature('bob@example.com'),
      accessToken: 'x',
      expiryTime: 5,
    })
    await store.saveToken(bob)
    // The next id of the reference's own numbering.
    expect(bob.id).toBe('2')
    await store.close()

    const check = new Database(path, { readonly: true })
    const after = check
      .prepare("SELECT sql FROM sqlite_master WHERE name = 'oauthtoken'")
      .get() as { sql: string }
    // One column added, tokenkeeper's own (each token's health); the reference's are as they were.
    expect(after.sql).toBe(
      before.sql.replace(', primary key', ', tk_health varchar(200), primary key'),
    )
    const indexes = (
      check
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'oauthtoken' AND sql IS NOT NULL",
        )
        .all() as { name: string }[]
    ).map((r) => r.name)
    expect(indexes.sort()).toEqual([
      'oauthtoken_access_token_idx',
      'oauthtoken_expiry_idx',
      'oauthtoken_grant_token_idx',
      'oauthtoken_numeric_id_idx',
      'oauthtoken_refresh_token_idx',
      'oauthtoken_user_name_idx',
    ])
    // The reference's own reads keep working: plain text columns.
    expect(
      check.prepare("select * from oauthtoken where user_name='bob@example.com' limit 1").get(),
    ).toMatchObject({ access_token: 'x', expiry_time: '5' })
    expect(check.pragma('journal_mode', { simple: true })).toBe('wal')
    check.close()
  })

  it('adds the numeric id index to a database of an earlier tokenkeeper, and numbers after its ids', async () => {
    const path = scratchPath(dir, 'earlier.db')
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    // What SQLiteStore made before issue 13: the table, its lookup indexes, random ids.
    db.exec(createTableSql('sqlite', 'oauthtoken'))
    for (const index of lookupIndexes('oauthtoken')) db.exec(index.sql)
    const insert = db.prepare(
      'INSERT INTO oauthtoken (id, user_name, access_token) VALUES (?, ?, ?)',
    )
    insert.run('0wod457ssD', 'ada@example.com', 'a1')
    insert.run('0CghEddkHY', 'bob@example.com', 'a2')
    insert.run('0000000041', 'carol@example.com', 'a3')
    db.close()

    const store = new SQLiteStore({ path })
    const dave = new OAuthToken({
      userSignature: new UserSignature('dave@example.com'),
      accessToken: 'a4',
    })
    await store.saveToken(dave)
    expect(dave.id).toBe('42')
    expect((await store.findTokenById('0wod457ssD'))?.accessToken).toBe('a1')
    await store.close()
    const check = new Database(path, { readonly: true })
    expect(
      check
        .prepare("SELECT sql FROM sqlite_master WHERE name = 'oauthtoken_numeric_id_idx'")
        .pluck()
        .get(),
    ).toMatch(
      /^CREATE INDEX "oauthtoken_numeric_id_idx" ON "oauthtoken" \(CAST\(id AS INTEGER\)\) WHERE /,
    )
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok')
    check.close()
  })

  it('adds api_domain to an older table without it', async () => {
    const path = scratchPath(dir, 'old.db')
    const db = new Database(path)
    db.exec(
      'CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), primary key (id))',
    )
    db.prepare(
      "INSERT INTO oauthtoken (id, user_name, access_token) VALUES ('7', 'old@example.com', 'a')",
    ).run()
    db.close()
    const store = new SQLiteStore({ path })
    const old = await store.findTokenById('7')
    expect(old?.userSignature?.name).toBe('old@example.com')
    old!.apiDomain = 'https://www.zohoapis.com.au'
    await store.saveToken(old!)
    expect((await store.findTokenById('7'))?.apiDomain).toBe('https://www.zohoapis.com.au')
    await store.close()
  })

  it('keeps working on a legacy table that already holds a user twice, and never adds a third', async () => {
    const path = scratchPath(dir, 'dupes.db')
    const db = new Database(path)
    db.exec(REFERENCE_TABLE)
    db.prepare(
      "INSERT INTO oauthtoken (id, user_name, access_token) VALUES ('1', 'twice@example.com', 'a1'), ('2', 'twice@example.com', 'a2')",
    ).run()
    db.close()
    const store = new SQLiteStore({ path })
    const found = await store.findToken(
      new OAuthToken({ userSignature: new UserSignature('twice@example.com') }),
    )
    expect(found?.id).toBe('1')
    await store.saveToken(
      new OAuthToken({ userSignature: new UserSignature('twice@example.com'), accessToken: 'a3' }),
    )
    expect((await store.getTokens()).length).toBe(2)
    expect((await store.findTokenById('1'))?.accessToken).toBe('a3')
    await store.close()
  })

  it('refuses a file that is not a database, and leaves it alone', async () => {
    const path = scratchPath(dir, 'not-a.db')
    const content = 'id,user_name\n1,ada@example.com\n'.repeat(200)
    writeFileSync(path, content)
    const store = new SQLiteStore({ path })
    await expect(store.getTokens()).rejects.toThrow(
      /is not a SQLite database; it was left as it is/,
    )
    await expect(store.saveToken(new OAuthToken({ accessToken: 'a' }))).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      store: 'SQLiteStore',
      operation: 'saveToken',
    })
    expect(readFileSync(path, 'utf8')).toBe(content)
  })

  it('serves a read-only database and refuses to write it, leaving it alone', async () => {
    const sub = scratchPath(dir, 'ro')
    mkdirSync(sub, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const path = `${sub}/readonly.db`
    const writer = new SQLiteStore({ path })
    await writer.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'a' }),
    )
    await writer.close()
    const db = new Database(path)
    db.pragma('journal_mode = DELETE')
    db.close()
    chmodSync(path, 0o444)
    const before = readFileSync(path)
    // Root ignores file modes: the child runs as nobody, as a user without write permission would.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, path], {
      ...asUser,
      encoding: 'utf8',
    })
    expect(child.stderr).toBe('')
    expect(JSON.parse(child.stdout)).toEqual({
      found: 'a',
      saveError: {
        code: 'TOKEN_STORE',
        message: `SQLiteStore.saveToken: ${path}: the database is read-only; nothing was written`,
      },
    })
    expect(readFileSync(path).equals(before)).toBe(true)
  })

  it('rejects a table name that is not a plain identifier', () => {
    expect(() => new SQLiteStore({ path: ':memory:', table: 'oauthtoken; DROP TABLE x' })).toThrow(
      /plain SQL identifier/,
    )
  })

  it('uses another table name when asked', async () => {
    const path = scratchPath(dir, 'named.db')
    const store = new SQLiteStore({ path, table: 'my_tokens' })
    await store.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'a' }),
    )
    await store.close()
    expect(readRawFile(path, 'my_tokens')).toHaveLength(1)
  })
})

describe('SQLiteStore file permissions', () => {
  it('creates the database, and its WAL and shared-memory files, readable by the owner only', async () => {
    const path = scratchPath(dir, 'private.db')
    const store = new SQLiteStore({ path })
    await store.saveToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'a' }),
    )
    const { statSync } = await import('node:fs')
    for (const file of [path, `${path}-wal`, `${path}-shm`])
      expect(statSync(file).mode & 0o777).toBe(0o600)
    await store.close()
  })
})
