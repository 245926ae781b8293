import { inspect } from 'node:util'
import { describe, expect, it, vi } from 'vitest'
import {
  InvalidArgumentError,
  OAuthToken,
  SDKException,
  TokenStoreError,
  UserSignature,
} from '../src/index.ts'
import {
  MAX_LIFETIME_MS,
  assertToken,
  needsRefresh,
  refreshDueAt,
  rememberLifetime,
  typeName,
} from '../src/token.ts'

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

describe('instanceof on values that are not tokens', () => {
  it('is false for null, primitives, functions and a wrong brand, never a TypeError', () => {
    const brand = Symbol.for('tokenkeeper.OAuthToken')
    const userBrand = Symbol.for('tokenkeeper.UserSignature')
    const fn = Object.assign(() => {}, { [brand]: true, [userBrand]: true })
    for (const value of [null, undefined, 'x', 7, fn, { [brand]: 'true' }, { [brand]: 1 }]) {
      expect(value instanceof OAuthToken).toBe(false)
      expect(value instanceof UserSignature).toBe(false)
    }
    // The brand is what makes a token of another copy an instance.
    expect({ [brand]: true } instanceof OAuthToken).toBe(true)
    expect({ [userBrand]: true } instanceof UserSignature).toBe(true)
    expect(new OAuthToken() instanceof UserSignature).toBe(false)
  })
})

describe('OAuthToken and UserSignature arguments and output', () => {
  function thrown(make: () => unknown): InvalidArgumentError {
    try {
      make()
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError)
      return error as InvalidArgumentError
    }
    throw new Error('nothing was thrown')
  }

  it('a user name must be a non-empty string', () => {
    for (const name of ['', 42, null]) {
      expect(thrown(() => new UserSignature(name as never))).toMatchObject({
        argument: 'name',
        message: 'UserSignature name must be a non-empty string',
      })
    }
    expect(String(new UserSignature('ada@example.com'))).toBe('ada@example.com')
  })

  it('OAuthToken takes an object of details, or nothing', () => {
    for (const init of [null, 'token', 42]) {
      expect(thrown(() => new OAuthToken(init as never))).toMatchObject({
        argument: 'init',
        message: 'OAuthToken expects an object of token details',
      })
    }
    expect(new OAuthToken().fields()).toEqual(new OAuthToken({}).fields())
  })

  it('names what a field got, and suggests the field a misspelt option meant', () => {
    expect(thrown(() => new OAuthToken({ expiryTime: Infinity }))).toMatchObject({
      message: 'OAuthToken expiryTime must be a finite number of epoch milliseconds, got Infinity',
    })
    expect(thrown(() => new OAuthToken({ userSignature: 42 as never })).message).toBe(
      'OAuthToken userSignature must be a UserSignature, got number',
    )
    expect(thrown(() => new OAuthToken({ expiry_time: 1 } as never)).message).toMatch(
      /no option 'expiry_time' \(did you mean 'expiryTime'\?\)/,
    )
    expect(thrown(() => new OAuthToken({ ACCESSTOKEN: 'a' } as never)).message).toMatch(
      /\(did you mean 'accessToken'\?\)/,
    )
    expect(thrown(() => new OAuthToken({ scope: 'a' } as never)).message).toBe(
      "OAuthToken has no option 'scope'; it takes id, clientId, clientSecret, refreshToken, " +
        'accessToken, grantToken, redirectUrl, apiDomain, userSignature, expiryTime',
    )
  })

  it('typeName names a type without showing the value', () => {
    const cases: [unknown, string][] = [
      [null, 'null'],
      [undefined, 'undefined'],
      [[1], 'an array'],
      [Number.NaN, 'NaN'],
      [-Infinity, '-Infinity'],
      [3, 'number'],
      ['secret', 'string'],
      [new Map(), 'Map'],
      [Object.create(null), 'an object'],
      [() => 1, 'function'],
    ]
    for (const [value, name] of cases) expect(typeName(value)).toBe(name)
  })

  it('toString, JSON and inspect show the id, the user and which secrets are set', () => {
    expect(String(new OAuthToken())).toBe('OAuthToken(id=-)')
    expect(String(full())).toBe('OAuthToken(id=abcdefghij user=ada@example.com)')
    expect(JSON.parse(JSON.stringify(full()))).toEqual({
      id: 'abcdefghij',
      userName: 'ada@example.com',
      clientId: '1000.CLIENTID',
      clientSecret: '[redacted]',
      grantToken: '[redacted]',
      refreshToken: '[redacted]',
      accessToken: '[redacted]',
      redirectUrl: 'https://example.com/cb',
      apiDomain: 'https://www.zohoapis.com',
      expiryTime: 1_900_000_000_000,
    })
    const token = new OAuthToken({ id: '7', accessToken: 'a' })
    expect(inspect(token)).toBe("OAuthToken { id: '7', accessToken: '[redacted]' }")
    // The caller's inspect options are kept.
    expect(inspect(token, { colors: true })).toContain('\u001b[32m')
  })

  it('clone copies a token without user signature too, as a new object', () => {
    const token = new OAuthToken({ id: '7', accessToken: 'a' })
    const copy = token.clone()
    expect(copy).not.toBe(token)
    expect(copy.userSignature).toBeUndefined()
    expect(copy.fields()).toEqual(token.fields())
  })
})

describe('assertToken, on a token changed since it was made', () => {
  function refused(change: (token: OAuthToken) => void, argument?: string) {
    const token = full()
    change(token)
    try {
      assertToken(token, argument)
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError)
      return error as InvalidArgumentError
    }
    throw new Error('the token was accepted')
  }

  it('accepts a valid token, and null as absent', () => {
    const token = full()
    Object.assign(token, { accessToken: null, userSignature: null, expiryTime: null })
    expect(() => assertToken(token)).not.toThrow()
    expect(() => assertToken(new OAuthToken())).not.toThrow()
  })

  it('names the property that is wrong, under the argument name', () => {
    expect(refused((t) => Object.assign(t, { accessToken: 42 }))).toMatchObject({
      argument: 'token.accessToken',
      message: 'token.accessToken must be a string, got number',
    })
    expect(refused((t) => Object.assign(t, { id: {} }), 'expected')).toMatchObject({
      argument: 'expected.id',
      message: 'expected.id must be a string, got Object',
    })
    expect(refused((t) => Object.assign(t, { apiDomain: 1 }))).toMatchObject({
      argument: 'token.apiDomain',
    })
    expect(refused((t) => Object.assign(t, { userSignature: 'ada' }))).toMatchObject({
      argument: 'userSignature',
    })
    expect(refused((t) => Object.assign(t.userSignature!, { name: 42 }))).toMatchObject({
      argument: 'token.userSignature.name',
      message: 'user name must be a string',
    })
    expect(refused((t) => Object.assign(t, { expiryTime: '1' }))).toMatchObject({
      argument: 'expiryTime',
    })
    expect(() => assertToken({ accessToken: 'a' }, 'expected')).toThrow(
      'expected must be an OAuthToken, got Object',
    )
  })
})

describe('the expiry rule', () => {
  const now = 1_000_000
  const expiry = now + 3_600_000
  const token = (accessToken: string | undefined, expiryTime = expiry) =>
    new OAuthToken({ accessToken, expiryTime })

  it('a token without an access token is due, whatever its expiry', () => {
    expect(needsRefresh(token(undefined), now, 0)).toBe(true)
    expect(needsRefresh(token(''), now, 0)).toBe(true)
    expect(refreshDueAt(token(undefined), 0)).toBe(-Infinity)
    expect(refreshDueAt(new OAuthToken({ accessToken: 'a' }), 0)).toBe(-Infinity)
  })

  it('is due from the expiry less the skew, for a token of unknown lifetime', () => {
    const t = token('never-remembered')
    expect(refreshDueAt(t, 60_000)).toBe(expiry - 60_000)
    expect(needsRefresh(t, expiry - 60_001, 60_000)).toBe(false)
    expect(needsRefresh(t, expiry - 60_000, 60_000)).toBe(true)
  })

  it('keeps the skew below half a remembered lifetime', () => {
    rememberLifetime('short-lived', 30_000)
    const t = token('short-lived')
    expect(refreshDueAt(t, 60_000)).toBe(expiry - 15_000)
    expect(needsRefresh(t, expiry - 15_001, 60_000)).toBe(false)
    expect(needsRefresh(t, expiry - 15_000, 60_000)).toBe(true)
    // A lifetime longer than twice the skew leaves the skew as it is.
    rememberLifetime('long-lived', 3_600_000)
    expect(refreshDueAt(token('long-lived'), 60_000)).toBe(expiry - 60_000)
  })

  it('a skew longer than any lifetime makes every token due; a year is still a skew', () => {
    expect(MAX_LIFETIME_MS).toBe(365 * 24 * 60 * 60 * 1000)
    const t = token('a')
    expect(refreshDueAt(t, MAX_LIFETIME_MS)).toBe(expiry - MAX_LIFETIME_MS)
    expect(refreshDueAt(t, MAX_LIFETIME_MS + 1)).toBe(-Infinity)
    expect(needsRefresh(t, now, MAX_LIFETIME_MS + 1)).toBe(true)
  })

  it('remembers at most 10000 lifetimes, forgetting the least recently remembered first', () => {
    // With a lifetime of 2 ms a remembered token is due 1 ms before its expiry, else 60 s before.
    const remembered = (accessToken: string) =>
      refreshDueAt(token(accessToken), 60_000) === expiry - 1
    for (let i = 0; i < 10_000; i++) rememberLifetime(`filler-${i}`, 2)
    expect(remembered('filler-0')).toBe(true)
    rememberLifetime('one-more', 2)
    expect(remembered('filler-0')).toBe(false)
    expect(remembered('filler-1')).toBe(true)
    // Remembering a token again makes it the most recent: the next to go is filler-2.
    rememberLifetime('filler-1', 2)
    rememberLifetime('another', 2)
    expect(remembered('filler-1')).toBe(true)
    expect(remembered('filler-2')).toBe(false)
    expect(remembered('filler-3')).toBe(true)
    expect(remembered('one-more')).toBe(true)
  })
})
