import assert from 'node:assert/strict'
import { OAuthToken, UserSignature, type OAuthTokenInit } from '../token.js'
import { InvalidArgumentError } from '../errors.js'
import { supportsIteration } from '../iteration.js'
import { COLUMNS, MAX_TOKEN_ID, TOKEN_ID_PATTERN, type TokenStore } from '../store.js'
import { TokenStoreError } from '../errors.js'

/** A stored row as the backend really holds it, under the official column names. */
export type RawRow = Record<string, string | null | undefined>

/** How {@link tokenStoreConformance} gets stores to test. */
export interface ConformanceOptions {
  /** A fresh, empty store; called once per test. */
  readonly create: () => TokenStore | Promise<TokenStore>
  /**
   * For persistent stores: a new store on the same data as `store`, which has been closed.
   * Without it, the reopening test is left out.
   */
  readonly reopen?: (store: TokenStore) => TokenStore | Promise<TokenStore>
  /**
   * Reads every row as the backend holds it, bypassing the store (a second connection, the
   * file parsed by another parser). With it, the suite checks what was really written.
   */
  readonly readRaw?: (store: TokenStore) => Promise<RawRow[]>
  /** A store whose backend fails (unreachable, a directory for a file...). */
  readonly createBroken?: () => TokenStore | Promise<TokenStore>
}

/** One test of the suite: give `name` and `run` to any test runner. */
export interface ConformanceTest {
  readonly name: string
  readonly run: () => Promise<void>
}

/** Values that break naive stores: delimiters, quotes, line breaks, SQL, unicode, 4 KB. */
export const HOSTILE_VALUES: readonly string[] = [
  'comma,separated,value',
  'double "quoted" value',
  "single 'quoted' value",
  `"'mixed'"`,
  'line one\nline two',
  'carriage\r\nreturn',
  'lone\rcarriage',
  '\ttabbed\t',
  'back\\slash\\',
  '100% of_all_rows',
  '  spaces around  ',
  'unicode ünïcødé 日本語 ✓',
  'emoji 🔑👩‍👩‍👧 done',
  "'; DROP TABLE oauthtoken; --",
  '" OR "1"="1',
  'NULL',
  '\\N',
  '=HYPERLINK("x")',
  ',',
  '"',
  'k'.repeat(4096),
]

let serial = 0

/** A complete token for a user, every value distinct. */
export function sample(user: string, extra: OAuthTokenInit = {}): OAuthToken {
  serial += 1
  const tag = `${serial}.${Math.random().toString(36).slice(2, 10)}`
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: `1000.client.${tag}`,
    clientSecret: `secret.${tag}`,
    refreshToken: `1000.refresh.${tag}`,
    accessToken: `1000.access.${tag}`,
    grantToken: `1000.grant.${tag}`,
    redirectUrl: 'https://example.com/callback',
    apiDomain: 'https://www.zohoapis.com',
    expiryTime: 1_900_000_000_000 + serial,
    ...extra,
  })
}

function plain(token: OAuthToken | null): Record<string, unknown> | null {
  if (token === null) return null
  const { userSignature, ...rest } = token.fields()
  return { ...rest, userName: userSignature?.name }
}

/** Asserts that a token read back equals the one expected, field by field. */
export function assertSame(actual: OAuthToken | null, expected: OAuthToken, what: string): void {
  assert.ok(actual, `${what}: expected a token, got null`)
  assert.ok(actual instanceof OAuthToken, `${what}: expected an OAuthToken`)
  assert.deepEqual(plain(actual), plain(expected), `${what}: the stored token differs`)
}

/** An `assert.rejects` check that the error has this `code`. */
export function expectCode(code: string) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, `expected an error with code ${code}`)
    return true
  }
}

function rawValue(token: OAuthToken, column: (typeof COLUMNS)[number]): string | null {
  const values: Record<(typeof COLUMNS)[number], string | undefined> = {
    id: token.id,
    user_name: token.userSignature?.name,
    client_id: token.clientId,
    client_secret: token.clientSecret,
    refresh_token: token.refreshToken,
    access_token: token.accessToken,
    grant_token: token.grantToken,
    expiry_time: token.expiryTime === undefined ? undefined : String(token.expiryTime),
    redirect_url: token.redirectUrl,
    api_domain: token.apiDomain,
  }
  return values[column] ?? null
}

/**
 * The contract every {@link TokenStore} keeps, as tests any runner can run: the matching
 * precedence, upsert, ids, one row per user, deletes, exact round-trips of hostile values,
 * concurrency, typed errors, and persistence. Every store of tokenkeeper runs it first; run it
 * on your own store too.
 *
 * @example
 * import { describe, it } from 'vitest' // or node:test, mocha, jest
 * import { tokenStoreConformance } from 'tokenkeeper/testing'
 * describe('MyStore', () => {
 *   for (const t of tokenStoreConformance({ create: () => new MyStore() })) it(t.name, t.run)
 * })
 */
export function tokenStoreConformance(options: ConformanceOptions): ConformanceTest[] {
  if (typeof options !== 'object' || options === null || typeof options.create !== 'function') {
    throw new InvalidArgumentError(
      'options.create',
      'tokenStoreConformance needs { create: () => a new, empty store }',
    )
  }
  for (const key of ['reopen', 'readRaw', 'createBroken'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new InvalidArgumentError(`options.${key}`, `options.${key} must be a function`)
    }
  }
  const tests: ConformanceTest[] = []
  const test = (name: string, body: (store: TokenStore) => Promise<void>): void => {
    tests.push({
      name,
      run: async () => {
        const store = await options.create()
        try {
          await body(store)
        } finally {
          await store.close?.()
        }
      },
    })
  }
  const raw = async (store: TokenStore): Promise<RawRow[] | undefined> => options.readRaw?.(store)
  const rawRowOf = async (store: TokenStore, id: string): Promise<RawRow | undefined> => {
    const rows = await raw(store)
    if (!rows) return undefined
    const found = rows.filter((row) => row.id === id)
    assert.equal(found.length, 1, `exactly one stored row should have id ${id}`)
    return found[0]
  }
  const checkRaw = async (store: TokenStore, token: OAuthToken, what: string): Promise<void> => {
    const row = await rawRowOf(store, token.id!)
    if (!row) return
    for (const column of COLUMNS) {
      assert.equal(
        row[column] ?? null,
        rawValue(token, column),
        `${what}: stored ${column} differs`,
      )
    }
  }

  test('an empty store has no tokens, and unknown ids and tokens give null', async (store) => {
    assert.deepEqual(await store.getTokens(), [])
    assert.equal(await store.findTokenById('0123456789'), null)
    assert.equal(await store.findToken(sample('nobody@example.com')), null)
    assert.equal(await store.findToken(new OAuthToken({ accessToken: 'unknown' })), null)
  })

  test('an insert sets the next id of the numbering on the given token: 1, 2, 3...', async (store) => {
    const token = sample('ada@example.com')
    assert.equal(token.id, undefined)
    await store.saveToken(token)
    assert.equal(token.id, '1')
    assertSame(await store.findTokenById('1'), token, 'findTokenById after insert')
    await checkRaw(store, token, 'after insert')
    const bob = sample('bob@example.com')
    await store.saveToken(bob)
    assert.equal(bob.id, '2')
  })

  test('new ids follow the largest numeric id; ids of other forms keep working', async (store) => {
    // Earlier tokenkeeper ids, ids a user chose, and official numbers with a leading zero.
    const given = ['0wod457ssD', 'abcdefghij', '41', '0000000099', '7', '12ab']
    for (const [i, id] of given.entries())
      await store.saveToken(sample(`given${i}@example.com`, { id }))
    const fresh = sample('fresh@example.com')
    await store.saveToken(fresh)
    assert.equal(fresh.id, '100', 'after 0000000099 (the number 99) comes 100')
    assert.match(fresh.id, TOKEN_ID_PATTERN)
    for (const [i, id] of given.entries()) {
      const found = await store.findTokenById(id)
      assert.equal(found?.userSignature?.name, `given${i}@example.com`, `findTokenById(${id})`)
      const again = sample(`given${i}@example.com`, { id })
      await store.saveToken(again)
      assert.equal(again.id, id, `saveToken keeps id ${id}`)
    }
    await store.deleteToken('0wod457ssD')
    assert.equal(await store.findTokenById('0wod457ssD'), null)
    // The numbering follows the ids stored now: with 100 and 99 gone, 41 is the largest.
    await store.deleteToken('100')
    await store.deleteToken('0000000099')
    const next = sample('next@example.com')
    await store.saveToken(next)
    assert.equal(next.id, '42')
    assert.equal((await store.getTokens()).length, given.length - 2 + 1)
  })

  test('past the largest id that fits ten characters, an insert fails and keeps every row', async (store) => {
    const last = sample('last@example.com', { id: String(MAX_TOKEN_ID) })
    await store.saveToken(last)
    await assert.rejects(store.saveToken(sample('one-more@example.com')), (err: unknown) => {
      assert.ok(err instanceof TokenStoreError, `a TokenStoreError, got ${String(err)}`)
      assert.match(err.message, /save it again without an id/)
      return true
    })
    assert.equal((await store.getTokens()).length, 1)
    assertSame(await store.findTokenById(String(MAX_TOKEN_ID)), last, 'the last id is kept')
  })

  test('findToken matches the user name before any other value', async (store) => {
    const ada = sample('ada@example.com')
    const bob = sample('bob@example.com')
    await store.saveToken(ada)
    await store.saveToken(bob)
    // The user name wins even when the other values point at another row.
    const probe = new OAuthToken({
      userSignature: new UserSignature('ada@example.com'),
      accessToken: bob.accessToken,
      refreshToken: bob.refreshToken,
      grantToken: bob.grantToken,
    })
    assertSame(await store.findToken(probe), ada, 'by user name')
    const stranger = new OAuthToken({
      userSignature: new UserSignature('carol@example.com'),
      refreshToken: bob.refreshToken,
    })
    assert.equal(await store.findToken(stranger), null, 'an unknown user name must not fall back')
  })

  test('findToken matches the access token only when there is no client id or secret', async (store) => {
    const ada = sample('ada@example.com')
    await store.saveToken(ada)
    assertSame(
      await store.findToken(new OAuthToken({ accessToken: ada.accessToken })),
      ada,
      'by access token',
    )
    const withClient = new OAuthToken({ accessToken: ada.accessToken, clientId: ada.clientId })
    assert.equal(
      await store.findToken(withClient),
      null,
      'with a client id the access token is not a key',
    )
    const withSecret = new OAuthToken({ accessToken: ada.accessToken, clientSecret: 'x' })
    assert.equal(
      await store.findToken(withSecret),
      null,
      'with a client secret the access token is not a key',
    )
  })

  test('findToken matches the grant token, then the refresh token', async (store) => {
    const ada = sample('ada@example.com')
    const bob = sample('bob@example.com')
    await store.saveToken(ada)
    await store.saveToken(bob)
    const client = { clientId: 'c', clientSecret: 's' }
    const byGrant = new OAuthToken({
      ...client,
      grantToken: ada.grantToken,
      refreshToken: bob.refreshToken,
    })
    assertSame(
      await store.findToken(byGrant),
      ada,
      'the grant token comes before the refresh token',
    )
    const byRefresh = new OAuthToken({ ...client, refreshToken: bob.refreshToken })
    assertSame(await store.findToken(byRefresh), bob, 'by refresh token')
    const unknownGrant = new OAuthToken({
      ...client,
      grantToken: 'unknown',
      refreshToken: bob.refreshToken,
    })
    assert.equal(
      await store.findToken(unknownGrant),
      null,
      'an unknown grant token must not fall back',
    )
    assert.equal(await store.findToken(new OAuthToken(client)), null, 'no lookup value gives null')
  })

  test('when several rows hold the looked-up value, the oldest wins: smallest numeric id first', async (store) => {
    // Rows other writers left behind can share a grant, refresh or access token. Saved in an
    // order that neither insertion order nor the ids' text order would pick the right winner.
    const client = { clientId: 'c', clientSecret: 's' }
    const shared = (id: string): OAuthToken =>
      new OAuthToken({
        ...client,
        id,
        grantToken: 'shared grant',
        refreshToken: 'shared refresh',
        accessToken: `access of ${id}`,
      })
    for (const id of ['12', 'x', '9', '10']) await store.saveToken(shared(id))
    const byGrant = new OAuthToken({ ...client, grantToken: 'shared grant' })
    const byRefresh = new OAuthToken({ ...client, refreshToken: 'shared refresh' })
    assert.equal((await store.findToken(byGrant))?.id, '9', 'by grant token: 9 before 10 and 12')
    assert.equal((await store.findToken(byRefresh))?.id, '9', 'by refresh token')
    const update = new OAuthToken({ ...client, grantToken: 'shared grant', accessToken: 'new' })
    await store.saveToken(update)
    assert.equal(update.id, '9', 'a save without an id updates the winning row')
    for (const id of ['12', 'x', '10']) {
      assert.equal((await store.findTokenById(id))?.accessToken, `access of ${id}`, `row ${id}`)
    }
    await store.deleteToken('9')
    assert.equal((await store.findToken(byGrant))?.id, '10', 'by number, not by text')
    await store.deleteToken('10')
    await store.deleteToken('12')
    assert.equal((await store.findToken(byGrant))?.id, 'x', 'ids that are not numbered come last')
  })

  test('findToken returns a new, complete token and leaves the given one unchanged', async (store) => {
    const ada = sample('ada@example.com')
    await store.saveToken(ada)
    const probe = new OAuthToken({ userSignature: new UserSignature('ada@example.com') })
    const before = plain(probe)
    const found = await store.findToken(probe)
    assert.notEqual(found, probe)
    assert.deepEqual(plain(probe), before, 'the given token must not change')
    assertSame(found, ada, 'complete token')
    found!.accessToken = 'changed in memory only'
    assertSame(await store.findToken(probe), ada, 'a returned token is not shared')
  })

  test('saveToken with an id replaces that row', async (store) => {
    const ada = sample('ada@example.com')
    await store.saveToken(ada)
    const id = ada.id!
    const next = sample('ada@example.com', { id, grantToken: undefined, redirectUrl: undefined })
    await store.saveToken(next)
    assert.equal(next.id, id)
    assertSame(await store.findTokenById(id), next, 'replaced row')
    assert.equal((await store.getTokens()).length, 1)
    await checkRaw(store, next, 'after replace')
  })

  test('saveToken with an unknown id inserts under that id', async (store) => {
    const ada = sample('ada@example.com', { id: 'abcdefghij' })
    await store.saveToken(ada)
    assert.equal(ada.id, 'abcdefghij')
    assertSame(await store.findTokenById('abcdefghij'), ada, 'inserted under its id')
  })

  test('saveToken without an id updates the row that findToken matches', async (store) => {
    const ada = sample('ada@example.com')
    await store.saveToken(ada)
    const refreshed = sample('ada@example.com')
    await store.saveToken(refreshed)
    assert.equal(refreshed.id, ada.id, 'the matched row keeps its id and it is set on the token')
    assertSame(await store.findTokenById(ada.id!), refreshed, 'updated by user name')

    const anonymous = sample('x', { userSignature: undefined })
    await store.saveToken(anonymous)
    const rotated = new OAuthToken({
      ...anonymous.fields(),
      id: undefined,
      accessToken: 'new access',
    })
    await store.saveToken(rotated)
    assert.equal(rotated.id, anonymous.id, 'updated by grant token')
    assert.equal((await store.getTokens()).length, 2)
  })

  test('one row per user name: saving a user again never adds a row', async (store) => {
    for (let i = 0; i < 3; i += 1) await store.saveToken(sample('ada@example.com'))
    const tokens = await store.getTokens()
    assert.equal(tokens.length, 1)
    const rows = await raw(store)
    if (rows) assert.equal(rows.filter((row) => row.user_name === 'ada@example.com').length, 1)
  })

  test('a user name never ends up in two rows, even through an id', async (store) => {
    const ada = sample('ada@example.com')
    const bob = sample('bob@example.com')
    await store.saveToken(ada)
    await store.saveToken(bob)
    const clash = sample('ada@example.com', { id: bob.id })
    await assert.rejects(store.saveToken(clash), expectCode('TOKEN_STORE'))
    assertSame(await store.findTokenById(bob.id!), bob, 'the other row is untouched')
    assertSame(await store.findTokenById(ada.id!), ada, 'the user row is untouched')
  })

  test('many users are kept apart', async (store) => {
    const users = Array.from({ length: 50 }, (_, i) => sample(`user${i}@example.com`))
    for (const token of users) await store.saveToken(token)
    assert.equal(new Set(users.map((t) => t.id)).size, 50)
    for (const token of users) {
      assertSame(
        await store.findToken(new OAuthToken({ userSignature: token.userSignature })),
        token,
        'by name',
      )
      assertSame(await store.findTokenById(token.id!), token, 'by id')
    }
    const all = await store.getTokens()
    assert.equal(all.length, 50)
    for (const token of all)
      assertSame(
        token,
        users.find((u) => u.id === token.id)!,
        'getTokens',
      )
  })

  test('deleteToken removes only that row, and an unknown id is not an error', async (store) => {
    const ada = sample('ada@example.com')
    const bob = sample('bob@example.com')
    await store.saveToken(ada)
    await store.saveToken(bob)
    await store.deleteToken(ada.id!)
    assert.equal(await store.findTokenById(ada.id!), null)
    assert.equal(await store.findToken(new OAuthToken({ userSignature: ada.userSignature })), null)
    assertSame(await store.findTokenById(bob.id!), bob, 'the other row stays')
    await store.deleteToken(ada.id!)
    await store.deleteToken('0000000000')
    assert.equal((await store.getTokens()).length, 1)
  })

  test('deleteTokens removes everything, and succeeds on an empty store', async (store) => {
    await store.deleteTokens()
    await store.saveToken(sample('ada@example.com'))
    await store.saveToken(sample('bob@example.com'))
    await store.deleteTokens()
    assert.deepEqual(await store.getTokens(), [])
    const rows = await raw(store)
    if (rows) assert.equal(rows.length, 0)
    const again = sample('ada@example.com')
    await store.saveToken(again)
    assertSame(
      await store.findToken(new OAuthToken({ userSignature: again.userSignature })),
      again,
      'usable after',
    )
  })

  test('hostile values round-trip exactly and leave other rows alone', async (store) => {
    const saved: OAuthToken[] = []
    for (const [i, value] of HOSTILE_VALUES.entries()) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`${value}#user${i}`),
        clientId: value,
        clientSecret: value,
        refreshToken: `${value}#refresh${i}`,
        accessToken: `${value}#access${i}`,
        grantToken: `${value}#grant${i}`,
        redirectUrl: value,
        apiDomain: value,
        expiryTime: 1_700_000_000_000 + i,
      })
      await store.saveToken(token)
      saved.push(token)
    }
    assert.equal((await store.getTokens()).length, saved.length)
    for (const token of saved) {
      const what = `value ${JSON.stringify(token.clientId!.slice(0, 30))}`
      assertSame(
        await store.findToken(new OAuthToken({ userSignature: token.userSignature })),
        token,
        `${what} by name`,
      )
      assertSame(await store.findTokenById(token.id!), token, `${what} by id`)
      assertSame(
        await store.findToken(new OAuthToken({ accessToken: token.accessToken })),
        token,
        `${what} by access token`,
      )
      const client = { clientId: token.clientId, clientSecret: token.clientSecret }
      assertSame(
        await store.findToken(new OAuthToken({ ...client, grantToken: token.grantToken })),
        token,
        `${what} by grant`,
      )
      assertSame(
        await store.findToken(new OAuthToken({ ...client, refreshToken: token.refreshToken })),
        token,
        `${what} by refresh`,
      )
      await checkRaw(store, token, what)
    }
  })

  test('expiry times and absent values round-trip exactly', async (store) => {
    const times = [0, 1, 1_732_000_000_123, Date.UTC(2100, 0, 1), 8_640_000_000_000_000]
    for (const [i, expiryTime] of times.entries()) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`t${i}`),
        accessToken: `a${i}`,
        expiryTime,
      })
      await store.saveToken(token)
      assertSame(await store.findTokenById(token.id!), token, `expiry ${expiryTime}`)
    }
    const bare = new OAuthToken({
      refreshToken: 'only a refresh token',
      clientId: 'c',
      clientSecret: 's',
    })
    await store.saveToken(bare)
    assertSame(await store.findTokenById(bare.id!), bare, 'absent values stay absent')
  })

  test('100 concurrent saves of different users give 100 rows with the ids 1 to 100', async (store) => {
    const tokens = Array.from({ length: 100 }, (_, i) => sample(`concurrent${i}@example.com`))
    await Promise.all(tokens.map((token) => store.saveToken(token)))
    const ids = new Set(tokens.map((token) => token.id))
    assert.equal(ids.size, 100)
    assert.deepEqual(
      [...ids].map(Number).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i + 1),
    )
    const all = await store.getTokens()
    assert.equal(all.length, 100)
    assert.deepEqual(new Set(all.map((token) => token.id)), ids)
    const rows = await raw(store)
    if (rows) assert.equal(rows.length, 100)
  })

  test('iterateTokens, where offered, gives every token once, a page at a time', async (store) => {
    if (!supportsIteration(store)) return
    const saved: OAuthToken[] = []
    for (let i = 0; i < 25; i += 1) {
      const token = sample(`page${String(i).padStart(2, '0')}@example.com`)
      await store.saveToken(token)
      saved.push(token)
    }
    const seen: OAuthToken[] = []
    for await (const token of store.iterateTokens({ pageSize: 7 })) seen.push(token)
    assert.equal(seen.length, 25)
    for (const token of saved) {
      const found = seen.filter((candidate) => candidate.id === token.id)
      assert.equal(found.length, 1, `token ${token.id} given exactly once`)
      assertSame(found[0]!, token, 'iterated token')
    }
    // Changes during the pass: what is stored throughout is given once; nothing is given twice.
    const ids: string[] = []
    let added = 0
    for await (const token of store.iterateTokens({ pageSize: 4 })) {
      ids.push(token.id!)
      if (ids.length === 5) {
        await store.deleteToken(saved[24]!.id!)
        await store.saveToken(sample(`added${added++}@example.com`))
        const again = sample(saved[0]!.userSignature!.name)
        await store.saveToken(again)
      }
    }
    assert.equal(new Set(ids).size, ids.length, 'no token given twice')
    for (const token of saved.slice(0, 24)) assert.ok(ids.includes(token.id!), `${token.id} given`)
    for (const pageSize of [0, -1, 1.5, Number.NaN, '10']) {
      await assert.rejects(async () => {
        for await (const token of store.iterateTokens({ pageSize } as never)) void token
      }, InvalidArgumentError)
    }
  })

  test('concurrent saves of one user leave one row', async (store) => {
    await Promise.all(Array.from({ length: 20 }, () => store.saveToken(sample('ada@example.com'))))
    assert.equal((await store.getTokens()).length, 1)
  })

  test('bad arguments are rejected with a typed error', async (store) => {
    const invalid = expectCode('INVALID_ARGUMENT')
    await assert.rejects(store.saveToken({ accessToken: 'x' } as unknown as OAuthToken), invalid)
    const wrong = sample('ada@example.com')
    ;(wrong as unknown as { accessToken: unknown }).accessToken = 42
    await assert.rejects(store.saveToken(wrong), invalid)
    await assert.rejects(store.findToken('ada' as unknown as OAuthToken), invalid)
    await assert.rejects(store.findTokenById(''), invalid)
    await assert.rejects(store.findTokenById(7 as unknown as string), invalid)
    await assert.rejects(store.deleteToken(undefined as unknown as string), invalid)
    assert.deepEqual(await store.getTokens(), [], 'nothing was stored')
  })

  if (options.createBroken) {
    const createBroken = options.createBroken
    tests.push({
      name: 'a failing backend raises TokenStoreError naming the store and the operation, and no secret',
      run: async () => {
        const store = await createBroken()
        const token = sample('ada@example.com')
        const secrets = [
          token.clientSecret!,
          token.refreshToken!,
          token.accessToken!,
          token.grantToken!,
        ]
        const calls: [string, () => Promise<unknown>][] = [
          ['saveToken', () => store.saveToken(token)],
          ['findToken', () => store.findToken(token)],
          ['findTokenById', () => store.findTokenById('0123456789')],
          ['getTokens', () => store.getTokens()],
          ['deleteToken', () => store.deleteToken('0123456789')],
          ['deleteTokens', () => store.deleteTokens()],
        ]
        try {
          for (const [operation, call] of calls) {
            await assert.rejects(call(), (err: unknown) => {
              const e = err as {
                code?: unknown
                store?: unknown
                operation?: unknown
                message: string
                cause?: unknown
              }
              assert.equal(e.code, 'TOKEN_STORE', `${operation}: code`)
              assert.equal(typeof e.store, 'string', `${operation}: the error names the store`)
              assert.ok(
                e.message.includes(operation) || e.operation === operation,
                `${operation}: the error names the operation`,
              )
              const text = `${e.message} ${String(e.cause)}`
              for (const secret of secrets)
                assert.ok(!text.includes(secret), `${operation}: the error shows a secret`)
              return true
            })
          }
        } finally {
          await store.close?.().catch(() => undefined)
        }
      },
    })
  }

  if (options.reopen) {
    const reopen = options.reopen
    tests.push({
      name: 'reopening keeps every token',
      run: async () => {
        const store = await options.create()
        const tokens = [
          sample('ada@example.com'),
          sample('bob@example.com'),
          sample(HOSTILE_VALUES[4]!),
        ]
        for (const token of tokens) await store.saveToken(token)
        await store.deleteToken(tokens[1]!.id!)
        await store.close?.()
        const again = await reopen(store)
        try {
          assert.equal((await again.getTokens()).length, 2)
          assertSame(await again.findTokenById(tokens[0]!.id!), tokens[0]!, 'after reopening')
          assertSame(
            await again.findToken(new OAuthToken({ userSignature: tokens[2]!.userSignature })),
            tokens[2]!,
            'after reopening',
          )
          assert.equal(
            await again.findTokenById(tokens[1]!.id!),
            null,
            'a deleted token stays deleted',
          )
        } finally {
          await again.close?.()
        }
      },
    })
  }
  return tests
}

/**
 * Runs the whole suite without a test runner; throws an `AggregateError` listing every failure.
 *
 * @example
 * await runTokenStoreConformance({ create: () => new MyStore() })
 */
export async function runTokenStoreConformance(
  options: ConformanceOptions,
): Promise<{ passed: number }> {
  const failures: Error[] = []
  const tests = tokenStoreConformance(options)
  for (const test of tests) {
    try {
      await test.run()
    } catch (err) {
      failures.push(new Error(`${test.name}: ${(err as Error).message}`, { cause: err }))
    }
  }
  if (failures.length > 0) {
    throw new AggregateError(
      failures,
      `${failures.length} of ${tests.length} conformance tests failed`,
    )
  }
  return { passed: tests.length }
}
