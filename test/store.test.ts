import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, TokenStoreError } from '../src/errors.ts'
import { EncryptionError, OAuthToken, UserSignature } from '../src/index.ts'
import { withSealedRows } from '../src/sealed.ts'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  supportsCompaction,
  supportsConditionalSave,
  supportsLocking,
  type TokenStore,
} from '../src/store.ts'
import {
  MAX_TOKEN_ID,
  TOKEN_ID_PATTERN,
  isCanonicalId,
  largestNumericId,
  nextTokenId,
  numericIdValue,
} from '../src/store/ids.ts'
import {
  compareRowIds,
  lookupOf,
  rowMatches,
  winningRow,
  type Lookup,
} from '../src/store/matching.ts'
import {
  COLUMNS,
  parseExpiry,
  rowFromToken,
  rowHolds,
  tokenFromRow,
  tokenFromValues,
} from '../src/store/rows.ts'
import {
  planSave,
  resolveSave,
  resolveSaveAsync,
  type AsyncRowLookups,
  type RowLookups,
} from '../src/store/save.ts'
import { RowTable } from '../src/stores/table.ts'
import { formatRecord, parseRecords } from '../src/stores/csv.ts'

describe('the matching rule', () => {
  it('takes the user name, then the access token without client, then grant, then refresh', () => {
    const all = { accessToken: 'a', grantToken: 'g', refreshToken: 'r' }
    expect(lookupOf(new OAuthToken({ ...all, userSignature: new UserSignature('u') }))).toEqual({
      column: 'user_name',
      value: 'u',
    })
    expect(lookupOf(new OAuthToken(all))).toEqual({ column: 'access_token', value: 'a' })
    expect(lookupOf(new OAuthToken({ ...all, clientId: 'c' }))).toEqual({
      column: 'grant_token',
      value: 'g',
    })
    expect(lookupOf(new OAuthToken({ refreshToken: 'r', clientSecret: 's' }))).toEqual({
      column: 'refresh_token',
      value: 'r',
    })
    expect(lookupOf(new OAuthToken({ clientId: 'c' }))).toBeUndefined()
    expect(lookupOf(new OAuthToken({ accessToken: '', grantToken: 'g' }))).toEqual({
      column: 'grant_token',
      value: 'g',
    })
  })
})

describe('the upsert rule', () => {
  const none = { idExists: false, matchedId: undefined, userOwnerId: undefined }
  it('replaces by id, updates the match, or inserts', () => {
    expect(planSave('S', new OAuthToken({ id: 'x' }), { ...none, idExists: true })).toEqual({
      id: 'x',
      insert: false,
    })
    expect(planSave('S', new OAuthToken({ id: 'x' }), none)).toEqual({ id: 'x', insert: true })
    expect(
      planSave('S', new OAuthToken({ accessToken: 'a' }), { ...none, matchedId: 'm' }),
    ).toEqual({ id: 'm', insert: false })
    expect(planSave('S', new OAuthToken({ accessToken: 'a' }), none)).toEqual({
      id: undefined,
      insert: true,
    })
  })
  it('never puts a user name in a second row', () => {
    const token = new OAuthToken({ id: 'x', userSignature: new UserSignature('u') })
    expect(() => planSave('S', token, { ...none, idExists: true, userOwnerId: 'y' })).toThrow(
      'S.saveToken: the user name of this token is already stored under id y; ' +
        'save it with that id, or delete that token first',
    )
    expect(planSave('S', token, { ...none, idExists: true, userOwnerId: 'x' })).toEqual({
      id: 'x',
      insert: false,
    })
  })
})

describe('ids', () => {
  it('a new id is the next integer after the largest numeric id, as canonical decimal text', () => {
    expect(nextTokenId('S', undefined)).toBe('1')
    expect(nextTokenId('S', 9)).toBe('10')
    expect(nextTokenId('S', 999_999_999)).toBe('1000000000')
    expect(nextTokenId('S', MAX_TOKEN_ID - 1)).toBe(String(MAX_TOKEN_ID))
    for (const largest of [undefined, 0, 1, 41, 99, 123_456_789, MAX_TOKEN_ID - 1]) {
      expect(nextTokenId('S', largest)).toMatch(TOKEN_ID_PATTERN)
      expect(isCanonicalId(nextTokenId('S', largest))).toBe(true)
    }
  })

  it('past ten digits there is no new id: a TokenStoreError that says how to go on', () => {
    expect(() => nextTokenId('S', MAX_TOKEN_ID)).toThrow(TokenStoreError)
    expect(() => nextTokenId('S', MAX_TOKEN_ID)).toThrow(
      'S.saveToken: no new id is left after id 9999999999: ids stop at 9999999999, the largest ' +
        'that fits the official ten-character id column; delete that token and save it again ' +
        'without an id, so that it takes the next free number',
    )
  })

  it('numbers the ids the official SDKs read as numbers, and no others', () => {
    expect(numericIdValue('7')).toBe(7)
    expect(numericIdValue('0000000099')).toBe(99)
    expect(numericIdValue('0')).toBe(0)
    expect(numericIdValue('9999999999')).toBe(MAX_TOKEN_ID)
    for (const id of ['0wod457ssD', '12ab', ' 12', '+12', '-1', '1_000', '12345678901', '', '١٢']) {
      expect(numericIdValue(id), id).toBeUndefined()
    }
    expect(largestNumericId(['0wod457ssD', '41', '0000000099', '7', null, '12ab'])).toBe(99)
    expect(largestNumericId(['abc', null])).toBeUndefined()
  })

  it('canonical ids are digits without a leading zero, at most ten', () => {
    for (const id of ['1', '10', '9999999999', '1000000000'])
      expect(isCanonicalId(id), id).toBe(true)
    for (const id of ['0', '01', '0123456789', '10000000000', '1a', ' 1', '']) {
      expect(isCanonicalId(id), id).toBe(false)
    }
  })
})

// The edge cases of every store are in row-order.test.ts, which needs the servers; these are
// the rule's own branches, for the tests run against the mutants (docs/mutation.md).
describe('which row wins', () => {
  const sign = (a: string, b: string): number => Math.sign(compareRowIds(a, b))

  it('numbered rows by value, before every other row; the others and equal values by text', () => {
    expect([sign('9', '10'), sign('10', '9')]).toEqual([-1, 1])
    expect([sign('10', 'a'), sign('a', '10')]).toEqual([-1, 1])
    // Equal values in two spellings: by text, not a tie.
    expect([sign('007', '7'), sign('7', '007'), sign('7', '7')]).toEqual([-1, 1, 0])
    expect([sign('a', 'b'), sign('b', 'a')]).toEqual([-1, 1])
    // A numbered row wins even over a text that sorts first.
    expect([sign('9', '10a'), sign('10a', '9')]).toEqual([-1, 1])
  })

  it('compares the other ids by code point, character after character', () => {
    expect([sign('ab', 'ac'), sign('ac', 'ab')]).toEqual([-1, 1])
    expect([sign('ab', 'abc'), sign('abc', 'ab'), sign('abc', 'abc')]).toEqual([-1, 1, 0])
    expect([sign('\uffffa', '\uffffb'), sign('\u{1F600}a', '\u{1F600}b')]).toEqual([-1, -1])
    // U+10000 is above U+E000, though its first UTF-16 unit (0xD800) is below.
    expect(sign('\u{10000}', '\ue000')).toBe(1)
  })

  it('winningRow skips rows without an id, and keeps the first of two equal ids', () => {
    expect(winningRow([{ id: null }])).toBeUndefined()
    expect(winningRow([])).toBeUndefined()
    const first = { id: '7', n: 1 }
    expect(winningRow([{ id: null, n: 0 }, first, { id: '7', n: 2 }, { id: 'a', n: 3 }])).toBe(
      first,
    )
  })
})

describe('rows', () => {
  it('convert both ways; empty strings are absent', () => {
    const token = new OAuthToken({
      userSignature: new UserSignature('u'),
      accessToken: '',
      expiryTime: 12,
    })
    const row = rowFromToken(token, 'abcdefghij')
    expect(row).toMatchObject({
      id: 'abcdefghij',
      user_name: 'u',
      access_token: null,
      expiry_time: '12',
    })
    expect(tokenFromRow(row).fields()).toMatchObject({
      id: 'abcdefghij',
      accessToken: undefined,
      expiryTime: 12,
    })
    expect(tokenFromRow({ ...row, expiry_time: 'soon' }).expiryTime).toBeUndefined()
  })
})

describe('the matching rule, each condition alone', () => {
  it('an empty user name does not identify; a client secret alone keeps the access token out', () => {
    const token = new OAuthToken({ userSignature: new UserSignature('u'), accessToken: 'a' })
    token.userSignature!.name = ''
    expect(lookupOf(token)).toEqual({ column: 'access_token', value: 'a' })
    const withSecret = new OAuthToken({ accessToken: 'a', clientSecret: 's', refreshToken: 'r' })
    expect(lookupOf(withSecret)).toEqual({ column: 'refresh_token', value: 'r' })
    expect(lookupOf(new OAuthToken({ grantToken: '', refreshToken: 'r' }))).toEqual({
      column: 'refresh_token',
      value: 'r',
    })
    expect(lookupOf(new OAuthToken({ refreshToken: '' }))).toBeUndefined()
  })

  it('a row matches on the lookup column only', () => {
    const row = rowFromToken(new OAuthToken({ accessToken: 'a', refreshToken: 'r' }), '1')
    expect(rowMatches(row, { column: 'access_token', value: 'a' })).toBe(true)
    expect(rowMatches(row, { column: 'refresh_token', value: 'a' })).toBe(false)
    expect(rowMatches(row, { column: 'access_token', value: 'b' })).toBe(false)
  })
})

const FULL_ROW = {
  id: '7',
  user_name: 'ada@example.com',
  client_id: 'cid',
  client_secret: 'csecret',
  refresh_token: 'rt',
  access_token: 'at',
  grant_token: 'gt',
  expiry_time: '1900000000000',
  redirect_url: 'https://example.com/cb',
  api_domain: 'https://www.zohoapis.com',
}

const FULL_FIELDS = {
  id: '7',
  userSignature: new UserSignature('ada@example.com'),
  clientId: 'cid',
  clientSecret: 'csecret',
  refreshToken: 'rt',
  accessToken: 'at',
  grantToken: 'gt',
  expiryTime: 1_900_000_000_000,
  redirectUrl: 'https://example.com/cb',
  apiDomain: 'https://www.zohoapis.com',
}

describe('rows, column by column', () => {
  it('every field goes to its own column, and back', () => {
    expect(rowFromToken(new OAuthToken(FULL_FIELDS), '7')).toEqual(FULL_ROW)
    expect(tokenFromRow(FULL_ROW).fields()).toEqual(FULL_FIELDS)
    // Raw values come in COLUMNS order, the official file and table order.
    expect(COLUMNS).toEqual([
      'id',
      'user_name',
      'client_id',
      'client_secret',
      'refresh_token',
      'access_token',
      'grant_token',
      'expiry_time',
      'redirect_url',
      'api_domain',
    ])
    expect(tokenFromValues(COLUMNS.map((column) => FULL_ROW[column])).fields()).toEqual(FULL_FIELDS)
  })

  it('absent and empty values are null in a row, and absent in a token', () => {
    const empty = Object.fromEntries(Object.keys(FULL_FIELDS).map((key) => [key, '']))
    const row = rowFromToken(
      new OAuthToken({ ...empty, userSignature: undefined, expiryTime: undefined }),
      '1',
    )
    // A missing expiry is no value, not the text "undefined" that an official SDK cannot read.
    expect(row).toEqual({
      ...Object.fromEntries(Object.keys(FULL_ROW).map((c) => [c, null])),
      id: '1',
    })
    const blank = Object.fromEntries(Object.keys(FULL_ROW).map((column) => [column, '']))
    expect(tokenFromRow(blank as never).fields()).toEqual(
      Object.fromEntries(Object.keys(FULL_FIELDS).map((key) => [key, undefined])),
    )
    expect(tokenFromRow({ ...FULL_ROW, user_name: null }).userSignature).toBeUndefined()
    expect(tokenFromValues([]).fields()).toEqual(
      Object.fromEntries(Object.keys(FULL_FIELDS).map((key) => [key, undefined])),
    )
    expect(tokenFromValues(['3', null]).id).toBe('3')
  })

  it('reads an expiry of digits, with spaces around them, and nothing else', () => {
    expect(parseExpiry('1900000000000')).toBe(1_900_000_000_000)
    expect(parseExpiry(' 12 ')).toBe(12)
    expect(parseExpiry('0')).toBe(0)
    // Number('') and Number('  ') are 0: a blank expiry would read as "expired in 1970".
    for (const value of [null, '', '   ', 'soon', 'Infinity', 'NaN']) {
      expect(parseExpiry(value), String(value)).toBeUndefined()
    }
  })

  it('a row that holds a sealed value is refused outside the encryption wrapper', () => {
    const sealed = { ...FULL_ROW, refresh_token: 'tk2.sealed' }
    expect(() => tokenFromRow(sealed)).toThrow(EncryptionError)
    expect(() => tokenFromValues(Object.values(sealed))).toThrow(EncryptionError)
    expect(withSealedRows(() => tokenFromRow(sealed)).refreshToken).toBe('tk2.sealed')
  })
})

/** A table whose lookups are recorded, to state which ones a save asks. */
function recorded(table: RowTable, withGet = true) {
  const asked: string[] = []
  const lookups = {
    hasId: (id: string) => (asked.push(`hasId ${id}`), table.hasId(id)),
    findId: (lookup: Lookup) => (asked.push(`findId ${lookup.column}`), table.findId(lookup)),
    largestNumericId: () => (asked.push('largest'), table.largestNumericId()),
    ...(withGet && { get: (id: string) => (asked.push(`get ${id}`), table.get(id)) }),
  }
  const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)))
  const async: AsyncRowLookups = {
    hasId: (id) => later(lookups.hasId(id)),
    findId: (lookup) => later(lookups.findId(lookup)),
    largestNumericId: () => later(lookups.largestNumericId()),
    ...(withGet && {
      get: (id: string) => later(table.get(id)).finally(() => asked.push(`get ${id}`)),
    }),
  }
  return { asked, sync: lookups as RowLookups, async }
}

function tableOf(...tokens: OAuthToken[]): RowTable {
  const table = new RowTable()
  for (const token of tokens) table.put(rowFromToken(token, token.id!))
  return table
}

const user = (name: string) => new UserSignature(name)

// resolveSave and resolveSaveAsync state the same rule: each case runs on both.
const resolvers = [
  [
    'resolveSave',
    (token: OAuthToken, table: RowTable, withGet = true) => {
      const lookups = recorded(table, withGet)
      return Promise.resolve()
        .then(() => resolveSave('S', token, lookups.sync))
        .then((result) => ({ ...result, asked: lookups.asked }))
    },
  ],
  [
    'resolveSaveAsync',
    async (token: OAuthToken, table: RowTable, withGet = true) => {
      const lookups = recorded(table, withGet)
      const result = await resolveSaveAsync('S', token, lookups.async)
      return { ...result, asked: lookups.asked }
    },
  ],
] as const

describe.each(resolvers)('%s', (_, resolve) => {
  it('inserts a token without id or match under the next numeric id', async () => {
    const table = tableOf(
      new OAuthToken({ id: '41', accessToken: 'x' }),
      new OAuthToken({ id: 'abc', accessToken: 'y' }),
    )
    const saved = await resolve(new OAuthToken({ accessToken: 'a', expiryTime: 5 }), table)
    expect(saved.insert).toBe(true)
    expect(saved.row).toEqual({
      ...rowFromToken(new OAuthToken({ accessToken: 'a', expiryTime: 5 }), '42'),
    })
    expect(saved.asked).toEqual(['findId access_token', 'largest'])
    expect((await resolve(new OAuthToken({ accessToken: 'a' }), new RowTable())).row.id).toBe('1')
  })

  it('replaces the row of its id, or inserts under that id, without asking for a new one', async () => {
    const table = tableOf(new OAuthToken({ id: '3', accessToken: 'old' }))
    const replaced = await resolve(new OAuthToken({ id: '3', accessToken: 'new' }), table)
    expect(replaced).toMatchObject({ insert: false, row: { id: '3', access_token: 'new' } })
    expect(replaced.asked).toEqual(['hasId 3', 'get 3'])
    const added = await resolve(new OAuthToken({ id: '9', accessToken: 'old' }), table)
    expect(added).toMatchObject({ insert: true, row: { id: '9', access_token: 'old' } })
    // An insert replaces no row: no read of one.
    expect(added.asked).toEqual(['hasId 9'])
  })

  it('updates the row its lookup matches', async () => {
    const table = tableOf(
      new OAuthToken({ id: '1', grantToken: 'g1' }),
      new OAuthToken({ id: '2', refreshToken: 'r2', clientId: 'c' }),
    )
    const saved = await resolve(
      new OAuthToken({ refreshToken: 'r2', clientId: 'c', accessToken: 'a' }),
      table,
    )
    expect(saved).toMatchObject({ insert: false, row: { id: '2', access_token: 'a' } })
    expect(saved.asked).toEqual(['findId refresh_token', 'get 2'])
  })

  it('finds a token by its user name with one look-up, and never stores a name twice', async () => {
    const table = tableOf(
      new OAuthToken({ id: '5', userSignature: user('ada'), accessToken: 'old' }),
    )
    const saved = await resolve(
      new OAuthToken({ userSignature: user('ada'), accessToken: 'new' }),
      table,
    )
    expect(saved).toMatchObject({
      insert: false,
      row: { id: '5', user_name: 'ada', access_token: 'new' },
    })
    expect(saved.asked).toEqual(['findId user_name', 'get 5'])
    const other = new OAuthToken({ id: '6', userSignature: user('ada') })
    await expect(resolve(other, table)).rejects.toThrow(/already stored under id 5/)
    const renamed = await resolve(new OAuthToken({ id: '5', userSignature: user('bob') }), table)
    expect(renamed).toMatchObject({ insert: false, row: { id: '5', user_name: 'bob' } })
    expect(renamed.asked).toEqual(['findId user_name', 'hasId 5', 'get 5'])
  })

  it('never replaces a sealed row outside the encryption wrapper', async () => {
    const table = tableOf(new OAuthToken({ id: '4', grantToken: 'g', accessToken: 'tk2.sealed' }))
    const byId = new OAuthToken({ id: '4', accessToken: 'clear' })
    await expect(resolve(byId, table)).rejects.toThrow(EncryptionError)
    await expect(resolve(new OAuthToken({ grantToken: 'g' }), table)).rejects.toThrow(
      /token 4 is encrypted/,
    )
    await expect(withSealedRows(() => resolve(byId, table))).resolves.toMatchObject({
      insert: false,
    })
    // A store that cannot read a row back (no `get`) writes as it is told.
    await expect(resolve(byId, table, false)).resolves.toMatchObject({
      row: { access_token: 'clear' },
    })
  })
})

describe('the conditional save rule', () => {
  const expected = new OAuthToken({ id: '1', accessToken: 'a', refreshToken: 'r', expiryTime: 5 })
  const row = rowFromToken(expected, '1')

  it('holds while access token, refresh token and expiry are as expected, and only then', () => {
    expect(rowHolds(row, expected)).toBe(true)
    // Other columns may change under a lease: only the three a refresh writes are compared.
    expect(rowHolds({ ...row, client_id: 'other', api_domain: 'x' }, expected)).toBe(true)
    expect(rowHolds({ ...row, access_token: 'b' }, expected)).toBe(false)
    expect(rowHolds({ ...row, access_token: null }, expected)).toBe(false)
    expect(rowHolds({ ...row, refresh_token: 'r2' }, expected)).toBe(false)
    expect(rowHolds({ ...row, refresh_token: null }, expected)).toBe(false)
    expect(rowHolds({ ...row, expiry_time: '6' }, expected)).toBe(false)
    expect(rowHolds({ ...row, expiry_time: null }, expected)).toBe(false)
  })

  it('compares expiries as numbers, and a missing one with no value', () => {
    expect(rowHolds({ ...row, expiry_time: '5.0' }, expected)).toBe(true)
    const noExpiry = new OAuthToken({ accessToken: 'a', refreshToken: 'r' })
    expect(rowHolds({ ...row, expiry_time: null }, noExpiry)).toBe(true)
    expect(rowHolds({ ...row, expiry_time: 'soon' }, noExpiry)).toBe(true)
    expect(rowHolds(row, noExpiry)).toBe(false)
    const cleared = new OAuthToken({ expiryTime: 5 })
    expect(rowHolds({ ...row, access_token: null, refresh_token: null }, cleared)).toBe(true)
  })

  it('needs two tokens, the first with the id of its row', () => {
    expect(() => assertConditionalSave(expected, expected)).not.toThrow()
    for (const id of [undefined, '']) {
      const token = new OAuthToken({ id, accessToken: 'a' })
      expect(() => assertConditionalSave(token, expected)).toThrow(
        expect.objectContaining({
          argument: 'token.id',
          message: 'saveTokenIf replaces one stored row: the token needs the id of that row',
        }),
      )
    }
    expect(() => assertConditionalSave(null, expected)).toThrow(
      expect.objectContaining({ argument: 'token' }),
    )
    expect(() => assertConditionalSave(expected, { id: '1' })).toThrow(
      expect.objectContaining({
        argument: 'expected',
        message: 'expected must be an OAuthToken, got Object',
      }),
    )
  })
})

describe('capabilities are detected, not assumed', () => {
  const plain = (extra: object) => Object.assign(Object.create(null) as object, extra) as TokenStore
  it('a store offers a capability when it has the method, and not when the name holds a value', () => {
    const method = async () => true
    expect(supportsConditionalSave(plain({ saveTokenIf: method }))).toBe(true)
    expect(supportsConditionalSave(plain({ saveTokenIf: true }))).toBe(false)
    expect(supportsConditionalSave(plain({ compact: method }))).toBe(false)
    expect(supportsCompaction(plain({ compact: method }))).toBe(true)
    expect(supportsCompaction(plain({ compact: 'yes' }))).toBe(false)
    expect(supportsCompaction(plain({ lockToken: method }))).toBe(false)
    expect(supportsLocking(plain({ lockToken: method }))).toBe(true)
    expect(supportsLocking(plain({ lockToken: {} }))).toBe(false)
    expect(supportsLocking(plain({ saveTokenIf: method }))).toBe(false)
  })
})

describe('argument checks', () => {
  it('an id must be a non-empty string, and the error names the argument and what it got', () => {
    expect(() => assertId('1')).not.toThrow()
    const checks: [unknown, string | undefined, string, string][] = [
      ['', undefined, 'id', 'id must be a non-empty string, got an empty string'],
      [7, undefined, 'id', 'id must be a non-empty string, got number'],
      [null, 'token.id', 'token.id', 'token.id must be a non-empty string, got null'],
    ]
    for (const [value, argument, named, message] of checks) {
      let error: unknown
      try {
        assertId(value, argument)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect(error).toMatchObject({ argument: named, message })
    }
  })

  it('findToken takes an OAuthToken: null or a plain object is a typed error, not a TypeError', () => {
    expect(() => assertLookupToken(new OAuthToken())).not.toThrow()
    for (const [value, got] of [
      [null, 'null'],
      [undefined, 'undefined'],
      [{ accessToken: 'a' }, 'Object'],
    ] as const) {
      expect(() => assertLookupToken(value)).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          argument: 'token',
          message: `token must be an OAuthToken, got ${got}`,
        }),
      )
    }
  })
})

describe('fields set to null after the token was made', () => {
  // assertToken takes null as absent (JavaScript callers and the official SDKs pass it), so the
  // rules must too: these threw a TypeError from saveToken and findToken.
  const nulled = (init: ConstructorParameters<typeof OAuthToken>[0], ...keys: string[]) => {
    const token = new OAuthToken(init)
    for (const key of keys) (token as unknown as Record<string, null>)[key] = null
    return token
  }

  it('are stored as absent, not as the text "null"', () => {
    const token = nulled({ accessToken: 'a', expiryTime: 5 }, 'refreshToken', 'expiryTime')
    expect(rowFromToken(token, '1')).toMatchObject({
      access_token: 'a',
      refresh_token: null,
      expiry_time: null,
    })
  })

  it('do not identify a token, and a null client id is no client id', () => {
    const token = nulled(
      { accessToken: 'a', clientId: 'c', grantToken: 'g' },
      'clientId',
      'grantToken',
    )
    expect(lookupOf(token)).toEqual({ column: 'access_token', value: 'a' })
    const named = nulled(
      { userSignature: new UserSignature('u'), refreshToken: 'r' },
      'accessToken',
    )
    named.userSignature!.name = null as never
    expect(lookupOf(named)).toEqual({ column: 'refresh_token', value: 'r' })
    expect(lookupOf(nulled({ clientSecret: 's', accessToken: 'a' }, 'clientSecret'))).toEqual({
      column: 'access_token',
      value: 'a',
    })
  })

  it('match a row without those values in a conditional save', () => {
    const expected = nulled({ accessToken: 'a', refreshToken: 'r', expiryTime: 5 }, 'expiryTime')
    const row = rowFromToken(new OAuthToken({ accessToken: 'a', refreshToken: 'r' }), '1')
    expect(rowHolds(row, expected)).toBe(true)
    expect(rowHolds(row, nulled({ accessToken: 'a', refreshToken: 'r' }, 'refreshToken'))).toBe(
      false,
    )
  })
})

describe('the CSV dialect', () => {
  it('quotes only when needed and reads back exactly', () => {
    const values = ['plain', 'a,b', 'say "x"', 'two\nlines', 'cr\r\nlf', '', null, ' spaced ']
    const line = formatRecord(values)
    expect(line).toBe('plain,"a,b","say ""x""","two\nlines","cr\r\nlf",,, spaced ')
    const [record] = [...parseRecords(`${line}\r\n`)]
    expect(record).toMatchObject({
      line: 1,
      fields: ['plain', 'a,b', 'say "x"', 'two\nlines', 'cr\r\nlf', '', '', ' spaced '],
    })
  })
  it('counts lines across quoted line breaks and recovers after a bad record', () => {
    const text = 'h1,h2\n"multi\nline",x\n"open,y\nok,z\nbad"tail,w\nlast,v\n"never closed,u'
    const records = [...parseRecords(text)]
    expect(records.map((r) => [r.line, 'fields' in r ? r.fields : r.error])).toEqual([
      [1, ['h1', 'h2']],
      [2, ['multi\nline', 'x']],
      // The quote opened here closes two lines down, and text follows it: only line 4 is lost.
      [4, 'text follows a closing quote'],
      [5, ['ok', 'z']],
      [6, ['bad"tail', 'w']],
      [7, ['last', 'v']],
      [8, 'a quoted value is never closed'],
    ])
  })
  it('takes a quote inside an unquoted value as it is, like Python csv', () => {
    const [record] = [...parseRecords('a"b,c\n')]
    expect(record).toMatchObject({ fields: ['a"b', 'c'] })
  })
})
