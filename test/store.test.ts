import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../src/errors.ts'
import { OAuthToken } from '../src/index.ts'
import {
  assertConditionalSave,
  assertId,
  assertLookupToken,
  supportsCompaction,
  supportsConditionalSave,
  supportsLocking,
  type TokenStore,
} from '../src/store.ts'

describe('the conditional save', () => {
  const expected = new OAuthToken({ id: '1', accessToken: 'a', refreshToken: 'r', expiryTime: 5 })

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
