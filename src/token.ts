import { createHash } from 'node:crypto'
import { inspect } from 'node:util'
import { InvalidArgumentError, refuseUnknownOptions } from './errors.js'

const TOKEN_BRAND = Symbol.for('tokenkeeper.OAuthToken')
const USER_BRAND = Symbol.for('tokenkeeper.UserSignature')

function branded(target: unknown, base: unknown, brand: symbol, value: unknown): boolean {
  if (target !== base) {
    // A subclass: the ordinary prototype check.
    return Function.prototype[Symbol.hasInstance].call(target, value)
  }
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  )
}

/**
 * The user a token belongs to: the official SDKs' user name, usually an e-mail address.
 *
 * @example
 * const user = new UserSignature('ada@example.com')
 */
export class UserSignature {
  /** The user name. */
  name: string

  /** `instanceof` holds for a UserSignature of any copy of tokenkeeper loaded in the process. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return branded(this, UserSignature, USER_BRAND, value)
  }

  constructor(name: string) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError('name', 'UserSignature name must be a non-empty string')
    }
    this.name = name
  }

  toString(): string {
    return this.name
  }
}

/** The options of {@link OAuthToken}; every one may be left out. */
export interface OAuthTokenInit {
  id?: string | undefined
  userSignature?: UserSignature | undefined
  clientId?: string | undefined
  clientSecret?: string | undefined
  grantToken?: string | undefined
  refreshToken?: string | undefined
  accessToken?: string | undefined
  redirectUrl?: string | undefined
  apiDomain?: string | undefined
  /** Absolute expiry of the access token, epoch milliseconds. */
  expiryTime?: number | undefined
}

/** The string fields of a token, in the official column order after id and user name. */
export const STRING_FIELDS = [
  'id',
  'clientId',
  'clientSecret',
  'refreshToken',
  'accessToken',
  'grantToken',
  'redirectUrl',
  'apiDomain',
] as const satisfies readonly (keyof OAuthTokenInit)[]

const ALL_FIELDS: ReadonlySet<string> = new Set<string>([
  ...STRING_FIELDS,
  'userSignature',
  'expiryTime',
])

/** Shown instead of a secret. */
export const REDACTED = '[redacted]'

/**
 * An OAuth 2.0 token and what is needed to renew it: the official SDKs' `OAuthToken`, with
 * plain typed properties. Secrets never show in `JSON.stringify`, `String` or `util.inspect`.
 *
 * @example
 * const token = new OAuthToken({
 *   clientId: '1000.XXXX', clientSecret: 'secret', grantToken: '1000.code',
 *   redirectUrl: 'https://example.com/callback', userSignature: new UserSignature('ada@example.com'),
 * })
 */
export class OAuthToken {
  id: string | undefined
  userSignature: UserSignature | undefined
  clientId: string | undefined
  clientSecret: string | undefined
  grantToken: string | undefined
  refreshToken: string | undefined
  accessToken: string | undefined
  redirectUrl: string | undefined
  apiDomain: string | undefined
  /** Absolute expiry of the access token in epoch milliseconds (the `expiry_time` column). */
  expiryTime: number | undefined

  /**
   * `instanceof` holds for a token of any copy of tokenkeeper loaded in the process (an app
   * and a library may each bring one), not only for tokens of this copy.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return branded(this, OAuthToken, TOKEN_BRAND, value)
  }

  constructor(init: OAuthTokenInit = {}) {
    if (typeof init !== 'object' || init === null) {
      throw new InvalidArgumentError('init', 'OAuthToken expects an object of token details')
    }
    refuseUnknownOptions('OAuthToken', init, ALL_FIELDS, '', suggest)
    this.id = stringField(init, 'id')
    this.userSignature = userField(init.userSignature)
    this.clientId = stringField(init, 'clientId')
    this.clientSecret = stringField(init, 'clientSecret')
    this.grantToken = stringField(init, 'grantToken')
    this.refreshToken = stringField(init, 'refreshToken')
    this.accessToken = stringField(init, 'accessToken')
    this.redirectUrl = stringField(init, 'redirectUrl')
    this.apiDomain = stringField(init, 'apiDomain')
    this.expiryTime = expiryField(init.expiryTime)
  }

  /** A copy of this token; the user signature is copied too. */
  clone(): OAuthToken {
    return new OAuthToken({
      ...this.fields(),
      userSignature: this.userSignature && new UserSignature(this.userSignature.name),
    })
  }

  /** The token's fields as a plain object, secrets included. Use with care. */
  fields(): OAuthTokenInit {
    return {
      id: this.id,
      userSignature: this.userSignature,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      grantToken: this.grantToken,
      refreshToken: this.refreshToken,
      accessToken: this.accessToken,
      redirectUrl: this.redirectUrl,
      apiDomain: this.apiDomain,
      expiryTime: this.expiryTime,
    }
  }

  /** The redacted form: what `JSON.stringify` shows. */
  toJSON(): Record<string, string | number | undefined> {
    return {
      id: this.id,
      userName: this.userSignature?.name,
      clientId: this.clientId,
      clientSecret: redact(this.clientSecret),
      grantToken: redact(this.grantToken),
      refreshToken: redact(this.refreshToken),
      accessToken: redact(this.accessToken),
      redirectUrl: this.redirectUrl,
      apiDomain: this.apiDomain,
      expiryTime: this.expiryTime,
    }
  }

  toString(): string {
    const who = this.userSignature ? ` user=${this.userSignature.name}` : ''
    return `OAuthToken(id=${this.id ?? '-'}${who})`
  }

  [inspect.custom](depth: number, options: object): string {
    const shown = Object.fromEntries(
      Object.entries(this.toJSON()).filter(([, value]) => value !== undefined),
    )
    return `OAuthToken ${inspect(shown, { ...options, depth })}`
  }
}

/**
 * Makes a token from values a store read back, which are already checked: no validation, for
 * the lookups on every API call. Not exported from the package.
 */
export function trustedToken(fields: Required<OAuthTokenInit>): OAuthToken {
  const token = Object.create(OAuthToken.prototype) as OAuthToken
  token.id = fields.id
  token.userSignature = fields.userSignature
  token.clientId = fields.clientId
  token.clientSecret = fields.clientSecret
  token.grantToken = fields.grantToken
  token.refreshToken = fields.refreshToken
  token.accessToken = fields.accessToken
  token.redirectUrl = fields.redirectUrl
  token.apiDomain = fields.apiDomain
  token.expiryTime = fields.expiryTime
  return token
}

function redact(value: string | undefined): string | undefined {
  return value === undefined ? undefined : REDACTED
}

function stringField(
  init: OAuthTokenInit,
  key: (typeof STRING_FIELDS)[number],
): string | undefined {
  const value: unknown = init[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(
      key,
      `OAuthToken ${key} must be a string, got ${typeName(value)}`,
    )
  }
  return value
}

function userField(value: unknown): UserSignature | undefined {
  if (value === undefined || value === null) return undefined
  if (!(value instanceof UserSignature)) {
    throw new InvalidArgumentError(
      'userSignature',
      `OAuthToken userSignature must be a UserSignature, got ${typeName(value)}` +
        (typeof value === 'string' ? ' (use new UserSignature(name))' : ''),
    )
  }
  return value
}

function expiryField(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined
  // Number.isFinite is false for anything that is not a number.
  if (!Number.isFinite(value)) {
    throw new InvalidArgumentError(
      'expiryTime',
      `OAuthToken expiryTime must be a finite number of epoch milliseconds, got ${typeName(value)}`,
    )
  }
  return value as number
}

/** Names a value's type for an error message without showing the value. */
export function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  if (typeof value === 'object') return value.constructor?.name ?? 'an object'
  return typeof value
}

function suggest(key: string): string {
  // Compared without case and underscores: expiry_time, EXPIRYTIME and expiryTime are one field.
  const bare = key.replaceAll('_', '').toLowerCase()
  const found = [...ALL_FIELDS].find((field) => field.toLowerCase() === bare)
  return found ? ` (did you mean '${found}'?)` : ''
}

/**
 * Checks that a value is a usable {@link OAuthToken}, whatever was assigned to its properties
 * since it was made. Stores call this before writing.
 */
export function assertToken(token: unknown, argument = 'token'): asserts token is OAuthToken {
  if (!(token instanceof OAuthToken)) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be an OAuthToken, got ${typeName(token)}`,
    )
  }
  for (const key of STRING_FIELDS) {
    const value: unknown = token[key]
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw new InvalidArgumentError(
        `${argument}.${key}`,
        `${argument}.${key} must be a string, got ${typeName(value)}`,
      )
    }
  }
  userField(token.userSignature)
  // userField takes null as absent, like every field: a null signature has no name to check.
  if (token.userSignature != null && typeof token.userSignature.name !== 'string') {
    throw new InvalidArgumentError(`${argument}.userSignature.name`, 'user name must be a string')
  }
  expiryField(token.expiryTime)
}

/**
 * How long access tokens this process obtained live, by a digest of the token (never the token
 * itself). Bounded: past {@link MAX_LIFETIMES} the oldest entries go first.
 */
const lifetimes = new Map<string, number>()
const MAX_LIFETIMES = 10_000

function lifetimeKey(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url')
}

/**
 * Remembers how long an access token lives, from the answer that gave it, so that
 * {@link needsRefresh} can keep a short-lived token's skew below its lifetime. Not exported
 * from the package.
 */
export function rememberLifetime(accessToken: string, lifetimeMs: number): void {
  const key = lifetimeKey(accessToken)
  lifetimes.delete(key)
  lifetimes.set(key, lifetimeMs)
  if (lifetimes.size > MAX_LIFETIMES) {
    for (const oldest of lifetimes.keys()) {
      lifetimes.delete(oldest)
      break
    }
  }
}

/** The longest access-token lifetime believed (a year): a longer one in an answer is cut to it. */
export const MAX_LIFETIME_MS = 365 * 24 * 3_600_000

/**
 * Whether the access token is missing or expires within `skewMs` of `now`: the one expiry
 * rule, used by the session and the CLI alike. For a token whose lifetime this process saw
 * (it obtained the token), the skew is at most half that lifetime: a token that lives 30 s
 * under a 60 s skew is refreshed after 15 s, not on every call. A skew longer than any
 * lifetime ({@link MAX_LIFETIME_MS}) is taken at its word, every token is due (a refresh on
 * demand is `session.refresh({ force: true })`).
 */
export function needsRefresh(token: OAuthToken, now: number, skewMs: number): boolean {
  if (!token.accessToken || token.expiryTime === undefined) return true
  // Well before the skew the lifetime is not worth looking up (this is the hot path).
  if (token.expiryTime - skewMs > now) return false
  return refreshDueAt(token, skewMs) <= now
}

/**
 * The instant (epoch ms) from which {@link needsRefresh} holds for this token and skew: the same
 * rule as a deadline, for a holder that checks the clock often and the token rarely (a session
 * computes it once per token and compares on every call). `-Infinity` when it is due already.
 */
export function refreshDueAt(token: OAuthToken, skewMs: number): number {
  if (!token.accessToken || token.expiryTime === undefined || skewMs > MAX_LIFETIME_MS) {
    return -Infinity
  }
  const lifetime = lifetimes.get(lifetimeKey(token.accessToken))
  return token.expiryTime - (lifetime === undefined ? skewMs : Math.min(skewMs, lifetime / 2))
}

Object.defineProperty(OAuthToken.prototype, TOKEN_BRAND, { value: true })
Object.defineProperty(UserSignature.prototype, USER_BRAND, { value: true })
