import assert from 'node:assert/strict'
import { OAuthToken } from '../../token.js'
import { sample, assertSame, expectCode, type SuiteContext } from './common.js'

/** saveToken and the deletes: the upsert, one row per user name, and what a delete removes. */
export function saveTests({ test, raw, checkRaw }: SuiteContext): void {
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
}
