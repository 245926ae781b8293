// The emulator's ledger on its own, without HTTP: Zoho's rules for grant codes, refresh tokens,
// rotation and the access token limit, at their boundaries, on a clock the tests move.
import { describe, expect, it } from 'vitest'
import { Ledger, type Outcome } from '../../../src/testing/emulator/ledger.ts'
import { resolveSettings, type User } from '../../../src/testing/emulator/settings.ts'
import type { AccountsEmulatorOptions } from '../../../src/testing/index.ts'

const TOKEN_SHAPE = /^1000\.[0-9a-f]{32}\.[0-9a-f]{32}$/
const CLIENT = { clientId: '1000.LEDGER', clientSecret: 'ledger-secret' }
const OTHER = { clientId: '1000.OTHER', clientSecret: 'other-secret' }
const REDIRECT = 'https://app.example/callback'
const MINUTE = 60_000

/** A ledger with two clients and two users, on a clock the test moves. */
function ledger(options: AccountsEmulatorOptions = {}) {
  const clock = { now: 1_800_000_000_000 }
  const settings = resolveSettings({
    clients: [CLIENT, OTHER],
    users: [{ email: 'ada@zylker.example' }, { email: 'grace@zylker.example' }],
    now: () => clock.now,
    ...options,
  })
  const book = new Ledger(settings)
  const [ada, grace] = settings.users as [User, User]
  return { book, clock, ada, grace }
}

/** The tokens of a successful outcome; fails the test on a refusal. */
function issued(outcome: Outcome) {
  if (!outcome.ok) throw new Error(`refused: ${outcome.error}`)
  return outcome.issued
}

/** A grant: a code of `user` for CLIENT, exchanged at once. */
function grant(book: Ledger, user: User, scope = 'ZohoCRM.modules.ALL') {
  const code = book.issueCode({ clientId: CLIENT.clientId, user, scope })
  return issued(
    book.exchange({
      clientId: CLIENT.clientId,
      code,
      redirectUri: undefined,
      codeVerifier: undefined,
    }),
  )
}

describe('ledger: clients and users', () => {
  it('finds registered clients and users, and authenticates by the exact secret', () => {
    const { book, ada } = ledger()
    expect(book.client(OTHER.clientId)).toEqual(OTHER)
    expect(book.client('1000.NOBODY')).toBeUndefined()
    expect(book.client(undefined)).toBeUndefined()
    expect(book.user('ada@zylker.example')).toBe(ada)
    expect(book.user('eve@zylker.example')).toBeUndefined()
    expect(book.authenticate(CLIENT.clientId, CLIENT.clientSecret)).toBe(true)
    expect(book.authenticate(CLIENT.clientId, OTHER.clientSecret)).toBe(false)
    expect(book.authenticate(CLIENT.clientId, undefined)).toBe(false)
    expect(book.authenticate('1000.NOBODY', CLIENT.clientSecret)).toBe(false)
  })
})

describe('ledger: grant codes', () => {
  it('exchanges a code once for an access and a refresh token of its user and scope', () => {
    const { book, ada } = ledger()
    const code = book.issueCode({
      clientId: CLIENT.clientId,
      user: ada,
      scope: 'ZohoCRM.users.READ',
    })
    expect(code).toMatch(TOKEN_SHAPE)
    const request = {
      clientId: CLIENT.clientId,
      code,
      redirectUri: undefined,
      codeVerifier: undefined,
    }
    const tokens = issued(book.exchange(request))
    expect(tokens.accessToken).toMatch(TOKEN_SHAPE)
    expect(tokens.refreshToken).toMatch(TOKEN_SHAPE)
    expect(new Set([code, tokens.accessToken, tokens.refreshToken]).size).toBe(3)
    expect(tokens.scope).toBe('ZohoCRM.users.READ')
    expect(book.accessTokenUser(tokens.accessToken)).toBe(ada)
    expect(book.isValid(tokens.refreshToken!)).toBe(true)
    // Single use, and a code is not a token.
    expect(book.exchange(request)).toEqual({ ok: false, error: 'invalid_code' })
    expect(book.isValid(code)).toBe(false)
    expect(book.exchange({ ...request, code: undefined })).toEqual({
      ok: false,
      error: 'invalid_code',
    })
  })

  it('lets a code live exactly its lifetime (180 s by default)', () => {
    const { book, clock, ada } = ledger()
    const early = book.issueCode({ clientId: CLIENT.clientId, user: ada, scope: 's' })
    const late = book.issueCode({ clientId: CLIENT.clientId, user: ada, scope: 's' })
    const request = { clientId: CLIENT.clientId, redirectUri: undefined, codeVerifier: undefined }
    clock.now += 3 * MINUTE - 1
    expect(book.exchange({ ...request, code: early }).ok).toBe(true)
    clock.now += 1
    expect(book.exchange({ ...request, code: late })).toEqual({ ok: false, error: 'invalid_code' })
  })

  it('follows grantCodeLifetimeSec', () => {
    const { book, clock, ada } = ledger({ grantCodeLifetimeSec: 10 })
    const code = book.issueCode({ clientId: CLIENT.clientId, user: ada, scope: 's' })
    clock.now += 10_000
    const request = {
      clientId: CLIENT.clientId,
      code,
      redirectUri: undefined,
      codeVerifier: undefined,
    }
    expect(book.exchange(request)).toEqual({ ok: false, error: 'invalid_code' })
  })

  it('refuses a code to another client, without spending it', () => {
    const { book, ada } = ledger()
    const code = book.issueCode({ clientId: CLIENT.clientId, user: ada, scope: 's' })
    const request = { code, redirectUri: undefined, codeVerifier: undefined }
    expect(book.exchange({ ...request, clientId: OTHER.clientId })).toEqual({
      ok: false,
      error: 'invalid_code',
    })
    expect(book.exchange({ ...request, clientId: CLIENT.clientId }).ok).toBe(true)
  })

  it("wants the authorization request's redirect URI, exactly, without spending the code", () => {
    const { book, ada } = ledger()
    const code = book.issueCode({
      clientId: CLIENT.clientId,
      user: ada,
      scope: 's',
      redirectUri: REDIRECT,
    })
    const request = { clientId: CLIENT.clientId, code, codeVerifier: undefined }
    for (const redirectUri of [undefined, `${REDIRECT}/`, 'https://evil.example/callback']) {
      expect(book.exchange({ ...request, redirectUri })).toEqual({
        ok: false,
        error: 'invalid_redirect_uri',
      })
    }
    expect(book.exchange({ ...request, redirectUri: REDIRECT }).ok).toBe(true)
  })

  it('accepts any redirect URI for a code issued without one (a self-client code)', () => {
    const { book, ada } = ledger()
    const code = book.issueCode({ clientId: CLIENT.clientId, user: ada, scope: 's' })
    const request = { clientId: CLIENT.clientId, code, codeVerifier: undefined }
    expect(book.exchange({ ...request, redirectUri: 'https://any.example/' }).ok).toBe(true)
  })

  it('checks the PKCE verifier against the S256 challenge, without spending the code', () => {
    const { book, ada } = ledger()
    const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
    // RFC 7636, appendix B.
    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    const code = book.issueCode({
      clientId: CLIENT.clientId,
      user: ada,
      scope: 's',
      codeChallenge: challenge,
    })
    const request = { clientId: CLIENT.clientId, code, redirectUri: undefined }
    for (const codeVerifier of [undefined, `${verifier}x`, challenge]) {
      expect(book.exchange({ ...request, codeVerifier })).toEqual({
        ok: false,
        error: 'invalid_code_verifier',
      })
    }
    expect(book.exchange({ ...request, codeVerifier: verifier }).ok).toBe(true)
  })
})

describe('ledger: access tokens', () => {
  it('live exactly their lifetime (3600 s by default, or accessTokenLifetimeSec)', () => {
    for (const [options, lifetimeMs] of [
      [{}, 3_600_000],
      [{ accessTokenLifetimeSec: 60 }, 60_000],
    ] as const) {
      const { book, clock, ada } = ledger(options)
      const { accessToken } = grant(book, ada)
      clock.now += lifetimeMs - 1
      expect(book.accessTokenUser(accessToken)).toBe(ada)
      expect(book.isValid(accessToken)).toBe(true)
      clock.now += 1
      expect(book.accessTokenUser(accessToken)).toBeUndefined()
      expect(book.isValid(accessToken)).toBe(false)
    }
  })

  it('know nothing of an unknown token', () => {
    const { book } = ledger()
    expect(book.accessTokenUser('1000.unknown')).toBeUndefined()
    expect(book.isValid('1000.unknown')).toBe(false)
  })
})

describe('ledger: refresh', () => {
  it('without rotation: new access tokens, the same refresh token, which stays valid', () => {
    const { book, grace } = ledger()
    const first = grant(book, grace, 'ZohoCRM.users.READ')
    const again = issued(book.refresh(CLIENT.clientId, first.refreshToken))
    expect(again.refreshToken).toBeUndefined()
    expect(again.scope).toBe('ZohoCRM.users.READ')
    expect(again.accessToken).toMatch(TOKEN_SHAPE)
    expect(again.accessToken).not.toBe(first.accessToken)
    expect(book.accessTokenUser(again.accessToken)).toBe(grace)
    // The earlier access token lives on: Zoho does not revoke it on refresh.
    expect(book.isValid(first.accessToken)).toBe(true)
    expect(issued(book.refresh(CLIENT.clientId, first.refreshToken)).accessToken).toMatch(
      TOKEN_SHAPE,
    )
  })

  it('refuses an unknown refresh token, a missing one, or one of another client', () => {
    const { book, ada } = ledger()
    const { refreshToken } = grant(book, ada)
    for (const [clientId, token] of [
      [CLIENT.clientId, '1000.unknown'],
      [CLIENT.clientId, undefined],
      [OTHER.clientId, refreshToken],
    ] as const) {
      expect(book.refresh(clientId, token)).toEqual({ ok: false, error: 'invalid_code' })
    }
    expect(book.refresh(CLIENT.clientId, refreshToken).ok).toBe(true)
  })

  it('with rotation: a new refresh token each time; a replaced one back kills the grant', () => {
    const { book, ada } = ledger({ rotateRefreshTokens: true })
    const first = grant(book, ada)
    const second = issued(book.refresh(CLIENT.clientId, first.refreshToken))
    expect(second.refreshToken).toMatch(TOKEN_SHAPE)
    expect(second.refreshToken).not.toBe(first.refreshToken)
    expect(book.isValid(first.refreshToken!)).toBe(false)
    const third = issued(book.refresh(CLIENT.clientId, second.refreshToken))
    expect(book.isValid(third.refreshToken!)).toBe(true)

    // Someone holds a copy of the first: every token of the grant dies.
    expect(book.refresh(CLIENT.clientId, first.refreshToken)).toEqual({
      ok: false,
      error: 'invalid_grant',
    })
    for (const token of [third.refreshToken!, first.accessToken, third.accessToken]) {
      expect(book.isValid(token)).toBe(false)
    }
    expect(book.refresh(CLIENT.clientId, third.refreshToken)).toEqual({
      ok: false,
      error: 'invalid_code',
    })
  })

  it('with rotation, a revoked refresh token is invalid_code, not reuse', () => {
    const { book, ada } = ledger({ rotateRefreshTokens: true })
    const { refreshToken } = grant(book, ada)
    book.revoke(refreshToken!)
    expect(book.refresh(CLIENT.clientId, refreshToken)).toEqual({
      ok: false,
      error: 'invalid_code',
    })
  })
})

describe('ledger: the access token limit', () => {
  it('allows 10 refreshes per grant per 10 minutes; the window slides from each refresh', () => {
    const { book, clock, ada } = ledger()
    const { refreshToken } = grant(book, ada)
    const refresh = () => book.refresh(CLIENT.clientId, refreshToken)
    const start = clock.now
    for (let i = 0; i < 10; i += 1) {
      clock.now = start + i * MINUTE
      expect(refresh().ok, `refresh ${i + 1}`).toBe(true)
    }
    clock.now = start + 10 * MINUTE - 1
    expect(refresh()).toEqual({ ok: false, error: 'access_token_limit' })
    // The first refresh leaves the window: one more, and only one.
    clock.now = start + 10 * MINUTE
    expect(refresh().ok).toBe(true)
    expect(refresh()).toEqual({ ok: false, error: 'access_token_limit' })
    clock.now = start + 11 * MINUTE
    expect(refresh().ok).toBe(true)
  })

  it('counts per grant: the exchange and other grants do not use it up', () => {
    const { book, ada } = ledger({ accessTokenLimit: { count: 2, windowMs: MINUTE } })
    const one = grant(book, ada)
    const two = grant(book, ada)
    for (let i = 0; i < 2; i += 1)
      expect(book.refresh(CLIENT.clientId, one.refreshToken).ok).toBe(true)
    expect(book.refresh(CLIENT.clientId, one.refreshToken)).toEqual({
      ok: false,
      error: 'access_token_limit',
    })
    for (let i = 0; i < 2; i += 1)
      expect(book.refresh(CLIENT.clientId, two.refreshToken).ok).toBe(true)
  })

  it('counts a grant across rotated refresh tokens', () => {
    const { book, ada } = ledger({
      rotateRefreshTokens: true,
      accessTokenLimit: { count: 2, windowMs: MINUTE },
    })
    let { refreshToken } = grant(book, ada)
    for (let i = 0; i < 2; i += 1)
      refreshToken = issued(book.refresh(CLIENT.clientId, refreshToken)).refreshToken
    expect(book.refresh(CLIENT.clientId, refreshToken)).toEqual({
      ok: false,
      error: 'access_token_limit',
    })
    // Refused, the refresh token was not replaced: it still works once the window passes.
    expect(book.isValid(refreshToken!)).toBe(true)
  })

  it('can be lifted', () => {
    const { book, ada } = ledger({ accessTokenLimit: false })
    const { refreshToken } = grant(book, ada)
    for (let i = 0; i < 50; i += 1)
      expect(book.refresh(CLIENT.clientId, refreshToken).ok).toBe(true)
  })
})

describe('ledger: revoke', () => {
  it('a refresh token takes every access token of its grant with it, and no other grant', () => {
    const { book, ada } = ledger()
    const first = grant(book, ada)
    const second = issued(book.refresh(CLIENT.clientId, first.refreshToken))
    const other = grant(book, ada)
    book.revoke(first.refreshToken!)
    for (const token of [first.refreshToken!, first.accessToken, second.accessToken]) {
      expect(book.isValid(token)).toBe(false)
    }
    expect(book.accessTokenUser(second.accessToken)).toBeUndefined()
    expect(book.refresh(CLIENT.clientId, first.refreshToken)).toEqual({
      ok: false,
      error: 'invalid_code',
    })
    expect(book.isValid(other.refreshToken!)).toBe(true)
    expect(book.isValid(other.accessToken)).toBe(true)
  })

  it('an access token goes alone', () => {
    const { book, ada } = ledger()
    const first = grant(book, ada)
    const second = issued(book.refresh(CLIENT.clientId, first.refreshToken))
    book.revoke(first.accessToken)
    expect(book.accessTokenUser(first.accessToken)).toBeUndefined()
    expect(book.isValid(first.accessToken)).toBe(false)
    expect(book.isValid(second.accessToken)).toBe(true)
    expect(book.refresh(CLIENT.clientId, first.refreshToken).ok).toBe(true)
  })

  it('ignores an unknown token and changes nothing', () => {
    const { book, ada } = ledger()
    const tokens = grant(book, ada)
    book.revoke('1000.unknown')
    expect(book.isValid(tokens.accessToken)).toBe(true)
    expect(book.isValid(tokens.refreshToken!)).toBe(true)
  })
})
