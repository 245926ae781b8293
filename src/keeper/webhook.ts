// Signed webhooks of token state changes, in the Standard Webhooks format (the scheme of Svix,
// close to Stripe's): the sender signs `${id}.${timestamp}.${body}` with HMAC-SHA256, the
// receiver checks the signature in constant time and refuses an old timestamp, which stops a
// captured delivery from being replayed later. The body never carries a secret: a token's id,
// its user and its state, nothing a receiver could use to call an API.
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import pRetry from 'p-retry'
import { InvalidArgumentError, SDKException, refuseUnknownOptions } from '../errors.js'
import { scrub } from '../log.js'
import { isLoopback } from '../oauth/environments.js'
import {
  hmac,
  positive,
  signingKey,
  type WebhookEvent,
  type WebhookEventData,
  type WebhookEventType,
} from './webhook-signature.js'

export { verifyWebhook, WebhookVerificationError } from './webhook-signature.js'
export type { WebhookEvent, WebhookEventData, WebhookEventType } from './webhook-signature.js'

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  /** Where to POST: https, or http to this machine only (localhost, 127.0.0.0/8, ::1). */
  url: string
  /**
   * The signing key: `whsec_` then base64 (Standard Webhooks' form), or any other string of at
   * least 24 characters, used as its UTF-8 bytes. Never sent, logged or shown.
   */
  secret: string
  /** How many times to try a delivery in all; default 5. */
  attempts?: number
  /** How long one attempt may take, in milliseconds; default 10 000. */
  timeoutMs?: number
  /** The wait before the first retry, doubled each time and randomised (×1 to ×2); default 1000. */
  minDelayMs?: number
  /** The longest wait between two attempts; default 60 000. */
  maxDelayMs?: number
  /**
   * How many requests may be in flight at once; default 8. A storm of state changes (the
   * accounts server down for every token) is queued rather than sent all at once.
   */
  concurrency?: number
  /** Certificates (PEM) trusted for an https URL instead of the system's, for a private CA. */
  ca?: string | readonly string[]
  /** The clock for `webhook-timestamp` and `occurredAt`, epoch milliseconds; default `Date.now`. */
  now?: () => number
}

const OPTION_KEYS = [
  'url',
  'secret',
  'attempts',
  'timeoutMs',
  'minDelayMs',
  'maxDelayMs',
  'concurrency',
  'ca',
  'now',
] as const
const DATA_KEYS = ['tokenId', 'user', 'state', 'attempts', 'nextAttemptAt', 'lastErrorCode']
const EVENT_TYPES: readonly string[] = ['token.failing', 'token.recovered', 'token.reauthRequired']
const STATES: readonly string[] = ['active', 'failing', 'reauth_required']

/**
 * A delivery given up: every attempt failed, or the receiver answered with a status that no
 * retry changes (a redirect, which is never followed, or a 4xx other than 429). Names the
 * receiver by its origin alone: a webhook URL's path often holds a secret of its own.
 */
export class WebhookDeliveryError extends SDKException {
  static readonly code = 'WEBHOOK_DELIVERY_FAILED'
  constructor(
    message: string,
    /** The event's id. */
    readonly eventId: string,
    /** How many attempts were made. */
    readonly attempts: number,
    /** The last HTTP status, when the receiver answered. */
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(WebhookDeliveryError.code, message, options)
  }
}

/** One attempt's failure, and whether another attempt may do better. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options)
    this.retryAfterMs = options?.retryAfterMs
  }
  /** How long the receiver asked to wait (`Retry-After` of a 429 or 503). */
  readonly retryAfterMs: number | undefined
}

/** A `Retry-After` header (seconds, or an HTTP date) in milliseconds from `now`. */
function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** The optional fields of an event's data, checked: their types, and nothing shaped like a secret. */
function checkData(data: WebhookEventData): void {
  const { attempts, nextAttemptAt } = data
  if (attempts !== undefined && (!Number.isInteger(attempts) || attempts < 0)) {
    throw new InvalidArgumentError('data.attempts', 'data.attempts must be a whole number')
  }
  if (nextAttemptAt !== undefined && Number.isNaN(Date.parse(nextAttemptAt))) {
    throw new InvalidArgumentError(
      'data.nextAttemptAt',
      'data.nextAttemptAt must be an ISO 8601 date',
    )
  }
  for (const key of ['tokenId', 'user', 'nextAttemptAt', 'lastErrorCode'] as const) {
    const value = data[key]
    if (value === undefined) continue
    if (typeof value !== 'string') {
      throw new InvalidArgumentError(`data.${key}`, `data.${key} must be a string`)
    }
    // The log's rule for what a secret looks like (a Zoho token, a credential, a Bearer value).
    if (scrub(value) !== value) {
      throw new InvalidArgumentError(
        `data.${key}`,
        `data.${key} looks like a secret (a token or a credential): a webhook never carries one`,
      )
    }
  }
}

/** The receiver's URL, checked: https, or http to this machine; no user name or password. */
function receiverUrl(value: unknown): URL {
  if (typeof value !== 'string' || !URL.canParse(value)) {
    throw new InvalidArgumentError('url', 'url must be an absolute URL, such as https://host/hook')
  }
  const url = new URL(value)
  if (url.username !== '' || url.password !== '') {
    throw new InvalidArgumentError('url', 'url must not hold a user name or password')
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url))) return url
  throw new InvalidArgumentError(
    'url',
    `url must be https (plain http only to this machine: localhost, 127.0.0.0/8, ::1); got ${url.protocol}//${url.host}`,
  )
}

/** The events of a {@link WebhookSender}. */
export interface WebhookSenderEvents {
  /** A delivery was answered 2xx. */
  delivered: [{ event: WebhookEvent; attempts: number; status: number }]
  /** A delivery was given up (the promise of `send` rejects with the same error). */
  failed: [{ event: WebhookEvent; error: WebhookDeliveryError }]
}

/**
 * Sends signed webhooks: an HTTPS POST of a JSON {@link WebhookEvent} with the headers
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64
 * HMAC-SHA256 of `${id}.${timestamp}.${body}`). A network error, a timeout, HTTP 5xx or 429 is
 * tried again after a growing, randomised wait; a redirect is never followed (it would send the
 * event where the receiver did not say), and neither it nor another 4xx is tried again.
 *
 * @example
 * const webhooks = new WebhookSender({ url: 'https://ops.example/hooks/tokens', secret })
 * webhooks.on('failed', ({ error }) => log.warn(error.message))
 * await webhooks.send({
 *   type: 'token.reauthRequired',
 *   data: { tokenId: '42', user: 'ada@zylker.example', state: 'reauth_required', lastErrorCode: 'invalid_code' },
 * })
 */
export class WebhookSender extends EventEmitter<WebhookSenderEvents> {
  readonly #key: Buffer
  readonly #url: URL
  readonly #attempts: number
  readonly #timeoutMs: number
  readonly #minDelayMs: number
  readonly #maxDelayMs: number
  readonly #ca: string | readonly string[] | undefined
  readonly #now: () => number
  readonly #closing = new AbortController()
  readonly #concurrency: number
  #inFlight = 0
  readonly #queue: Array<() => void> = []

  constructor(options: WebhookSenderOptions) {
    super()
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options', 'WebhookSender takes an options object')
    }
    refuseUnknownOptions('WebhookSender', options, OPTION_KEYS)
    this.#url = receiverUrl(options.url)
    this.#key = signingKey(options.secret, 'secret')
    this.#attempts = positive(options.attempts, 'attempts', 5, 1)
    this.#timeoutMs = positive(options.timeoutMs, 'timeoutMs', 10_000, 1)
    this.#minDelayMs = positive(options.minDelayMs, 'minDelayMs', 1000, 0)
    this.#maxDelayMs = positive(options.maxDelayMs, 'maxDelayMs', 60_000, 0)
    this.#concurrency = positive(options.concurrency, 'concurrency', 8, 1)
    const { ca } = options
    if (ca !== undefined && typeof ca !== 'string' && !Array.isArray(ca)) {
      throw new InvalidArgumentError('ca', 'ca must be a PEM string or an array of them')
    }
    this.#ca = ca
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new InvalidArgumentError('now', 'now must be a function giving epoch milliseconds')
    }
    this.#now = options.now ?? Date.now
  }

  /** Where deliveries go, as errors name it: the origin alone. */
  get receiver(): string {
    return this.#url.origin
  }

  /**
   * Delivers one event, retrying as the options say. Resolves once the receiver answered 2xx;
   * rejects with {@link WebhookDeliveryError} (and emits `failed`) when it gives up.
   */
  async send(input: {
    type: WebhookEventType
    data: WebhookEventData
    id?: string
    occurredAt?: Date
  }): Promise<WebhookEvent> {
    const event = this.#event(input)
    const body = JSON.stringify(event)
    let attempts = 0
    try {
      const status = await pRetry(
        () => {
          attempts += 1
          return this.#limited(() => this.#post(event.id, body))
        },
        {
          retries: this.#attempts - 1,
          minTimeout: this.#minDelayMs,
          maxTimeout: this.#maxDelayMs,
          factor: 2,
          randomize: true,
          signal: this.#closing.signal,
          shouldRetry: ({ error }) => error instanceof AttemptError && error.retryable,
          // The receiver's Retry-After, up to maxDelayMs, on top of the backoff's own wait.
          onFailedAttempt: async ({ error, retriesLeft }) => {
            if (!(error instanceof AttemptError) || !error.retryable || retriesLeft === 0) return
            if (error.retryAfterMs === undefined) return
            await sleep(Math.min(error.retryAfterMs, this.#maxDelayMs), undefined, {
              signal: this.#closing.signal,
            })
          },
        },
      )
      this.emit('delivered', { event, attempts, status })
      return event
    } catch (err) {
      const last = err instanceof AttemptError ? err : undefined
      const why =
        last?.message ?? (this.#closing.signal.aborted ? 'the sender was closed' : 'it failed')
      const error = new WebhookDeliveryError(
        `webhook ${event.type} (${event.id}) to ${this.receiver} given up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${why}`,
        event.id,
        attempts,
        last?.status,
        last?.cause === undefined ? undefined : { cause: last.cause },
      )
      this.emit('failed', { event, error })
      throw error
    }
  }

  /** Stops every delivery waiting for a retry: each gives up with a {@link WebhookDeliveryError}. */
  close(): void {
    this.#closing.abort()
  }

  /** The event, checked: a known type, the data's known fields only (never a token value). */
  #event(input: {
    type: WebhookEventType
    data: WebhookEventData
    id?: string
    occurredAt?: Date
  }): WebhookEvent {
    refuseUnknownOptions('send', input, ['type', 'data', 'id', 'occurredAt'])
    if (!EVENT_TYPES.includes(input.type)) {
      throw new InvalidArgumentError('type', `type must be one of ${EVENT_TYPES.join(', ')}`)
    }
    const { data } = input
    if (typeof data !== 'object' || data === null) {
      throw new InvalidArgumentError('data', 'data must be an object')
    }
    // Unknown fields refused: a token value or a secret has no way into the body.
    refuseUnknownOptions('send', data, DATA_KEYS, 'data.')
    if (typeof data.tokenId !== 'string' || data.tokenId === '') {
      throw new InvalidArgumentError('data.tokenId', 'data.tokenId must be a non-empty string')
    }
    if (!STATES.includes(data.state)) {
      throw new InvalidArgumentError('data.state', `data.state must be one of ${STATES.join(', ')}`)
    }
    checkData(data)
    const occurredAt = input.occurredAt ?? new Date(this.#now())
    if (!(occurredAt instanceof Date) || Number.isNaN(occurredAt.getTime())) {
      throw new InvalidArgumentError('occurredAt', 'occurredAt must be a valid Date')
    }
    // Sent as a header: printable, without spaces, and short.
    if (input.id !== undefined && !/^[\w.:-]{1,100}$/.test(input.id)) {
      throw new InvalidArgumentError('id', 'id must be 1 to 100 letters, digits or _ . : -')
    }
    return {
      type: input.type,
      id: input.id ?? `msg_${randomUUID().replaceAll('-', '')}`,
      occurredAt: occurredAt.toISOString(),
      data: { ...data },
    }
  }

  /** Runs `attempt` once fewer than `concurrency` attempts are in flight. */
  async #limited<T>(attempt: () => Promise<T>): Promise<T> {
    // A finished attempt hands its slot to the next in the queue, so that a newcomer cannot
    // take it in between and go past the limit.
    if (this.#inFlight >= this.#concurrency) {
      await new Promise<void>((resolve) => this.#queue.push(resolve))
    } else {
      this.#inFlight += 1
    }
    try {
      return await attempt()
    } finally {
      const next = this.#queue.shift()
      if (next === undefined) this.#inFlight -= 1
      else next()
    }
  }

  /** One attempt: resolves with a 2xx status, else rejects with an {@link AttemptError}. */
  #post(id: string, body: string): Promise<number> {
    const timestamp = String(Math.floor(this.#now() / 1000))
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': `v1,${hmac(this.#key, id, timestamp, body).toString('base64')}`,
    }
    const signal = AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#closing.signal])
    const https = this.#url.protocol === 'https:'
    const ca = typeof this.#ca === 'string' || this.#ca === undefined ? this.#ca : [...this.#ca]
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        this.#url,
        { method: 'POST', headers, signal, ...(https && ca !== undefined ? { ca } : {}) },
        (res) => {
          // The answer's body is not read: nothing in it changes what happens next.
          res.resume()
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) return resolve(status)
          const retryable = status === 429 || status >= 500
          const what =
            status >= 300 && status < 400
              ? `answered a redirect (HTTP ${status}), which is never followed: give the final URL`
              : `answered HTTP ${status}`
          const after = retryAfterMs(res.headers['retry-after'], Date.now())
          reject(
            new AttemptError(`the receiver ${what}`, retryable, status, {
              ...(after === undefined ? {} : { retryAfterMs: after }),
            }),
          )
        },
      )
      req.on('error', (err: NodeJS.ErrnoException) => {
        const timedOut = signal.aborted && !this.#closing.signal.aborted
        const message = timedOut
          ? `no answer within ${this.#timeoutMs} ms`
          : `the request failed (${err.code ?? err.name})`
        // A TLS failure (an untrusted certificate) will fail the same way again.
        const tls = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(err.code ?? '')
        reject(new AttemptError(message, !tls, undefined, { cause: err }))
      })
      req.end(body)
    })
  }

  /** Shows where it sends, never the key. */
  [inspect.custom](): string {
    return `WebhookSender { receiver: '${this.receiver}', attempts: ${this.#attempts} }`
  }

  toJSON(): { receiver: string } {
    return { receiver: this.receiver }
  }
}
