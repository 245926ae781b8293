import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../src/index.ts'
import { lookupOf, newTokenId, planSave, rowFromToken, tokenFromRow } from '../src/store.ts'
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
  it('are 10 letters and digits, distinct, and drawn again when taken', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newTokenId()))
    expect(ids.size).toBe(10_000)
    for (const id of ids) expect(id).toMatch(/^[0-9A-Za-z]{10}$/)
    let calls = 0
    const id = newTokenId(() => ++calls < 3)
    expect(calls).toBe(3)
    expect(id).toHaveLength(10)
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
