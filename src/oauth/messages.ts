import { InvalidResponseError, InvalidTokenError, RateLimitError } from '../errors.js'
import { scrub } from '../log.js'

/**
 * The token endpoint's answer, as the server writes it: Zoho's fields (`expires_in` in seconds,
 * or in milliseconds beside `expires_in_sec` in older answers; `api_domain`; errors in an HTTP
 * 200 body) and standard OAuth 2.0's (`token_type`, a rotated `refresh_token`, errors with
 * 400/401).
 */
export interface TokenResponseWire {
  access_token?: unknown
  refresh_token?: unknown
  expires_in?: unknown
  expires_in_sec?: unknown
  api_domain?: unknown
  token_type?: unknown
  scope?: unknown
  error?: unknown
  error_description?: unknown
}

/** What a token answer gives, in the model's terms. */
export interface TokenGrant {
  readonly accessToken: string
  /** A new refresh token: present after an exchange, and after a refresh on rotating servers. */
  readonly refreshToken: string | undefined
  /** Absolute expiry, epoch milliseconds. */
  readonly expiryTime: number
  readonly apiDomain: string | undefined
  readonly tokenType: string | undefined
  readonly scope: string | undefined
}

const DEFAULT_LIFETIME_MS = 3_600_000

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

/** The lifetime an answer gives, in milliseconds. */
function lifetimeMs(wire: TokenResponseWire): number {
  const expiresIn = Number(wire.expires_in)
  if (wire.expires_in_sec !== undefined) {
    // Older Zoho answers: expires_in in milliseconds, expires_in_sec beside it.
    const seconds = Number(wire.expires_in_sec)
    if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000
    if (Number.isFinite(expiresIn) && expiresIn > 0) return expiresIn
  }
  if (Number.isFinite(expiresIn) && expiresIn > 0) return expiresIn * 1000
  return DEFAULT_LIFETIME_MS
}

/** Zoho's answer when a refresh token has made too many access tokens in a short time. */
function isZohoRateLimit(error: string, description: string | undefined): boolean {
  return /access denied/i.test(error) && /too many requests/i.test(description ?? '')
}

/**
 * Reads a token endpoint's answer. `secrets` are the values the request carried: any of them
 * that the server echoes is removed from error messages.
 */
export function parseTokenResponse(
  status: number,
  body: string,
  now: number,
  secrets: readonly string[],
): TokenGrant {
  let wire: TokenResponseWire
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object')
    wire = parsed
  } catch {
    const kind = /^\s*</.test(body) ? 'an HTML page' : 'a body that is not JSON'
    throw new InvalidResponseError(
      `the accounts server answered HTTP ${status} with ${kind}`,
      status,
    )
  }
  const error = text(wire.error)
  if (error !== undefined) {
    const description = text(wire.error_description)
    const safeError = scrub(error, secrets)
    const safeDescription = description === undefined ? undefined : scrub(description, secrets)
    if (isZohoRateLimit(error, description)) {
      throw new RateLimitError(
        `the accounts server limits the rate: ${safeDescription ?? safeError}`,
      )
    }
    throw new InvalidTokenError(
      safeError,
      `the accounts server refused the request: ${safeError}${safeDescription ? ` (${safeDescription})` : ''}`,
      { status, errorDescription: safeDescription },
    )
  }
  const accessToken = text(wire.access_token)
  if (accessToken === undefined || status < 200 || status >= 300) {
    throw new InvalidResponseError(
      `the accounts server answered HTTP ${status} without an access token`,
      status,
    )
  }
  return {
    accessToken,
    refreshToken: text(wire.refresh_token),
    expiryTime: now + lifetimeMs(wire),
    apiDomain: text(wire.api_domain),
    tokenType: text(wire.token_type),
    scope: text(wire.scope),
  }
}
