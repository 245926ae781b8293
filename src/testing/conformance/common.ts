import assert from 'node:assert/strict'
import { OAuthToken, UserSignature, type OAuthTokenInit } from '../../token.js'
import type { TokenStore } from '../../store.js'
import type { COLUMNS } from '../../store/rows.js'
import type { ConformanceOptions, ConformanceTest, RawRow } from '../conformance.js'

/** What each part of the store suite is given by {@link tokenStoreConformance}. */
export interface SuiteContext {
  readonly options: ConformanceOptions
  /** The suite's tests, for a part that needs more than a fresh store. */
  readonly tests: ConformanceTest[]
  /** Adds a test run on a fresh store, closed afterwards. */
  readonly test: (name: string, body: (store: TokenStore) => Promise<void>) => void
  /** Every row as the backend holds it, when the suite was told how to read them. */
  readonly raw: (store: TokenStore) => Promise<RawRow[] | undefined>
  /** The one raw row with this id, when raw rows can be read. */
  readonly rawRowOf: (store: TokenStore, id: string) => Promise<RawRow | undefined>
  /** Checks that the raw row of `token` holds exactly its values, when raw rows can be read. */
  readonly checkRaw: (store: TokenStore, token: OAuthToken, what: string) => Promise<void>
}

/** Values that break naive stores: delimiters, quotes, line breaks, SQL, unicode, 4 KB. */
export const HOSTILE_VALUES: readonly string[] = [
  'comma,separated,value',
  'double "quoted" value',
  "single 'quoted' value",
  `"'mixed'"`,
  'line one\nline two',
  'carriage\r\nreturn',
  'lone\rcarriage',
  '\ttabbed\t',
  'back\\slash\\',
  '100% of_all_rows',
  '  spaces around  ',
  'unicode ünïcødé 日本語 ✓',
  'emoji 🔑👩‍👩‍👧 done',
  "'; DROP TABLE oauthtoken; --",
  '" OR "1"="1',
  'NULL',
  '\\N',
  '=HYPERLINK("x")',
  ',',
  '"',
  'k'.repeat(4096),
]

let serial = 0

/** A complete token for a user, every value distinct. */
export function sample(user: string, extra: OAuthTokenInit = {}): OAuthToken {
  serial += 1
  const tag = `${serial}.${Math.random().toString(36).slice(2, 10)}`
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: `1000.client.${tag}`,
    clientSecret: `secret.${tag}`,
    refreshToken: `1000.refresh.${tag}`,
    accessToken: `1000.access.${tag}`,
    grantToken: `1000.grant.${tag}`,
    redirectUrl: 'https://example.com/callback',
    apiDomain: 'https://www.zohoapis.com',
    expiryTime: 1_900_000_000_000 + serial,
    ...extra,
  })
}

export function plain(token: OAuthToken | null): Record<string, unknown> | null {
  if (token === null) return null
  const { userSignature, ...rest } = token.fields()
  return { ...rest, userName: userSignature?.name }
}

/** Asserts that a token read back equals the one expected, field by field. */
export function assertSame(actual: OAuthToken | null, expected: OAuthToken, what: string): void {
  assert.ok(actual, `${what}: expected a token, got null`)
  assert.ok(actual instanceof OAuthToken, `${what}: expected an OAuthToken`)
  assert.deepEqual(plain(actual), plain(expected), `${what}: the stored token differs`)
}

/** An `assert.rejects` check that the error has this `code`. */
export function expectCode(code: string) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, `expected an error with code ${code}`)
    return true
  }
}

export function rawValue(token: OAuthToken, column: (typeof COLUMNS)[number]): string | null {
  const values: Record<(typeof COLUMNS)[number], string | undefined> = {
    id: token.id,
    user_name: token.userSignature?.name,
    client_id: token.clientId,
    client_secret: token.clientSecret,
    refresh_token: token.refreshToken,
    access_token: token.accessToken,
    grant_token: token.grantToken,
    expiry_time: token.expiryTime === undefined ? undefined : String(token.expiryTime),
    redirect_url: token.redirectUrl,
    api_domain: token.apiDomain,
  }
  return values[column] ?? null
}
