import { InvalidResponseError, InvalidTokenError, RateLimitError } from '../errors.js'
import { scrub } from '../log.js'
import { MAX_LIFETIME_MS } from '../token.js'
import type { ResponseQuirks } from '../providers/provider.js'

/**
 * The token endpoint's answer, as the server writes it: standard OAuth 2.0's fields
 * (`token_type`, a rotated `refresh_token`, errors) and those a provider adds (Zoho's
 * `api_domain` and `expires_in_sec`; how to read them is the provider's {@link ResponseQuirks}).
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
  /** How long the access token lives, in milliseconds, as the answer said (within bounds). */
  readonly lifetimeMs: number
  readonly apiDomain: string | undefined
  readonly tokenType: string | undefined
  readonly scope: string | undefined
}

const DEFAULT_LIFETIME_MS = 3_600_000
/** The shortest lifetime believed; a shorter one in an answer is raised to it. */
export const MIN_LIFETIME_MS = 1_000

/**
 * Whether a value can be a token: one or more visible ASCII characters or spaces (RFC 6749's
 * VSCHAR, %x20-7E). Anything else (a control character, a line break, a character beyond
 * ASCII) could not be sent in an HTTP header, or would be sent changed.
 */
export function isTokenText(value: string): boolean {
  return /^[\x20-\x7e]+$/.test(value)
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined
}

function invalid(status: number, what: string): InvalidResponseError {
  return new InvalidResponseError(
    `the accounts server answered HTTP ${status} with ${what}`,
    status,
  )
}

/** A count of seconds as the server wrote it (a JSON number or a numeric string), else NaN. */
function count(value: unknown): number {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(value)) {
    return Number(value)
  }
  return NaN
}

/**
 * The lifetime an answer gives, in milliseconds, brought within {@link MIN_LIFETIME_MS} and
 * {@link MAX_LIFETIME_MS}, from the field the provider names. Without one, an hour (Zoho's, and
 * RFC 6749 leaves it to the server). A lifetime that is not a finite, non-negative number is an
 * {@link InvalidResponseError}: guessing could keep a dead token or refresh on every call.
 */
function lifetimeMs(wire: TokenResponseWire, status: number, quirks: ResponseQuirks): number {
  const field = quirks.lifetimeField(wire as Record<string, unknown>)
  const value = (wire as Record<string, unknown>)[field]
  if (value === undefined || value === null) return DEFAULT_LIFETIME_MS
  const n = count(value)
  if (!Number.isFinite(n) || n < 0) {
    throw invalid(status, `an unusable ${field} (${describeValue(value)})`)
  }
  return Math.min(MAX_LIFETIME_MS, Math.max(MIN_LIFETIME_MS, n * 1000))
}

/** What a server-chosen value is, for a message, without copying much of it. */
function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (Array.isArray(value)) return 'an array'
  // What else JSON can hold here: an object or a boolean (null is no value, read before this).
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * Reads a token endpoint's answer, as the provider's `quirks` say its answers are written.
 * `secrets` are the values the request carried: any of them that the server echoes is removed
 * from error messages.
 */
export function parseTokenResponse(
  status: number,
  body: string,
  now: number,
  secrets: readonly string[],
  quirks: ResponseQuirks,
): TokenGrant {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    // Not JSON: parsed stays undefined (which JSON.parse never gives), refused below.
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid(status, /^\s*</.test(body) ? 'an HTML page' : 'a body that is not a JSON object')
  }
  const wire: TokenResponseWire = parsed
  const error = text(wire.error)
  if (error !== undefined && status >= 200 && status < 300 && !quirks.errorsInSuccess) {
    // RFC 6749 §5.2 sends errors with 400/401: a success holding one is a broken server.
    throw invalid(status, 'an error code in a success answer, which this provider never sends')
  }
  if (error !== undefined) {
    const description = text(wire.error_description)
    const safeError = scrub(error, secrets)
    const safeDescription = description === undefined ? undefined : scrub(description, secrets)
    if (quirks.isRateLimit(error, description)) {
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
  // A token is taken from a success only: a failure status with a token in it is a broken
  // server or a proxy's page, and its token is not trusted.
  if (status < 200 || status >= 300) {
    throw invalid(
      status,
      'neither an error code nor a success status (a token is read from HTTP 2xx only)',
    )
  }
  const accessToken = text(wire.access_token)
  if (accessToken === undefined) throw invalid(status, 'no access token')
  const refreshToken = text(wire.refresh_token)
  if (!isTokenText(accessToken) || (refreshToken !== undefined && !isTokenText(refreshToken))) {
    throw invalid(
      status,
      'a token holding characters other than visible ASCII (a control character, a line break or a non-ASCII character), which cannot be sent in a header',
    )
  }
  const tokenType = text(wire.token_type)
  if (tokenType !== undefined && !quirks.tokenTypes.includes(tokenType.toLowerCase())) {
    // A DPoP, MAC or other token needs more than a header to be used: refuse it rather than
    // send it as a bearer token the API would reject (or accept, against its type).
    const shown = isTokenText(tokenType) && tokenType.length <= 40 ? `'${tokenType}'` : 'an unknown'
    throw invalid(
      status,
      `a token of type ${scrub(shown, [...secrets, accessToken, refreshToken ?? ''])}, which tokenkeeper cannot use (it sends Bearer tokens)`,
    )
  }
  const lifetime = lifetimeMs(wire, status, quirks)
  return {
    accessToken,
    refreshToken,
    expiryTime: now + lifetime,
    lifetimeMs: lifetime,
    apiDomain: text(wire.api_domain),
    tokenType,
    scope: text(wire.scope),
  }
}
