// A real full disk and a real read-only file system, on a small tmpfs mounted for the test
// (root; CI runs as root). FileStore: 200 users are saved, then a filler file takes the disk
// to within a few bytes of full, and one ordinary saveToken must reject naming the full disk,
// leaving the file byte-identical; once space is freed the same save succeeds. SQLiteStore:
// the free space is swept over a range of pages, with and without frequent checkpoints, so that
// saves fail in the WAL append, after a checkpoint that could not grow the database, and at
// open (no room for the shared-memory file); every acknowledged token must be there after
// reopening and the database must pass PRAGMA integrity_check. Both: a remount read-only
// between saves is a rejected save that names it, and remounting read-write makes saves work.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeAll, expect, it } from 'vitest'
import { FileStore, OAuthToken, TokenStoreError, UserSignature } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { describeWithTmpfs } from '../helpers/tmpfs.ts'

type Fields = Record<string, unknown>
const PAGE = 4096

function token(i: number, accessToken = `1000.access.${i}.${'a'.repeat(40)}`): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(`user${i}@example.com`),
    clientId: '1000.CLIENT',
    clientSecret: `secret-${i}`,
    refreshToken: `1000.refresh.${i}.${'r'.repeat(40)}`,
    accessToken,
    expiryTime: 1_900_000_000_000 + i,
    apiDomain: 'https://www.zohoapis.com',
  })
}

function fieldsOf(t: OAuthToken): Fields {
  const { userSignature, ...rest } = t.fields()
  return { ...rest, userName: userSignature?.name }
}

async function stateOf(store: {
  getTokens(): Promise<OAuthToken[]>
}): Promise<Map<string, Fields>> {
  return new Map((await store.getTokens()).map((t) => [t.id!, fieldsOf(t)]))
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  )
}

/** Files beside the store that are neither the store, its SQLite companions, nor the filler. */
function strays(dir: string, keep: RegExp): string[] {
  return readdirSync(dir).filter((name) => name !== 'filler' && !keep.test(name))
}

describeWithTmpfs('FileStore on a full disk (a real tmpfs)', '256k', (tmpfs) => {
  const USERS = 200
  let path: string
  let bytes: Buffer
  let rows: Map<string, Fields>

  beforeAll(async () => {
    path = join(tmpfs.dir, 'tokens.csv')
    const store = new FileStore(path)
    await Promise.all(Array.from({ length: USERS }, (_, i) => store.saveToken(token(i))))
    await store.close()
    bytes = readFileSync(path)
    rows = await stateOf(new FileStore(path))
    expect(rows.size).toBe(USERS)
  })
  afterEach(() => tmpfs.unfill())

  const cases: [string, (size: number) => number][] = [
    ['nothing', () => 0],
    ['one page', () => PAGE],
    ['half the file', (size) => size / 2],
    ['the file less a page', (size) => size - PAGE],
  ]
  for (const [label, leave] of cases) {
    it(`rejects one ordinary saveToken naming the full disk and keeps all ${USERS} rows (${label} free)`, async () => {
      const store = new FileStore(path)
      expect((await store.getTokens()).length).toBe(USERS)
      tmpfs.fill(leave(bytes.length))
      const free = tmpfs.free()
      const rotated = token(7, '1000.access.7.ROTATED')
      const err = await failure(store.saveToken(rotated))
      const after = readFileSync(path)
      const reopened = await stateOf(new FileStore(path))
      const lastLine = after.toString('utf8').trimEnd().split('\n').at(-1)!
      console.log(
        `FileStore, ${USERS} users, a ${bytes.length}-byte file, ${free} bytes free: saveToken ` +
          `${err ? `rejected: ${(err as Error).message}` : 'RESOLVED'}; on reopen ` +
          `${reopened.size} rows, file byte-identical: ${after.equals(bytes)}` +
          (after.equals(bytes) ? '' : `, last line ${JSON.stringify(lastLine.slice(0, 12))}…`),
      )
      expect(reopened.size, 'rows after reopen').toBe(USERS)
      expect(after.equals(bytes), 'the file is byte-identical').toBe(true)
      expect(reopened).toEqual(rows)
      expect(err).toBeInstanceOf(TokenStoreError)
      expect((err as Error).message).toMatch(
        /the disk is full \(ENOSPC\); free space on the volume that holds .*tokens\.csv, then try again/,
      )
      expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC')
      // Nothing holding tokens is left beside the file. (An empty lock file the lock could not
      // write may be: it holds no token, and its process's next lock sweep removes it.)
      expect(strays(tmpfs.dir, /^tokens\.csv(\.lock\.\d+\.[0-9a-f]{12}\.new)?$/)).toEqual([])

      tmpfs.unfill()
      await store.saveToken(rotated)
      const saved = await stateOf(new FileStore(path))
      expect(saved.size).toBe(USERS)
      expect(saved.get(rotated.id!)?.accessToken).toBe('1000.access.7.ROTATED')
      // Back to the 200 rows as they were, for the next case.
      await store.saveToken(token(7))
      await store.close()
      expect(await stateOf(new FileStore(path))).toEqual(rows)
    })
  }

  it('rejects a save on a file system remounted read-only, naming it; saves again once rw', async () => {
    const store = new FileStore(path)
    await store.saveToken(token(3, '1000.access.3.BEFORE'))
    const before = readFileSync(path)
    tmpfs.readOnly(true)
    let err: unknown
    try {
      err = await failure(store.saveToken(token(3, '1000.access.3.READONLY')))
      // Reads go on.
      expect((await store.findTokenById(token3Id(before)))?.accessToken).toBe(
        '1000.access.3.BEFORE',
      )
    } finally {
      tmpfs.readOnly(false)
    }
    console.log(`FileStore on a read-only remount: ${(err as Error | undefined)?.message}`)
    expect(err).toBeInstanceOf(TokenStoreError)
    expect((err as Error).message).toMatch(
      /the file system is read-only \(EROFS\); remount it read-write/,
    )
    expect(readFileSync(path).equals(before)).toBe(true)
    await store.saveToken(token(3))
    await store.close()
    expect(await stateOf(new FileStore(path))).toEqual(rows)
  })
})

/** The id of user 3 in a token file's bytes. */
function token3Id(file: Buffer): string {
  const line = file
    .toString('utf8')
    .split('\n')
    .find((l) => l.includes(',user3@example.com,'))!
  return line.split(',')[0]!
}

describeWithTmpfs('SQLiteStore on a full disk (a real tmpfs)', '4m', (tmpfs) => {
  const SEED = 30
  let template: string
  let seeded: Map<string, Fields>

  beforeAll(async () => {
    template = join(tmpfs.dir, 'template.db')
    const store = new SQLiteStore({ path: template })
    for (let i = 0; i < SEED; i++) await store.saveToken(token(i))
    await store.close()
    const reader = new SQLiteStore({ path: template })
    seeded = await stateOf(reader)
    await reader.close()
  })
  afterEach(() => tmpfs.unfill())

  /** One point of the sweep: free pages, checkpoint interval, and when the disk fills. */
  interface Point {
    readonly freePages: number
    readonly checkpointPages: number
    /** `open`: the disk is full before the store opens; `saves`: once it is open. */
    readonly filled: 'open' | 'saves'
  }

  const points: Point[] = [
    ...[1000, 8, 1].flatMap((checkpointPages) =>
      Array.from({ length: 33 }, (_, freePages) => ({
        freePages,
        checkpointPages,
        filled: 'saves' as const,
      })),
    ),
    ...Array.from({ length: 4 }, (_, freePages) => ({
      freePages,
      checkpointPages: 1000,
      filled: 'open' as const,
    })),
  ]

  it(`keeps every acknowledged token through ${points.length} fills of the disk, intact`, async () => {
    const tally = {
      points: 0,
      failed: 0,
      acknowledged: 0,
      lost: 0,
      changedByRejected: 0,
      codes: new Map<string, number>(),
      positions: new Set<string>(),
      checkpointed: 0,
      integrity: 0,
    }
    const messages = new Map<string, string>()
    try {
      for (const [n, point] of points.entries()) {
        const dir = join(tmpfs.dir, `p${n}`)
        mkdirSync(dir)
        const path = join(dir, 'tokens.db')
        copyFileSync(template, path)
        const acknowledged = new Map(seeded)
        const ids = [...seeded.keys()]
        let store = new SQLiteStore({ path })
        if (point.filled === 'open') {
          tmpfs.fill(point.freePages * PAGE)
        } else {
          await store.getTokens()
          ;(store.database as Database.Database).pragma(
            `wal_autocheckpoint = ${point.checkpointPages}`,
          )
          tmpfs.fill(point.freePages * PAGE)
        }
        const dbSize = statSync(path).size
        let error: unknown
        let saves = 0
        for (; saves < 400 && error === undefined; saves++) {
          // Two new users, then an update of a seeded one, in turn.
          const next =
            saves % 3 === 2 ? token(saves % SEED, `1000.access.v${saves}`) : token(1000 + saves)
          try {
            await store.saveToken(next)
            acknowledged.set(next.id!, fieldsOf(next))
          } catch (err) {
            error = err
          }
        }
        if (statSync(path).size !== dbSize) tally.checkpointed += 1
        tally.points += 1
        expect(error, `point ${n}: the disk filled up`).toBeDefined()
        tally.failed += 1
        const code = String(((error as Error).cause as { code?: unknown } | undefined)?.code)
        tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1)
        tally.positions.add(`${point.filled}:${saves}`)
        messages.set(code, (error as Error).message)
        expect(error, `point ${n}`).toBeInstanceOf(TokenStoreError)
        expect((error as Error).message, `point ${n}`).toMatch(
          /the disk is full \(SQLITE_\w+\); free space on the volume that holds/,
        )
        await store.close().catch(() => undefined)
        tmpfs.unfill()

        store = new SQLiteStore({ path })
        const reopened = await stateOf(store)
        await store.close()
        for (const [id, fields] of acknowledged) {
          if (JSON.stringify(reopened.get(id)) !== JSON.stringify(fields)) tally.lost += 1
        }
        for (const [id, fields] of reopened) {
          if (JSON.stringify(acknowledged.get(id)) !== JSON.stringify(fields)) {
            tally.changedByRejected += 1
          }
        }
        tally.acknowledged += acknowledged.size - ids.length
        const db = new Database(path)
        const integrity = db.pragma('integrity_check', { simple: true })
        db.close()
        if (integrity === 'ok') tally.integrity += 1
        expect(integrity, `point ${n}`).toBe('ok')
        expect(reopened, `point ${n}: every acknowledged token, exactly`).toEqual(acknowledged)
        rmSync(dir, { recursive: true })
      }
    } finally {
      console.log(
        `SQLiteStore disk-full sweep: ${tally.points} fault points (free space 0–32 pages × ` +
          `checkpoints every 1000, 8 and 1 pages, and full at open), ${tally.failed} failed saves ` +
          `at ${tally.positions.size} different save positions (codes: ` +
          `${[...tally.codes].map(([c, k]) => `${c} ${k}`).join(', ')}); runs where a ` +
          `checkpoint grew the database: ${tally.checkpointed}; saves acknowledged: ` +
          `${tally.acknowledged}; integrity_check ok: ${tally.integrity}/${tally.points}; rows ` +
          `changed by a rejected save: ${tally.changedByRejected}; tokens lost: ${tally.lost}`,
      )
      for (const [code, message] of messages) console.log(`  e.g. ${code}: ${message}`)
    }
    expect(tally.lost).toBe(0)
    expect(tally.changedByRejected).toBe(0)
    // The sweep reaches the different places a save can fail.
    expect(tally.codes.get('SQLITE_FULL')).toBeGreaterThan(0)
    expect(tally.checkpointed).toBeGreaterThan(0)
    expect(tally.positions.size).toBeGreaterThan(10)
  })

  it('rejects a save on a file system remounted read-only, naming it; saves again once rw', async () => {
    const path = join(tmpfs.dir, 'readonly.db')
    copyFileSync(template, path)
    const writer = new SQLiteStore({ path })
    await writer.saveToken(token(5, '1000.access.5.BEFORE'))
    // Files open for writing keep a file system from going read-only: close first.
    await writer.close()
    tmpfs.readOnly(true)
    let err: unknown
    const store = new SQLiteStore({ path })
    try {
      err = await failure(store.saveToken(token(5, '1000.access.5.READONLY')))
    } finally {
      await store.close().catch(() => undefined)
      tmpfs.readOnly(false)
    }
    console.log(`SQLiteStore on a read-only remount: ${(err as Error | undefined)?.message}`)
    expect(err).toBeInstanceOf(TokenStoreError)
    expect((err as Error).message).toMatch(
      /the file system is read-only \(SQLITE_\w+\); remount it read-write/,
    )
    const again = new SQLiteStore({ path })
    await again.saveToken(token(5, '1000.access.5.AFTER'))
    const state = await stateOf(again)
    await again.close()
    expect([...state.values()].find((f) => f.userName === 'user5@example.com')?.accessToken).toBe(
      '1000.access.5.AFTER',
    )
    expect(state.size).toBe(SEED)
    const db = new Database(path)
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
    expect(strays(tmpfs.dir, /^(template|readonly)\.db(-wal|-shm)?$|^p\d+$/)).toEqual([])
  })
})
