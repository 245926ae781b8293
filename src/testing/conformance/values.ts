import assert from 'node:assert/strict'
import { OAuthToken, UserSignature } from '../../token.js'
import { InvalidArgumentError } from '../../errors.js'
import { supportsIteration } from '../../iteration.js'
import { HOSTILE_VALUES, sample, assertSame, expectCode, type SuiteContext } from './common.js'

/** Exact round-trips of hostile values and expiries, concurrent saves, iteration, and bad arguments. */
export function valueTests({ test, raw, checkRaw }: SuiteContext): void {
  test('hostile values round-trip exactly and leave other rows alone', async (store) => {
    const saved: OAuthToken[] = []
    for (const [i, value] of HOSTILE_VALUES.entries()) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`${value}#user${i}`),
        clientId: value,
        clientSecret: value,
        refreshToken: `${value}#refresh${i}`,
        accessToken: `${value}#access${i}`,
        grantToken: `${value}#grant${i}`,
        redirectUrl: value,
        apiDomain: value,
        expiryTime: 1_700_000_000_000 + i,
      })
      await store.saveToken(token)
      saved.push(token)
    }
    assert.equal((await store.getTokens()).length, saved.length)
    for (const token of saved) {
      const what = `value ${JSON.stringify(token.clientId!.slice(0, 30))}`
      assertSame(
        await store.findToken(new OAuthToken({ userSignature: token.userSignature })),
        token,
        `${what} by name`,
      )
      assertSame(await store.findTokenById(token.id!), token, `${what} by id`)
      assertSame(
        await store.findToken(new OAuthToken({ accessToken: token.accessToken })),
        token,
        `${what} by access token`,
      )
      const client = { clientId: token.clientId, clientSecret: token.clientSecret }
      assertSame(
        await store.findToken(new OAuthToken({ ...client, grantToken: token.grantToken })),
        token,
        `${what} by grant`,
      )
      assertSame(
        await store.findToken(new OAuthToken({ ...client, refreshToken: token.refreshToken })),
        token,
        `${what} by refresh`,
      )
      await checkRaw(store, token, what)
    }
  })

  test('expiry times and absent values round-trip exactly', async (store) => {
    const times = [0, 1, 1_732_000_000_123, Date.UTC(2100, 0, 1), 8_640_000_000_000_000]
    for (const [i, expiryTime] of times.entries()) {
      const token = new OAuthToken({
        userSignature: new UserSignature(`t${i}`),
        accessToken: `a${i}`,
        expiryTime,
      })
      await store.saveToken(token)
      assertSame(await store.findTokenById(token.id!), token, `expiry ${expiryTime}`)
    }
    const bare = new OAuthToken({
      refreshToken: 'only a refresh token',
      clientId: 'c',
      clientSecret: 's',
    })
    await store.saveToken(bare)
    assertSame(await store.findTokenById(bare.id!), bare, 'absent values stay absent')
  })

  test('100 concurrent saves of different users give 100 rows with the ids 1 to 100', async (store) => {
    const tokens = Array.from({ length: 100 }, (_, i) => sample(`concurrent${i}@example.com`))
    await Promise.all(tokens.map((token) => store.saveToken(token)))
    const ids = new Set(tokens.map((token) => token.id))
    assert.equal(ids.size, 100)
    assert.deepEqual(
      [...ids].map(Number).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i + 1),
    )
    const all = await store.getTokens()
    assert.equal(all.length, 100)
    assert.deepEqual(new Set(all.map((token) => token.id)), ids)
    const rows = await raw(store)
    if (rows) assert.equal(rows.length, 100)
  })

  test('iterateTokens, where offered, gives every token once, a page at a time', async (store) => {
    if (!supportsIteration(store)) return
    const saved: OAuthToken[] = []
    for (let i = 0; i < 25; i += 1) {
      const token = sample(`page${String(i).padStart(2, '0')}@example.com`)
      await store.saveToken(token)
      saved.push(token)
    }
    const seen: OAuthToken[] = []
    for await (const token of store.iterateTokens({ pageSize: 7 })) seen.push(token)
    assert.equal(seen.length, 25)
    for (const token of saved) {
      const found = seen.filter((candidate) => candidate.id === token.id)
      assert.equal(found.length, 1, `token ${token.id} given exactly once`)
      assertSame(found[0]!, token, 'iterated token')
    }
    // Changes during the pass: what is stored throughout is given once; nothing is given twice.
    const ids: string[] = []
    let added = 0
    for await (const token of store.iterateTokens({ pageSize: 4 })) {
      ids.push(token.id!)
      if (ids.length === 5) {
        await store.deleteToken(saved[24]!.id!)
        await store.saveToken(sample(`added${added++}@example.com`))
        const again = sample(saved[0]!.userSignature!.name)
        await store.saveToken(again)
      }
    }
    assert.equal(new Set(ids).size, ids.length, 'no token given twice')
    for (const token of saved.slice(0, 24)) assert.ok(ids.includes(token.id!), `${token.id} given`)
    for (const pageSize of [0, -1, 1.5, Number.NaN, '10']) {
      await assert.rejects(async () => {
        for await (const token of store.iterateTokens({ pageSize } as never)) void token
      }, InvalidArgumentError)
    }
  })

  test('concurrent saves of one user leave one row', async (store) => {
    await Promise.all(Array.from({ length: 20 }, () => store.saveToken(sample('ada@example.com'))))
    assert.equal((await store.getTokens()).length, 1)
  })

  test('bad arguments are rejected with a typed error', async (store) => {
    const invalid = expectCode('INVALID_ARGUMENT')
    await assert.rejects(store.saveToken({ accessToken: 'x' } as unknown as OAuthToken), invalid)
    const wrong = sample('ada@example.com')
    ;(wrong as unknown as { accessToken: unknown }).accessToken = 42
    await assert.rejects(store.saveToken(wrong), invalid)
    await assert.rejects(store.findToken('ada' as unknown as OAuthToken), invalid)
    await assert.rejects(store.findTokenById(''), invalid)
    await assert.rejects(store.findTokenById(7 as unknown as string), invalid)
    await assert.rejects(store.deleteToken(undefined as unknown as string), invalid)
    assert.deepEqual(await store.getTokens(), [], 'nothing was stored')
  })
}
