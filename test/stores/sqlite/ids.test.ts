// SQLiteStore's new ids (issue 13): the numbering rule of store.ts, allocated in the save's
// immediate transaction, the largest numeric id read through a partial index (never a scan).
import { execFile, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { largestNumericId, nextTokenId } from '../../../src/store/ids.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { createTableSql } from '../../../src/stores/sql/schema.ts'
import { referenceArticle, scratchDir, scratchPath } from '../../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()
const SAVE_MANY = fileURLToPath(new URL('../../children/save-many.ts', import.meta.url))
const READ_ONLY = fileURLToPath(new URL('../../children/sqlite-readonly.ts', import.meta.url))
const INDEX = 'oauthtoken_numeric_id_idx'

function user(name: string): OAuthToken {
  return new OAuthToken({ userSignature: new UserSignature(name), accessToken: `a.${name}` })
}

function insertIds(db: Database.Database, ids: readonly string[]): void {
  const insert = db.prepare('INSERT INTO oauthtoken (id, access_token) VALUES (?, ?)')
  db.transaction(() => ids.forEach((id, i) => insert.run(id, `raw.${i}`)))()
}

interface Ran {
  source: string
  args: unknown[]
}

/** The statements the store really runs during `work`, recorded with their arguments. */
async function statementsRun(store: SQLiteStore, work: () => Promise<void>): Promise<Ran[]> {
  const db = store.database as Database.Database
  type Method = (this: Database.Statement, ...args: unknown[]) => unknown
  const proto = Object.getPrototypeOf(db.prepare('SELECT 1')) as Record<
    'get' | 'all' | 'run' | 'iterate',
    Method
  >
  const ran: Ran[] = []
  const spies = (['get', 'all', 'run', 'iterate'] as const).map((method) => {
    const original = proto[method]
    return vi.spyOn(proto, method).mockImplementation(function (
      this: Database.Statement,
      ...args: unknown[]
    ) {
      ran.push({ source: this.source, args })
      return original.apply(this, args)
    })
  })
  try {
    await work()
  } finally {
    for (const spy of spies) spy.mockRestore()
  }
  return ran
}

/** The query plan lines of every SELECT among `ran`. */
function plans(db: Database.Database, ran: Ran[]): { source: string; plan: string[] }[] {
  return ran
    .filter(({ source }) => /^\s*select\b/i.test(source))
    .map(({ source, args }) => ({
      source,
      plan: (db.prepare(`EXPLAIN QUERY PLAN ${source}`).all(...args) as { detail: string }[]).map(
        (row) => row.detail,
      ),
    }))
}

describe('SQLiteStore new ids', () => {
  it('two processes saving new users at the same time get exactly the ids 1..N', async () => {
    const path = scratchPath(dir, 'two-processes.db')
    const children = ['p1', 'p2'].map((prefix) =>
      run(process.execPath, ['--import', 'tsx', SAVE_MANY, 'sqlite', path, prefix, '150', '2'], {
        maxBuffer: 1 << 24,
      }),
    )
    const outputs = (await Promise.all(children)).map(
      ({ stdout }) => JSON.parse(stdout) as { ids: string[]; started: number; finished: number },
    )
    // Both really saved at the same time: each started before the other finished.
    expect(outputs[0]!.started).toBeLessThan(outputs[1]!.finished)
    expect(outputs[1]!.started).toBeLessThan(outputs[0]!.finished)
    const expected = Array.from({ length: 300 }, (_, i) => String(i + 1))
    const given = outputs.flatMap(({ ids }) => ids)
    expect([...given].sort((a, b) => Number(a) - Number(b))).toEqual(expected)
    const db = new Database(path, { readonly: true })
    const stored = (db.prepare('SELECT id FROM oauthtoken').pluck().all() as string[]).sort(
      (a, b) => Number(a) - Number(b),
    )
    expect(stored).toEqual(expected)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
  })

  it('finds the largest numeric id through the partial index, never by a scan of the table', async () => {
    const store = new SQLiteStore({ path: scratchPath(dir, 'explain.db') })
    const db = store.database as Database.Database
    insertIds(db, [
      ...Array.from({ length: 2000 }, (_, i) => String(i + 1)),
      '0wod457ssD',
      'abcdefghij',
      '0000099999',
    ])
    for (const analyzed of [false, true]) {
      if (analyzed) db.exec('ANALYZE')
      const token = user(`new-${analyzed}@example.com`)
      const ran = await statementsRun(store, () => store.saveToken(token))
      expect(token.id).toBe(analyzed ? '100001' : '100000')
      const selects = plans(db, ran)
      // The new-id path's other reads (the lookups by user name) use their indexes.
      for (const { source, plan } of selects) {
        expect(plan, source).not.toContainEqual(expect.stringMatching(/^SCAN/))
      }
      // EXPLAIN calls any max() a SEARCH, even one that walks a whole index: the largest id
      // must come from the last entry of the numeric id index, and from nothing else.
      const largest = selects.filter(({ source }) => /max\(/i.test(source))
      expect(largest).toHaveLength(1)
      expect(largest[0]!.plan).toEqual([
        expect.stringMatching(new RegExp(`^SEARCH oauthtoken USING (COVERING )?INDEX ${INDEX}$`)),
      ])
    }
    await store.close()
  })

  it('numbers exactly the ids numericIdValue numbers (1 to 10 ASCII digits), as store.ts does', async () => {
    const store = new SQLiteStore({ path: ':memory:' })
    const db = store.database as Database.Database
    // Digits mostly, and the characters that a looser test would let through.
    const char = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...'0123456789') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(' ', '+', '-', '.', 'e', 'x', '\0', '\n', '٣', '５'),
      },
    )
    const id = fc.array(char, { maxLength: 12 }).map((chars) => chars.join(''))
    const fixed = ['', '0', '00', ' 5', '5 ', '12\0', '12\u00003', '99999999999', '0000000099']
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(fixed),
        fc.uniqueArray(id, { maxLength: 8 }),
        async (some, random) => {
          const ids = [...new Set([...some, ...random])]
          await store.deleteTokens()
          insertIds(db, ids)
          let expected: string | Error
          try {
            expected = nextTokenId('SQLiteStore', largestNumericId(ids))
          } catch (err) {
            expected = err as Error
          }
          const token = user('next@example.com')
          if (expected instanceof Error) {
            await expect(store.saveToken(token)).rejects.toThrow(expected.message)
          } else {
            await store.saveToken(token)
            expect(token.id).toBe(expected)
          }
        },
      ),
      { numRuns: 300 },
    )
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    await store.close()
  })

  it('reads ten-digit ids exactly', async () => {
    const store = new SQLiteStore({ path: ':memory:' })
    insertIds(store.database as Database.Database, ['9999999997', '0999999998', '999999999'])
    const token = user('ten@example.com')
    await store.saveToken(token)
    expect(token.id).toBe('9999999998')
    await store.saveToken(user('last@example.com'))
    await expect(store.saveToken(user('none-left@example.com'))).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'saveToken',
    })
    await store.close()
  })
})

describe('SQLiteStore without its numeric id index', () => {
  it('still numbers right, by a scan, when the index name is taken by another object', async () => {
    const path = scratchPath(dir, 'name-taken.db')
    const setup = new Database(path)
    setup.exec(createTableSql('sqlite', 'oauthtoken'))
    setup.exec(`CREATE TABLE ${INDEX} (note text)`)
    insertIds(setup, ['0wod457ssD', '41', '0000000099', '12ab'])
    setup.close()

    const store = new SQLiteStore({ path })
    const token = user('ada@example.com')
    const ran = await statementsRun(store, () => store.saveToken(token))
    expect(token.id).toBe('100')
    const db = store.database as Database.Database
    expect(db.prepare('SELECT type FROM sqlite_master WHERE name = ?').pluck().all(INDEX)).toEqual([
      'table',
    ])
    // The fallback is the same query without the index: correct, and linear in the rows.
    const largest = plans(db, ran).find(({ source }) => /max\(/i.test(source))
    expect(largest?.plan.join('\n')).not.toContain(INDEX)
    const second = user('bob@example.com')
    await store.saveToken(second)
    expect(second.id).toBe('101')
    await store.close()
  })

  it('serves a read-only database that has no such index', async () => {
    const sub = scratchPath(dir, 'ro')
    mkdirSync(sub, { mode: 0o755 })
    chmodSync(dir, 0o755)
    const path = `${sub}/readonly.db`
    const setup = new Database(path)
    setup.exec(createTableSql('sqlite', 'oauthtoken'))
    setup
      .prepare("INSERT INTO oauthtoken (id, user_name, access_token) VALUES ('7', ?, 'a')")
      .run('ada@example.com')
    setup.close()
    chmodSync(path, 0o444)
    const before = readFileSync(path)
    // Root ignores file modes: the child runs as nobody, as a user without write permission would.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
    const child = spawnSync(process.execPath, ['--import', 'tsx', READ_ONLY, path], {
      ...asUser,
      encoding: 'utf8',
    })
    expect(child.stderr).toBe('')
    expect(JSON.parse(child.stdout)).toMatchObject({
      found: 'a',
      saveError: { code: 'TOKEN_STORE', message: expect.stringMatching(/read-only/) as unknown },
    })
    expect(readFileSync(path).equals(before)).toBe(true)
  })
})

/** The article's own INSERT statement, read from the reference at test time (not copied). */
function articleInsert(): string | undefined {
  const file = referenceArticle()
  if (file === undefined) return undefined
  const lines = readFileSync(file, 'utf8').split('\n')
  const first = lines.findIndex((line) => line.includes('"insert into oauthtoken'))
  if (first < 0) return undefined
  const statement: string[] = []
  for (let i = first; i < lines.length; i += 1) {
    statement.push(lines[i]!)
    if (!lines[i]!.trimEnd().endsWith('\\')) break
  }
  // A Python literal split over lines: "…" \ "…"
  return [...statement.join('\n').matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('')
}

/** Python's sqlite3: numbers the row as the sample does (`int(max(id)) + 1`) and inserts it. */
const PYTHON = `
import sqlite3, sys
path, query, name = sys.argv[1:4]
connection = sqlite3.connect(path)
cursor = connection.cursor()
cursor.execute('select max(id) from oauthtoken')
new_id = str(int(cursor.fetchone()[0]) + 1)
cursor.execute(query, (new_id, name, '1000.PY', 'py-secret', '1000.r.py', '1000.a.py', None,
                       '1900000000000', 'https://x/cb', 'https://www.zohoapis.com'))
connection.commit()
print(new_id, cursor.execute('pragma integrity_check').fetchone()[0], sqlite3.sqlite_version)
connection.close()
`

const insertSql = articleInsert()
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' })
const missing =
  python.status !== 0
    ? 'python3 is not installed'
    : insertSql === undefined
      ? 'the reference article is not found (see referenceArticle in test/helpers/common.ts)'
      : undefined
if (python.status !== 0 && process.env.REQUIRE_PYTHON === '1') {
  throw new Error('REQUIRE_PYTHON=1 but python3 is not installed')
}
if (missing) console.warn(`skipping the Python sqlite3 test: ${missing}`)

const PYTHON_TITLE = 'Python sqlite3 beside SQLiteStore'
// The reason is in the title, so the run's summary counts it (test/helpers/skip-summary.ts).
describe.skipIf(missing !== undefined)(
  missing === undefined ? PYTHON_TITLE : `${PYTHON_TITLE} (skipped: ${missing})`,
  () => {
    it("writes a tokenkeeper database, index and all, with the article's INSERT; tokenkeeper numbers on after it", async () => {
      expect(insertSql).toMatch(/^insert into oauthtoken \(id,user_name,.*\(\?(,\?){9}\);$/)
      const path = scratchPath(dir, 'zohooauth.db')
      const store = new SQLiteStore({ path })
      for (const name of ['ada@example.com', 'bob@example.com']) await store.saveToken(user(name))

      const py = spawnSync('python3', ['-c', PYTHON, path, insertSql!, 'py@example.com'], {
        encoding: 'utf8',
      })
      expect(py.stderr).toBe('')
      const [pythonId, integrity] = py.stdout.trim().split(' ')
      expect([pythonId, integrity]).toEqual(['3', 'ok'])

      // The store stayed open meanwhile: it sees the row, and the next id comes after it.
      const found = await store.findToken(
        new OAuthToken({ userSignature: new UserSignature('py@example.com') }),
      )
      expect(found).toMatchObject({ id: '3', refreshToken: '1000.r.py' })
      const next = user('carol@example.com')
      await store.saveToken(next)
      expect(next.id).toBe('4')
      const db = store.database as Database.Database
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
      await store.close()
    })
  },
)
