import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { compareRowIds, lookupOf, rowMatches, winningRow } from '../../src/store/matching.ts'
import { rowFromToken } from '../../src/store/rows.ts'
import { nulled } from '../helpers/nulled.ts'

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

describe('fields set to null after the token was made', () => {
  // These threw a TypeError from saveToken and findToken (see nulled).
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
})
