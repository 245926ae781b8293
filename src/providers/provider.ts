// What an OAuth 2.0 provider is, as data: where its endpoints are, how a client authenticates,
// how its answers differ from RFC 6749, and its limits. The core (the accounts client, the
// session, the logs) asks an environment's provider; no provider is named there.

import { InvalidArgumentError, refuseUnknownOptions } from '../errors.js'

/**
 * How the client proves who it is at the token and revocation endpoints (RFC 6749 §2.3.1):
 * `client_secret_basic` in an `Authorization: Basic` header, `client_secret_post` as
 * `client_id` and `client_secret` form fields.
 */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post'

/** Every {@link ClientAuthMethod}, preferred first (RFC 6749 says servers must support Basic). */
export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
]

/** The URLs of a provider's endpoints. */
export interface Endpoints {
  /** The consent page (authorization endpoint). */
  readonly authorization: string
  /** The token endpoint: code exchange and refresh. */
  readonly token: string
  /** The revocation endpoint (RFC 7009), when the provider has one. */
  readonly revocation?: string | undefined
}

/** At most `limit` requests in any `windowMs` milliseconds. */
export interface Budget {
  readonly limit: number
  readonly windowMs: number
}

/**
 * A provider's limits on its token endpoint. Carried with the environment for whatever enforces
 * them (a budget counted in the store); absent: no known limit.
 */
export interface TokenBudgets {
  /** Access tokens one refresh token may obtain. */
  readonly accessTokensPerRefreshToken?: Budget | undefined
  /** Grant codes one client may exchange. */
  readonly grantExchangesPerClient?: Budget | undefined
}

/** Where a token endpoint's answer departs from RFC 6749 §5. */
export interface ResponseQuirks {
  /**
   * Whether an error (`{"error": ...}`) may come with HTTP 2xx. RFC 6749 sends errors with 400
   * or 401; a standard server's 2xx answer holding an `error` is refused as malformed.
   */
  readonly errorsInSuccess: boolean
  /**
   * The field holding the access token's lifetime in seconds, read from the answer (RFC 6749:
   * `expires_in`). Returning the field's name lets messages say which one was unusable.
   */
  lifetimeField(answer: Readonly<Record<string, unknown>>): string
  /** Whether an error answer is really the provider limiting the rate. */
  isRateLimit(error: string, description: string | undefined): boolean
  /**
   * The `token_type` values (lower case) whose tokens are sent with the provider's prefix; any
   * other (DPoP, MAC...) needs more than a header and is refused. RFC 6750: `bearer`.
   */
  readonly tokenTypes: readonly string[]
}

/** How to learn whose token it is, with one API call made with the token itself. */
export interface CurrentUserLookup {
  /** The URL, absolute or relative to the environment's `apiDomain`. */
  readonly path: string
  /** The user's name (usually an e-mail address) in the answer's JSON, or undefined. */
  name(body: unknown): string | undefined
}

/**
 * An OAuth 2.0 provider. One value of this type (in a file of its own) is everything tokenkeeper
 * needs to work with a provider: `zoho` is Zoho's, `oauth2` the standard behaviour.
 *
 * @example
 * const acme: Provider = {
 *   ...oauth2,
 *   name: 'acme',
 *   endpoints: (accountsUrl) => ({ authorization: `${accountsUrl}/authorize`, token: `${accountsUrl}/token` }),
 * }
 */
export interface Provider {
  /** A short name for logs and errors. */
  readonly name: string
  /**
   * The endpoints of an accounts server of this provider, from its base URL. Without it, an
   * environment must list its endpoints (or come from `Environment.discover`).
   */
  readonly endpoints?: ((accountsUrl: string) => Endpoints) | undefined
  /** How the client authenticates at the token and revocation endpoints. */
  readonly clientAuth: ClientAuthMethod
  /** What precedes the access token in an API call's Authorization header. */
  readonly authHeaderPrefix: string
  readonly quirks: ResponseQuirks
  /** How `findUser` names a new token's row; undefined: this provider has no such look-up. */
  readonly currentUser?: CurrentUserLookup | undefined
  /**
   * What this provider's tokens and codes look like, for removing them from logs and errors
   * even where nothing said they were secrets. Each a global RegExp matching a whole token.
   */
  readonly tokenPatterns: readonly RegExp[]
  readonly budgets: TokenBudgets
}

/** RFC 6749 §5.1 as written: errors with 400/401, `expires_in`, no rate-limit answer. */
export const STANDARD_QUIRKS: ResponseQuirks = Object.freeze({
  errorsInSuccess: false,
  lifetimeField: () => 'expires_in',
  isRateLimit: () => false,
  tokenTypes: Object.freeze(['bearer']),
})

/**
 * Standard OAuth 2.0 (RFC 6749, RFC 6750, RFC 7009): Basic client authentication, `Bearer `
 * tokens, no known limits. It has no endpoint paths of its own: an environment of this provider
 * lists its endpoints or comes from `Environment.discover`.
 */
export const oauth2: Provider = Object.freeze({
  name: 'oauth2',
  clientAuth: 'client_secret_basic',
  authHeaderPrefix: 'Bearer ',
  quirks: STANDARD_QUIRKS,
  tokenPatterns: [],
  budgets: Object.freeze({}),
})

/**
 * The value of an `Authorization: Basic` header for a client (RFC 6749 §2.3.1: the id and secret
 * are form-encoded before they are joined, so a `:` in the id cannot move the split).
 */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)
  return Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')
}

function isQuirks(value: unknown): value is ResponseQuirks {
  const q: Partial<ResponseQuirks> = typeof value === 'object' && value !== null ? value : {}
  return (
    typeof q.errorsInSuccess === 'boolean' &&
    typeof q.lifetimeField === 'function' &&
    typeof q.isRateLimit === 'function' &&
    Array.isArray(q.tokenTypes)
  )
}

/** `value` as a Provider, or `fallback` when undefined; anything else an InvalidArgumentError. */
export function checkProvider(value: unknown, fallback: Provider): Provider {
  if (value === undefined) return fallback
  const p: Partial<Provider> = typeof value === 'object' && value !== null ? value : {}
  if (
    typeof p.name !== 'string' ||
    typeof p.authHeaderPrefix !== 'string' ||
    !CLIENT_AUTH_METHODS.includes(p.clientAuth as ClientAuthMethod) ||
    !isQuirks(p.quirks) ||
    !Array.isArray(p.tokenPatterns) ||
    typeof p.budgets !== 'object' ||
    p.budgets === null ||
    !p.tokenPatterns.every((t) => t instanceof RegExp && t.global)
  ) {
    throw new InvalidArgumentError(
      'provider',
      'provider must be a Provider (name, clientAuth, authHeaderPrefix, quirks { errorsInSuccess, lifetimeField, isRateLimit, tokenTypes }, tokenPatterns as global RegExps, budgets), such as zoho or { ...oauth2, ... }',
    )
  }
  return p as Provider
}

/** `value` as a client authentication, or the provider's when undefined. */
export function checkClientAuth(value: unknown, provider: Provider): ClientAuthMethod {
  if (value === undefined) return provider.clientAuth
  if (!CLIENT_AUTH_METHODS.includes(value as ClientAuthMethod)) {
    throw new InvalidArgumentError(
      'clientAuth',
      `clientAuth must be one of ${CLIENT_AUTH_METHODS.join(', ')}`,
    )
  }
  return value as ClientAuthMethod
}

function checkBudget(value: unknown, argument: string): Budget | undefined {
  if (value === undefined) return undefined
  const { limit, windowMs } = (typeof value === 'object' && value !== null ? value : {}) as {
    limit?: unknown
    windowMs?: unknown
  }
  const whole = (n: unknown): n is number =>
    typeof n === 'number' && Number.isSafeInteger(n) && n > 0
  if (!whole(limit) || !whole(windowMs)) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be { limit, windowMs }, two whole numbers above 0`,
    )
  }
  return Object.freeze({ limit, windowMs })
}

/** The provider's budgets with those `value` gives in their place, each checked. */
export function checkBudgets(value: unknown, provider: Provider): TokenBudgets {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidArgumentError('budgets', 'budgets must be an object of { limit, windowMs }')
  }
  const given = (value ?? {}) as TokenBudgets
  const keys = ['accessTokensPerRefreshToken', 'grantExchangesPerClient'] as const
  refuseUnknownOptions('budgets', given, keys, 'budgets.')
  const out: Record<string, Budget | undefined> = {}
  for (const key of keys) {
    out[key] = checkBudget(given[key], `budgets.${key}`) ?? provider.budgets[key]
  }
  return Object.freeze(out)
}
