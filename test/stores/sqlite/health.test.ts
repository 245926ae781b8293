// SQLiteStore keeps each token's health in its row (column tk_health) and counts budgets in a
// table beside it: the published suites with a second connection on the same file (and with
// encryption, which passes both through), the official upsert keeping the column, and a
// read-only database that predates both: nothing added, no health kept, budgets in the process.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { encodeHealth } from '../../../src/health.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { budgetConformance, healthConformance } from '../../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../../children/sqlite-health-readonly.ts', import.meta.url))
const TAKER = fileURLToPath(new URL('../../children/sqlite-budget-taker.ts', import.meta.url))
const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }

for (const [title, options] of [
  ['SQLiteStore', {}],
  ['SQLiteStore with encryption', { encryption }],
] as const) {
  describe(`${title}: health and budgets, shared by a second connection`, () => {
    const create = () => new SQLiteStore({ path: scratchPath(dir, 'health.db'), ...options })
    const share = (store: object) =>
      new SQLiteStore({ path: (store as SQLiteStore).path, ...options })
    for (const t of healthConformance({ create, share })) it(t.name, t.run)
    for (const t of budgetConformance({ create, share })) it(t.name, t.run)
  })
}

const user = (name: string, refreshToken = `1000.r.${name}`): OAuthToken =>
  new OAuthToken({
    userSignature: new UserSignature(name),
    refreshToken,
    accessToken: `1000.a.${name}`,
    expiryTime: 1_900_000_000_000,
  })

describe('SQLiteStore budgets across processes', () => {
  it('4 processes taking from one budget at once are granted exactly its limit', async () => {
    const path = scratchPath(dir, 'budget-processes.db')
    await new SQLiteStore({ path }).close()
    const env = { ...process.env, START_AT: String(Date.now() + 3000) }
    const run = () =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', TAKER, path, 'refresh:k', '400', '300'],
          {
            env,
          },
        )
        let out = ''
        let err = ''
        child.stdout.on('data', (d: Buffer) => (out += d.toString()))
        child.stderr.on('data', (d: Buffer) => (err += d.toString()))
        child.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(err))))
      })
    const granted = await Promise.all([run(), run(), run(), run()])
    // Each process alone would be granted all 300: together, exactly 300.
    expect(granted.reduce((a, b) => a + b, 0)).toBe(300)
  }, 30_000)
})

describe('SQLiteStore health column', () => {
  it("saves of the same user, ours and the reference's UPDATE, keep the record", async () => {
    const path = scratchPath(dir, 'upsert.db')
    const store = new SQLiteStore({ path })
    try {
      const token = user('ada@example.com')
      await store.saveToken(token)
      const record = encodeHealth(token, { state: 'failing', attempts: 2, since: 7 })
      await store.saveHealth(token.id!, record)
      // The same user, as a caller holding no id saves it: found by user name, then updated.
      const again = user('ada@example.com')
      again.accessToken = '1000.a.new'
      await store.saveToken(again)
      expect(again.id).toBe(token.id)
      // The reference's update, by user name, naming the official columns.
      const other = new Database(path)
      other
        .prepare('update oauthtoken set access_token = ?, expiry_time = ? where user_name = ?')
        .run('1000.a.theirs', '1900000000001', 'ada@example.com')
      expect(other.prepare('select count(*) from oauthtoken').pluck().get()).toBe(1)
      other.close()
      expect((await store.findHealth([token.id!])).get(token.id!)).toBe(record)
      expect((await store.findTokenById(token.id!))?.accessToken).toBe('1000.a.theirs')
    } finally {
      await store.close()
    }
  })

  it('with encryption, the record is stored as it is (it holds no secret), the tokens sealed', async () => {
    const path = scratchPath(dir, 'sealed.db')
    const store = new SQLiteStore({ path, encryption })
    try {
      const token = user('ada@example.com')
      await store.saveToken(token)
      const record = encodeHealth(token, { state: 'reauth_required', attempts: 1, since: 7 })
      await store.saveHealth(token.id!, record)
      const raw = new Database(path, { readonly: true })
      const row = raw.prepare('select refresh_token, tk_health from oauthtoken').get() as {
        refresh_token: string
        tk_health: string
      }
      raw.close()
      expect(row.tk_health).toBe(record)
      expect(row.refresh_token).not.toContain('1000.r.ada')
      expect((await store.findHealth([token.id!])).get(token.id!)).toBe(record)
    } finally {
      await store.close()
    }
  })

  it('a read-only database of the previous version: nothing added, no health kept, budgets in the process', () => {
    const sub = scratchPath(dir, 'ro')
    mkdirSync(sub, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const path = `${sub}/readonly.db`
    const setup = new Database(path)
    setup.exec(
      'CREATE TABLE oauthtoken (id varchar(10) NOT NULL, user_name varchar(255), client_id ' +
        'varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token ' +
        'varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url ' +
        'varchar(255), api_domain varchar(255), primary key (id))',
    )
    setup
      .prepare('insert into oauthtoken (id, user_name, refresh_token) values (?, ?, ?)')
      .run('1', 'ada@example.com', 'r')
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
    expect(JSON.parse(child.stdout)).toEqual({
      found: [],
      saved: 'nothing',
      budget: [true, true, false],
    })
    expect(readFileSync(path).equals(before)).toBe(true)
  })
})
