// SQLiteStore's pass over every token (issue 14): keyset pages on the primary key, each page its
// own short read, the sealed-row guard on every token, and memory that does not grow with the
// table.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { describe, expect, it, vi } from 'vitest'
import {
  EncryptionError,
  InvalidArgumentError,
  OAuthToken,
  UserSignature,
  type OAuthToken as Token,
} from '../../../src/index.ts'
import { supportsIteration } from '../../../src/iteration.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()
const PASS = fileURLToPath(new URL('../../children/sqlite-pass.ts', import.meta.url))
const KEYS = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
const PAGE_SELECT = /^SELECT id, .* FROM "oauthtoken" (WHERE id > \? )?ORDER BY id LIMIT \?$/

function insertIds(db: Database.Database, ids: readonly string[]): void {
  const insert = db.prepare('INSERT INTO oauthtoken (id, user_name, access_token) VALUES (?, ?, ?)')
  db.transaction(() => ids.forEach((id) => insert.run(id, `u.${id}@example.com`, `a.${id}`)))()
}

async function all(pass: AsyncIterable<Token>): Promise<Token[]> {
  const tokens: Token[] = []
  for await (const token of pass) tokens.push(token)
  return tokens
}

/** The statements run during `work` (on any connection), with their arguments. */
async function statementsRun(work: () => Promise<void>): Promise<[string, unknown[]][]> {
  const db = new Database(':memory:')
  const proto = Object.getPrototypeOf(db.prepare('SELECT 1')) as Record<'all', () => unknown>
  db.close()
  const ran: [string, unknown[]][] = []
  const original = proto.all
  const spy = vi.spyOn(proto, 'all').mockImplementation(function (
    this: Database.Statement,
    ...args: unknown[]
  ) {
    ran.push([this.source, args])
    return original.apply(this, args as [])
  })
  try {
    await work()
  } finally {
    spy.mockRestore()
  }
  return ran
}

describe('SQLiteStore.iterateTokens', () => {
  it('is offered bare and encrypted, and both read the table a keyset page at a time', async () => {
    const path = scratchPath(dir, 'pages.db')
    const bare = new SQLiteStore({ path })
    const encrypted = new SQLiteStore({ path, encryption: KEYS })
    expect(supportsIteration(bare)).toBe(true)
    expect(supportsIteration(encrypted)).toBe(true)
    for (let i = 1; i <= 25; i += 1) {
      await encrypted.saveToken(
        new OAuthToken({ userSignature: new UserSignature(`u${i}@example.com`), accessToken: 'a' }),
      )
    }
    let tokens: Token[] = []
    const ran = await statementsRun(async () => {
      tokens = await all(encrypted.iterateTokens({ pageSize: 10 }))
    })
    expect(tokens.map((t) => t.accessToken)).toEqual(Array(25).fill('a'))
    // Ids in text order: '1', '10'..'19', '2', '20'..'25', '3'...
    const ids = Array.from({ length: 25 }, (_, i) => String(i + 1)).sort()
    expect(tokens.map((t) => t.id)).toEqual(ids)
    expect(ran.map(([source]) => source)).toEqual(Array(3).fill(expect.stringMatching(PAGE_SELECT)))
    expect(ran.map(([, args]) => args)).toEqual([[10], [ids[9], 10], [ids[19], 10]])
    await bare.close()
    await encrypted.close()
  })

  it('reads each page through the primary key index: no scan, no sort, whatever the size', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'plan.db') })
    const db = store.database as Database.Database
    insertIds(db, [...Array.from({ length: 3000 }, (_, i) => String(i + 1)), '0wod457ssD', 'x'])
    for (const analyzed of [false, true]) {
      if (analyzed) db.exec('ANALYZE')
      const ran = await statementsRun(async () => {
        expect((await all(store.iterateTokens({ pageSize: 1000 }))).length).toBe(3002)
      })
      expect(ran).toHaveLength(4)
      for (const [source, args] of ran) {
        const plan = (
          db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(...args) as { detail: string }[]
        ).map((row) => row.detail)
        const where = args.length === 2 ? ' \\(id>\\?\\)' : ''
        expect(plan, source).toEqual([
          expect.stringMatching(
            new RegExp(
              `^(SCAN|SEARCH) oauthtoken USING INDEX sqlite_autoindex_oauthtoken_1${where}$`,
            ),
          ),
        ])
      }
    }
    await store.close()
  })

  it('holds no read between pages: other connections write and checkpoint, and the pass sees their rows', async () => {
    const path = scratchPath(dir, 'short-reads.db')
    const store = new SQLiteStore({ path })
    insertIds(
      store.database as Database.Database,
      Array.from({ length: 250 }, (_, i) => String(1000 + i)),
    )
    const other = new Database(path, { timeout: 0 })
    const ids: string[] = []
    for await (const token of store.iterateTokens({ pageSize: 100 })) {
      ids.push(token.id!)
      if (ids.length !== 1) continue
      // Mid-pass, after the first page: a row past the cursor added, one removed, and the log
      // checkpointed to its end, which a read still open would prevent.
      insertIds(other, ['9999'])
      other.prepare("DELETE FROM oauthtoken WHERE id = '1200'").run()
      expect(other.pragma('wal_checkpoint(TRUNCATE)')).toEqual([
        { busy: 0, log: 0, checkpointed: 0 },
      ])
    }
    expect(ids).toHaveLength(250)
    expect(ids).toContain('9999')
    expect(ids).not.toContain('1200')
    other.close()
    await store.close()
  })

  it('keeps the sealed-row guard: without keys a pass refuses sealed rows, with them it opens them', async () => {
    const path = scratchPath(dir, 'sealed.db')
    const encrypted = new SQLiteStore({ path, encryption: KEYS })
    const saved = new OAuthToken({
      userSignature: new UserSignature('ada@example.com'),
      refreshToken: '1000.refresh',
      accessToken: '1000.access',
    })
    await encrypted.saveToken(saved)
    expect(await all(encrypted.iterateTokens())).toMatchObject([
      { id: '1', refreshToken: '1000.refresh', accessToken: '1000.access' },
    ])
    const bare = new SQLiteStore({ path })
    await expect(all(bare.iterateTokens())).rejects.toThrow(EncryptionError)
    await bare.close()
    await encrypted.close()
  })

  it('checks its options at the call, before the database is opened', () => {
    const path = scratchPath(dir, 'a-directory')
    mkdirSync(path)
    const store = new SQLiteStore({ path })
    for (const options of [{ pageSize: 0 }, { pageSize: 2.5 }, { size: 10 }, null]) {
      expect(() => store.iterateTokens(options as never)).toThrow(InvalidArgumentError)
    }
  })

  it('gives ids of every kind once, a page of one at a time', async () => {
    const store = new SQLiteStore({ path: ':memory:' })
    const ids = ['1', '10', '2', '0000000099', '0wod457ssD', 'abcdefghij', 'A', '9999999999', '7 ']
    insertIds(store.database as Database.Database, ids)
    const given = (await all(store.iterateTokens({ pageSize: 1 }))).map((t) => t.id)
    expect(given).toEqual([...ids].sort())
    await store.close()
  })
})

describe('SQLiteStore pass memory', () => {
  it('a pass over 200,000 rows stays within 64 MB of heap, where getTokens() needs far more', async () => {
    const path = scratchPath(dir, 'large.db')
    const pass = async (way: string, fill?: string) => {
      const args = ['--expose-gc', '--import', 'tsx', PASS, path, '200000', way]
      const { stdout } = await run(process.execPath, fill ? [...args, fill] : args)
      return JSON.parse(stdout) as { given: number; once: boolean; heapGrowth: number }
    }
    const iterated = await pass('iterate', 'fill')
    const listed = await pass('getTokens')
    const MB = 1 << 20
    console.log(
      `heap growth over 200,000 rows: iterateTokens ${(iterated.heapGrowth / MB).toFixed(1)} MB, ` +
        `getTokens ${(listed.heapGrowth / MB).toFixed(1)} MB`,
    )
    expect(iterated).toMatchObject({ given: 200_000, once: true })
    expect(listed).toMatchObject({ given: 200_000, once: true })
    expect(iterated.heapGrowth).toBeLessThan(64 * MB)
    // The bound means something at this size: every token at once is well above it.
    expect(listed.heapGrowth).toBeGreaterThan(96 * MB)
  }, 60_000)
})
