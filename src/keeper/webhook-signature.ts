// The signature of a webhook, in the Standard Webhooks scheme, written once for the sender and
// the receiver: the key from a secret, HMAC-SHA256 over `${id}.${timestamp}.${body}`, and the
// receiver's check (constant-time compare, timestamp tolerance against replays).
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { InvalidArgumentError, SDKException, refuseUnknownOptions } from '../errors.js'

/** The state changes a keeper reports. */
export type WebhookEventType = 'token.failing' | 'token.recovered' | 'token.reauthRequired'

/** What a webhook says of a token: never a token value nor a client secret. */
export interface WebhookEventData {
  /** The token's id in the store. */
  tokenId: string
  /** The token's user (a Zoho user name or e-mail), when known. */
  user?: string
  /** Its state after the change: `active`, `failing` or `reauth_required`. */
  state: 'active' | 'failing' | 'reauth_required'
  /** Failed refreshes in a row, while `failing`. */
  attempts?: number
  /** When the next refresh is tried (ISO 8601), while `failing`. */
  nextAttemptAt?: string
  /** The code of the last error (`NETWORK_ERROR`, `invalid_code`, ...). */
  lastErrorCode?: string
}

/** A webhook's JSON body. */
export interface WebhookEvent {
  type: WebhookEventType
  /** Unique per event, the same on every attempt: receivers drop a repeated id. */
  id: string
  /** When the change happened (ISO 8601). */
  occurredAt: string
  data: WebhookEventData
}

const MIN_SECRET_BYTES = 24
/** Standard Webhooks' advice: refuse a timestamp more than 5 minutes away. */
const DEFAULT_TOLERANCE_SEC = 300

/** A webhook that did not verify: a header missing, a bad signature or a stale timestamp. */
export class WebhookVerificationError extends SDKException {
  static readonly code = 'WEBHOOK_INVALID'
  constructor(message: string) {
    super(WebhookVerificationError.code, message)
  }
}

/** The HMAC key of a secret: `whsec_` + base64 decoded, else the UTF-8 bytes. */
export function signingKey(secret: unknown, argument: string): Buffer {
  if (typeof secret !== 'string') {
    throw new InvalidArgumentError(argument, `${argument} must be a string`)
  }
  const key = secret.startsWith('whsec_')
    ? Buffer.from(secret.slice(6), 'base64')
    : Buffer.from(secret, 'utf8')
  if (key.length < MIN_SECRET_BYTES) {
    throw new InvalidArgumentError(
      argument,
      `${argument} is too short: give at least ${MIN_SECRET_BYTES} bytes (for example 'whsec_' and the base64 of 32 random bytes)`,
    )
  }
  return key
}

/** The HMAC of one delivery: over `${id}.${timestamp}.` and the body's bytes as sent. */
export function hmac(
  key: Buffer,
  id: string,
  timestamp: string,
  body: string | Uint8Array,
): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest()
}

export function positive(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(name, `${name} must be a whole number of at least ${min}`)
  }
  return value
}

/** One header's value, from a Fetch `Headers` or Node's incoming headers. */
function header(headers: Headers | IncomingHttpHeaders, name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) : headers[name]
  return Array.isArray(value) ? value[0] : (value ?? undefined)
}

/**
 * Checks a webhook as a receiver gets it: the raw body (exactly the bytes received, before any
 * JSON parsing), its headers and the shared secret. Refuses a timestamp more than `toleranceSec`
 * (default 300) from now, and a signature that matches none of the `v1,` ones given (compared in
 * constant time). Gives the parsed event, or throws {@link WebhookVerificationError}.
 *
 * @example
 * const event = verifyWebhook({ secret, headers: req.headers, body: rawBody })
 * if (event.type === 'token.reauthRequired') askForConsent(event.data.user)
 */
export function verifyWebhook(options: {
  secret: string
  headers: Headers | IncomingHttpHeaders
  body: string | Uint8Array
  toleranceSec?: number
  now?: () => number
}): WebhookEvent {
  refuseUnknownOptions('verifyWebhook', options, [
    'secret',
    'headers',
    'body',
    'toleranceSec',
    'now',
  ])
  const key = signingKey(options.secret, 'secret')
  const tolerance = positive(options.toleranceSec, 'toleranceSec', DEFAULT_TOLERANCE_SEC, 0)
  const id = header(options.headers, 'webhook-id')
  const timestamp = header(options.headers, 'webhook-timestamp')
  const signatures = header(options.headers, 'webhook-signature')
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError(
      'a webhook-id, webhook-timestamp or webhook-signature header is missing',
    )
  }
  const nowSec = Math.floor((options.now ?? Date.now)() / 1000)
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowSec - Number(timestamp)) > tolerance) {
    throw new WebhookVerificationError(
      `the webhook-timestamp is not within ${tolerance} s of now: a replay, or a clock that is off`,
    )
  }
  const { body } = options
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new InvalidArgumentError('body', 'body must be the raw body, a string or bytes')
  }
  const expected = hmac(key, id, timestamp, body)
  const matches = signatures.split(' ').some((candidate) => {
    if (!candidate.startsWith('v1,')) return false
    const given = Buffer.from(candidate.slice(3), 'base64')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  if (!matches) {
    throw new WebhookVerificationError(
      'no webhook-signature matches the body: a wrong secret, or a body changed on the way',
    )
  }
  try {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8')
    return JSON.parse(text) as WebhookEvent
  } catch {
    throw new WebhookVerificationError('the signed body is not JSON')
  }
}
