import { describe, expect, it } from 'vitest'
import { EncryptionError, OAuthToken, UserSignature } from '../../src/index.ts'
import { withSealedRows } from '../../src/sealed.ts'
import {
  COLUMNS,
  parseExpiry,
  rowFromToken,
  rowHolds,
  tokenFromRow,
  tokenFromValues,
} from '../../src/store/rows.ts'
import { nulled } from '../helpers/nulled.ts'

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
})

describe('fields set to null after the token was made', () => {
  // These threw a TypeError from saveToken and findToken (see nulled).
  it('are stored as absent, not as the text "null"', () => {
    const token = nulled({ accessToken: 'a', expiryTime: 5 }, 'refreshToken', 'expiryTime')
    expect(rowFromToken(token, '1')).toMatchObject({
      access_token: 'a',
      refresh_token: null,
      expiry_time: null,
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
