import assert from 'node:assert/strict'
import { OAuthToken } from '../../token.js'
import { TokenStoreError } from '../../errors.js'
import { MAX_TOKEN_ID, TOKEN_ID_PATTERN } from '../../store/ids.js'
import { sample, assertSame, type SuiteContext } from './common.js'

/** An empty store, and how inserts number their ids. */
export function idTests({ test, checkRaw }: SuiteContext): void {
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
}
