import assert from 'node:assert/strict'
import { OAuthToken, UserSignature } from '../../token.js'
import { sample, assertSame, plain, type SuiteContext } from './common.js'

/** findToken: the matching rule, which row wins, and what a look-up returns. */
export function lookupTests({ test }: SuiteContext): void {
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
}
