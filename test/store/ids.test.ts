import { describe, expect, it } from 'vitest'
import { TokenStoreError } from '../../src/errors.ts'
import {
  MAX_TOKEN_ID,
  TOKEN_ID_PATTERN,
  isCanonicalId,
  largestNumericId,
  nextTokenId,
  numericIdValue,
} from '../../src/store/ids.ts'

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
