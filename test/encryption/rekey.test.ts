// rekey() against a refresh running at the same time (rotation on: a stale refresh token logs
// the user out), and what SQLite keeps on disk after turning encryption on and re-keying.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import {
  Initializer,
  MemoryStore,
  OAuthToken,
  UserSignature,
  withEncryption,
  type TokenStore,
} from '../../src/index.ts'
import { type ConditionalSave } from '../../src/store.ts'
import { rowFromToken, rowHolds } from '../../src/store/rows.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const dir = scratchDir()
const K1 = randomBytes(32)
const K2 = randomBytes(32)
const only1 = { keys: { k1: K1 }, activeKeyId: 'k1' }
/** The running processes know the new key before any row is moved to it. */
const both1 = { keys: { k1: K1, k2: K2 }, activeKeyId: 'k1' }
const both2 = { keys: { k1: K1, k2: K2 }, activeKeyId: 'k2' }

const emulators: AccountsEmulator[] = []
afterEach(async () => {
  await Promise.all(emulators.splice(0).map((e) => e.close()))
})

/** A user signed in with rotation on, on an encrypted SQLite file, and a clock both share. */
async function rotatingUser(latencyMs = 0) {
  const clock = { now: Date.now() }
  const emulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }],
    rotateRefreshTokens: true,
    latencyMs,
    now: () => clock.now,
  })
  emulators.push(emulator)
  const client = emulator.clients[0]!
  const path = scratchPath(dir, 'rotating.db')
  const session = await Initializer.initialize({
    environment: emulator.environment,
    store: new SQLiteStore({ path, encryption: both1 }),
    token: new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: emulator.issueGrantCode({ user: 'ada@zylker.example' }),
      redirectUrl: 'http://127.0.0.1/callback',
      userSignature: new UserSignature('ada@zylker.example'),
    }),
    config: { now: () => clock.now, retryDelayMs: 1 },
  })
  return { emulator, clock, session, path }
}

/** A store whose getTokens answers, then waits for `until` before rekey goes on with it. */
function holdAfterListing(store: TokenStore, until: Promise<unknown>): TokenStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'getTokens') {
        return async () => {
          const listed = await target.getTokens()
          await until.catch(() => undefined)
          return listed
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value
    },
  })
}

describe('rekey while the token is refreshed (rotation on)', () => {
  it('does not write back the token it listed over the refreshed one: the user stays signed in', async () => {
    const { emulator, clock, session, path } = await rotatingUser()
    const before = (await new SQLiteStore({ path, encryption: only1 }).findTokenById(session.id!))!
    clock.now += 2 * 3_600_000
    // Rekey lists the table, then a refresh replaces the refresh token, then rekey writes.
    const refreshed = session.getAccessToken()
    const rekey = withEncryption(holdAfterListing(new SQLiteStore({ path }), refreshed), both2)
    const [, result] = await Promise.all([refreshed, rekey.rekey()])
    expect(result).toMatchObject({ rekeyed: 1 })

    const stored = (await new SQLiteStore({ path, encryption: both2 }).findTokenById(session.id!))!
    // The next refresh works: nobody presented a rotated-out refresh token.
    clock.now += 2 * 3_600_000
    const next = await session.getAccessToken().then(
      (token) => (emulator.isValid(token) ? 'valid access token' : 'invalid access token'),
      (err: unknown) => (err as { code?: string }).code ?? String(err),
    )
    expect({
      stored:
        stored.refreshToken === before.refreshToken ? 'the listed token' : 'the refreshed token',
      next,
    }).toEqual({ stored: 'the refreshed token', next: 'valid access token' })
    expect(emulator.counts.refresh).toBe(2)
  })

  it('waits for the lease of a refresh in flight, then moves the refreshed token forward', async () => {
    // A slow accounts server: a refresh holds the token's lease for 300 ms.
    const { emulator, clock, session, path } = await rotatingUser(300)
    clock.now += 2 * 3_600_000
    const order: string[] = []
    const refreshed = session.getAccessToken().then(() => order.push('refresh saved'))
    while (emulator.counts.refresh === 0) await new Promise((done) => setTimeout(done, 5))
    const rekeyed = withEncryption(new SQLiteStore({ path }), both2)
      .rekey()
      .then((result) => {
        order.push('rekey done')
        return result
      })
    await Promise.all([refreshed, rekeyed])
    expect(order).toEqual(['refresh saved', 'rekey done'])
    const db = new Database(path, { readonly: true })
    const row = db.prepare('SELECT refresh_token, api_domain FROM oauthtoken').get() as {
      refresh_token: string
      api_domain: string
    }
    db.close()
    expect(row.api_domain).toMatch(/^tk2\.k2\./)
    const stored = (await new SQLiteStore({ path, encryption: both2 }).findTokenById(session.id!))!
    expect(emulator.isValid(stored.refreshToken!)).toBe(true)
    clock.now += 2 * 3_600_000
    expect(emulator.isValid(await session.getAccessToken())).toBe(true)
  })
})

/** A MemoryStore with the conditional save of the contract, and a hook to write in between. */
class ConditionalMemoryStore extends MemoryStore implements ConditionalSave {
  /** Runs once, inside the next conditional save, before its check: a write from outside. */
  meanwhile: (() => Promise<void>) | undefined

  override async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    const other = this.meanwhile
    this.meanwhile = undefined
    await other?.()
    const row = await this.findTokenById(token.id!)
    if (!row || !rowHolds(rowFromToken(row, row.id!), expected)) return false
    await this.saveToken(token)
    return true
  }
}

describe('rekey on a store that saves conditionally', () => {
  it('never writes over a save that came in between its read and its write', async () => {
    const inner = new ConditionalMemoryStore()
    const before = withEncryption(inner, only1)
    const ada = new OAuthToken({
      userSignature: new UserSignature('ada@zylker.example'),
      refreshToken: 'refresh-1',
      accessToken: 'access-1',
      expiryTime: 1_900_000_000_000,
    })
    await before.saveToken(ada)
    inner.meanwhile = async () => {
      // Another process, which did not take the lease, saves a refreshed token.
      const refreshed = ada.clone()
      refreshed.refreshToken = 'refresh-2'
      refreshed.accessToken = 'access-2'
      await withEncryption(inner, both1).saveToken(refreshed)
    }
    const store = withEncryption(inner, both2)
    const result = await store.rekey()
    const stored = (await store.findTokenById(ada.id!))!
    expect([stored.refreshToken, stored.accessToken]).toEqual(['refresh-2', 'access-2'])
    expect(result).toEqual({ rekeyed: 1, current: 0, compacted: false })
  })
})

/** How many of `secrets` appear in the raw bytes of each of the database's files. */
function cleartextIn(path: string, secrets: ReadonlySet<string>): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const suffix of ['', '-wal', '-shm']) {
    let text = ''
    try {
      text = readFileSync(`${path}${suffix}`).toString('latin1')
    } catch (err) {
      // No such -wal or -shm file: nothing in it. Any other failure, or no .db, fails the test
      // rather than reading as "no secret in the file".
      if (suffix === '' || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const found = new Set([...text.matchAll(/1000\.(?:cs|rt|at)\.[0-9a-f]{32}/g)].map((m) => m[0]))
    counts[suffix || '.db'] = [...found].filter((value) => secrets.has(value)).length
  }
  return counts
}

const secret = (kind: 'cs' | 'rt' | 'at'): string =>
  `1000.${kind}.${randomBytes(16).toString('hex')}`

describe('SQLite files after turning encryption on', () => {
  it('rekey leaves no token in the clear in the .db, -wal or -shm file', async () => {
    const path = scratchPath(dir, 'plain-then-sealed.db')
    const plain = new SQLiteStore({ path })
    const secrets = new Set<string>()
    const users = 400
    for (let i = 0; i < users; i += 1) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`user${i}@zylker.example`),
        clientId: '1000.CLIENT',
        clientSecret: secret('cs'),
        refreshToken: secret('rt'),
        accessToken: secret('at'),
        expiryTime: 1_900_000_000_000,
      })
      await plain.saveToken(token)
      secrets.add(token.clientSecret!).add(token.refreshToken!).add(token.accessToken!)
      // Refreshes: the older access tokens are replaced rows, in free space and in the log.
      for (let refresh = 0; refresh < 3; refresh += 1) {
        token.accessToken = secret('at')
        await plain.saveToken(token)
        secrets.add(token.accessToken)
      }
    }
    // The application keeps running (its connection open) while rekey runs beside it.
    const before = cleartextIn(path, secrets)
    expect(before['.db']! + before['-wal']!).toBeGreaterThan(users)

    const store = new SQLiteStore({ path, encryption: only1 })
    const result = await store.rekey()
    const after = cleartextIn(path, secrets)
    console.log(
      `cleartext tokens in the files (of ${secrets.size} written): before rekey ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    )
    expect(after).toEqual({ '.db': 0, '-wal': 0, '-shm': 0 })
    expect(result).toEqual({ rekeyed: users, current: 0, compacted: true })
    // Every token is still there, sealed.
    expect(await store.getTokens()).toHaveLength(users)
    await store.close()
    await plain.close()
  })

  it('a deleted token is zeroed in the file, not left in its free space (secure_delete)', async () => {
    const path = scratchPath(dir, 'deleted.db')
    const store = new SQLiteStore({ path })
    const tokens: OAuthToken[] = []
    for (let i = 0; i < 100; i += 1) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`user${i}@zylker.example`),
        refreshToken: secret('rt'),
        accessToken: secret('at'),
      })
      await store.saveToken(token)
      tokens.push(token)
    }
    const deleted = new Set<string>()
    for (const token of tokens.slice(0, 50)) {
      await store.deleteToken(token.id!)
      deleted.add(token.refreshToken!).add(token.accessToken!)
    }
    // The log written into the database file, as SQLite does by itself every 1000 pages.
    const db = new Database(path)
    db.pragma('wal_checkpoint(TRUNCATE)')
    db.close()
    expect(cleartextIn(path, deleted)['.db']).toBe(0)
    // The tokens that were kept are still there (the store is not encrypted).
    const kept = new Set(tokens.slice(50).map((t) => t.refreshToken!))
    expect(cleartextIn(path, kept)['.db']).toBe(50)
    await store.close()
  })
})

describe('rekey over a store of any size', () => {
  it('passes over the store a page at a time and reports its progress', async () => {
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    const path = scratchPath(dir, 'progress.db')
    const old = new SQLiteStore({ path, encryption: { keys: { k1 }, activeKeyId: 'k1' } })
    for (let i = 0; i < 1200; i += 1) {
      await old.saveToken(
        new OAuthToken({
          userSignature: new UserSignature(`u${i}@x.example`),
          refreshToken: `r${i}`,
        }),
      )
    }
    await old.close()
    const store = new SQLiteStore({
      path,
      encryption: { keys: { k1, k2 }, activeKeyId: 'k2' },
    })
    const seen: number[] = []
    const result = await store.rekey({ onProgress: (n) => seen.push(n) })
    expect(result).toMatchObject({ rekeyed: 1200, current: 0 })
    expect(seen).toEqual([500, 1000, 1200])
    await expect(store.rekey({ onProgress: 'yes' } as never)).rejects.toThrow(/onProgress/)
    await store.close()
  })
})

describe('which row wins while rows are under two keys', () => {
  // The rule of every store (the oldest row, by the smallest numeric id) holds across keys: a
  // look-up by a token value finds the rows sealed under each key and picks the winner among
  // them, not the first key's row.
  for (const [name, make] of [
    ['MemoryStore', () => new MemoryStore()],
    ['SQLiteStore', () => new SQLiteStore({ path: scratchPath(dir, 'two-keys.db') })],
  ] as const) {
    it(`${name}: the older row wins whichever key sealed it`, async () => {
      const inner = make()
      const shared = '1000.access.shared-by-two-rows'
      const older = new OAuthToken({
        userSignature: new UserSignature('old@zylker.example'),
        accessToken: shared,
      })
      await withEncryption(inner, only1).saveToken(older)
      const store = withEncryption(inner, both2)
      const newer = new OAuthToken({
        userSignature: new UserSignature('new@zylker.example'),
        accessToken: shared,
      })
      await store.saveToken(newer)
      expect([older.id, newer.id]).toEqual(['1', '2'])
      // Sealed under k1 and under k2: both rows hold the value.
      const found = await store.findToken(new OAuthToken({ accessToken: shared }))
      expect(found?.id).toBe('1')
      expect(found?.userSignature?.name).toBe('old@zylker.example')
      await store.close?.()
    })
  }
})
