import { inspect } from 'node:util'
import { describe, expect, it, vi } from 'vitest'
import {
  InvalidArgumentError,
  OAuthToken,
  SDKException,
  TokenStoreError,
  UserSignature,
} from '../src/index.ts'
import { needsRefresh } from '../src/token.ts'

const SECRETS = {
  clientSecret: 'client-secret-value-1',
  grantToken: '1000.grant-value-2',
  refreshToken: '1000.refresh-value-3',
  accessToken: '1000.access-value-4',
}

function full(): OAuthToken {
  return new OAuthToken({
    id: 'abcdefghij',
    userSignature: new UserSignature('ada@example.com'),
    clientId: '1000.CLIENTID',
    redirectUrl: 'https://example.com/cb',
    apiDomain: 'https://www.zohoapis.com',
    expiryTime: 1_900_000_000_000,
    ...SECRETS,
  })
}

describe('OAuthToken', () => {
  it('has public mutable properties with the names of API.md', () => {
    const token = full()
    expect(token.fields()).toEqual({
      id: 'abcdefghij',
      userSignature: new UserSignature('ada@example.com'),
      clientId: '1000.CLIENTID',
      redirectUrl: 'https://example.com/cb',
      apiDomain: 'https://www.zohoapis.com',
      expiryTime: 1_900_000_000_000,
      ...SECRETS,
    })
    token.accessToken = 'other'
    expect(token.accessToken).toBe('other')
  })

  it.each([
    ['JSON.stringify', (t: OAuthToken) => JSON.stringify(t)],
    ['String', (t: OAuthToken) => String(t)],
    ['template literal', (t: OAuthToken) => `${t.toString()}`],
    ['util.inspect', (t: OAuthToken) => inspect(t)],
    ['util.inspect deep', (t: OAuthToken) => inspect({ nested: { token: t } }, { depth: 10 })],
    ['an Error cause', (t: OAuthToken) => inspect(new Error('x', { cause: t }))],
  ])('%s never shows a secret', (_, show) => {
    const text = show(full())
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret)
    expect(text).toMatch(/abcdefghij/)
  })

  it('shows which secrets are present, redacted, and what is not secret', () => {
    const shown = JSON.parse(JSON.stringify(full())) as Record<string, unknown>
    expect(shown).toMatchObject({
      id: 'abcdefghij',
      userName: 'ada@example.com',
      clientId: '1000.CLIENTID',
      accessToken: '[redacted]',
      clientSecret: '[redacted]',
    })
    expect(JSON.parse(JSON.stringify(new OAuthToken({ id: 'x' })))).toEqual({ id: 'x' })
  })

  it.each([
    [{ accessToken: 42 }, 'accessToken', /accessToken must be a string, got number/],
    [{ expiryTime: '3600' }, 'expiryTime', /expiryTime must be a finite number/],
    [{ expiryTime: Number.NaN }, 'expiryTime', /got NaN/],
    [{ userSignature: 'ada' }, 'userSignature', /use new UserSignature\(name\)/],
    [{ refresh_token: 'x' }, 'refresh_token', /did you mean 'refreshToken'/],
  ])('rejects %j with a typed error naming the field', (init, argument, message) => {
    let error: unknown
    try {
      new OAuthToken(init as never)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect(error).toBeInstanceOf(SDKException)
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', argument })
    expect((error as Error).message).toMatch(message)
  })

  it('takes null as absent, as the official SDKs pass it', () => {
    const token = new OAuthToken({ accessToken: null as never, expiryTime: null as never })
    expect(token.accessToken).toBeUndefined()
    expect(token.expiryTime).toBeUndefined()
  })

  it('UserSignature needs a non-empty name', () => {
    expect(() => new UserSignature('')).toThrow(InvalidArgumentError)
    expect(new UserSignature('ada').name).toBe('ada')
  })

  it('clone copies every field and the user signature', () => {
    const token = full()
    const copy = token.clone()
    expect(copy.fields()).toEqual(token.fields())
    expect(copy.userSignature).not.toBe(token.userSignature)
  })

  it('needsRefresh: missing access token, unknown expiry, or inside the skew', () => {
    const now = 1_000_000
    expect(needsRefresh(new OAuthToken({ refreshToken: 'r' }), now, 0)).toBe(true)
    expect(needsRefresh(new OAuthToken({ accessToken: 'a' }), now, 0)).toBe(true)
    expect(
      needsRefresh(new OAuthToken({ accessToken: 'a', expiryTime: now + 60_001 }), now, 60_000),
    ).toBe(false)
    expect(
      needsRefresh(new OAuthToken({ accessToken: 'a', expiryTime: now + 60_000 }), now, 60_000),
    ).toBe(true)
  })
})

describe('instanceof across copies', () => {
  it('holds for tokens of another copy of tokenkeeper, and not for look-alikes', async () => {
    // A second copy of the module, as when an app and a library each install tokenkeeper.
    vi.resetModules()
    const other = await import('../src/token.ts')
    expect(other.OAuthToken).not.toBe(OAuthToken)
    const foreign = new other.OAuthToken({ userSignature: new other.UserSignature('ada') })
    expect(foreign).toBeInstanceOf(OAuthToken)
    expect(foreign.userSignature).toBeInstanceOf(UserSignature)
    expect({ accessToken: 'x' }).not.toBeInstanceOf(OAuthToken)
    class Special extends OAuthToken {}
    expect(new Special()).toBeInstanceOf(OAuthToken)
    expect(new OAuthToken()).not.toBeInstanceOf(Special)
  })
})

describe('errors', () => {
  it('have stable codes, names and causes', () => {
    const cause = new Error('driver said no')
    const error = new TokenStoreError('FileStore', 'saveToken', 'cannot write', { cause })
    expect(error).toBeInstanceOf(SDKException)
    expect(error.code).toBe('TOKEN_STORE')
    expect(TokenStoreError.code).toBe('TOKEN_STORE')
    expect(error.name).toBe('TokenStoreError')
    expect(error.message).toBe('FileStore.saveToken: cannot write')
    expect(error.cause).toBe(cause)
    expect(error).toMatchObject({ store: 'FileStore', operation: 'saveToken' })
  })
})
