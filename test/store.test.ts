import { describe, expect, it } from 'vitest'
import { TokenStoreError } from '../src/errors.ts'
import { OAuthToken, UserSignature } from '../src/index.ts'
import {
  MAX_TOKEN_ID,
  TOKEN_ID_PATTERN,
  isCanonicalId,
  largestNumericId,
  lookupOf,
  nextTokenId,
  numericIdValue,
  planSave,
  rowFromToken,
  tokenFromRow,
} from '../src/store.ts'
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
      /already stored under id y/,
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
    expect(() => nextTokenId('S', MAX_TOKEN_ID)).toThrow(/save it again without an id/)
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
