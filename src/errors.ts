import { scrub, scrubDriverText } from './log.js'
import { REDACTED } from './token.js'

/**
 * Errors with stable string codes. Every error tokenkeeper throws is an {@link SDKException};
 * callers branch on `err.code`, never on the message. Messages never contain a secret.
 *
 * @example
 * try {
 *   await store.saveToken(token)
 * } catch (err) {
 *   if (err instanceof SDKException && err.code === 'TOKEN_STORE') alert(err.message)
 * }
 */
export class SDKException extends Error {
  /** A stable machine-readable code, for example `'TOKEN_STORE'`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }
}

/**
 * A required token detail is missing or the combination is not usable
 * (for example a refresh token without a client id).
 */
export class MandatoryValueError extends SDKException {
  static readonly code = 'MANDATORY_VALUE_ERROR'
  constructor(message: string) {
    super(MandatoryValueError.code, message)
  }
}

/**
 * An argument of a public function has the wrong type or value. `argument` names it.
 *
 * @example
 * new OAuthToken({ expiryTime: '3600' }) // InvalidArgumentError: expiryTime must be a number ...
 */
export class InvalidArgumentError extends SDKException {
  static readonly code = 'INVALID_ARGUMENT'
  /** The argument (or option, or property) that was wrong. */
  readonly argument: string
  constructor(argument: string, message: string) {
    super(InvalidArgumentError.code, message)
    this.argument = argument
  }
}

/**
 * Refuses an option nobody reads, rather than ignoring it: a misspelt option must never leave a
 * default silently in force. The one rule for every public function that takes options; the
 * error names the option (after `prefix`, e.g. `'config.'`) and lists the known ones.
 */
export function refuseUnknownOptions(
  what: string,
  options: object,
  known: Iterable<string>,
  prefix = '',
  hint: (key: string) => string = () => '',
): void {
  const allowed = [...known]
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(
        `${prefix}${key}`,
        `${what} has no option '${key.slice(0, 40)}'${hint(key)}; it takes ${allowed.join(', ')}`,
      )
    }
  }
}

/** The operations of a token store, as named in error messages. */
export type StoreOperation =
  | 'open'
  | 'findToken'
  | 'findTokenById'
  | 'saveToken'
  | 'deleteToken'
  | 'getTokens'
  | 'findDueTokens'
  | 'deleteTokens'
  | 'close'
  | 'lock'
  | 'compact'
  | 'findHealth'
  | 'saveHealth'
  | 'takeBudget'

/**
 * A token store could not do what was asked: the backend failed, the data it holds is
 * unreadable, or the request would break one of its rules. `store` and `operation` say where;
 * the driver's own error, if any, is kept as `cause`.
 */
export class TokenStoreError extends SDKException {
  static readonly code = 'TOKEN_STORE'
  /** The store's name, for example `'FileStore'`. */
  readonly store: string
  /** The operation that failed. */
  readonly operation: StoreOperation

  constructor(
    store: string,
    operation: StoreOperation,
    message: string,
    options?: { cause?: unknown },
  ) {
    // The one place every store's driver error passes: the cause is made safe to show, and any
    // value it quoted is taken out of the message too, however the store built it.
    const removed = scrubCause(options?.cause)
    const cause = options?.cause
    super(
      TokenStoreError.code,
      `${store}.${operation}: ${scrub(message, removed)}`,
      typeof cause === 'string' ? { cause: scrubDriverText(cause) } : options,
    )
    this.store = store
    this.operation = operation
  }
}

/** The values taken out of each driver error already made safe (see {@link scrubCause}). */
const scrubbed = new WeakMap<object, Set<string>>()

/**
 * Makes a thrown value safe to show, in place, and returns the raw values it took out. A
 * driver's error keeps its class and its codes (`code`, `errno`, `sqlState`...), but every text
 * it carries (`message`, `stack`, MySQL's `sqlMessage` and `sql`, PostgreSQL's `detail`, `where`
 * and the rest) loses the values it quoted ({@link scrubDriverText}), and the arguments of a
 * Redis command (`command.args`) are dropped. Walks the cause chain and aggregated errors. Our
 * own errors ({@link SDKException}) are left as they are: they never quote a value.
 */
export function scrubCause(cause: unknown): Set<string> {
  const walk = (value: unknown, depth: number): Set<string> => {
    const found = new Set<string>()
    if (typeof value !== 'object' || value === null || depth > 10) return found
    const known = scrubbed.get(value)
    if (known) return known
    // Noted before the walk goes on, so that a cycle ends here.
    scrubbed.set(value, found)
    if (!(value instanceof SDKException) && (value instanceof Error || isErrorLike(value))) {
      scrubError(value as Error, found)
    }
    const inner = [(value as { cause?: unknown }).cause]
    if (value instanceof AggregateError) inner.push(...(value.errors as unknown[]))
    for (const next of inner) for (const fragment of walk(next, depth + 1)) found.add(fragment)
    return found
  }
  return new Set(walk(cause, 0))
}

/** A plain object thrown as an error (some drivers reject with one). */
function isErrorLike(value: object): boolean {
  return (
    Object.getPrototypeOf(value) === Object.prototype &&
    typeof (value as { message?: unknown }).message === 'string'
  )
}

/** Scrubs the texts of one foreign error in place, noting what it took out. */
function scrubError(err: Error, removed: Set<string>): void {
  // A system error (ENOENT, ECONNREFUSED...) quotes paths and addresses, not values.
  const system = typeof (err as { syscall?: unknown }).syscall === 'string'
  const clean = (text: string): string => (system ? scrub(text) : scrubDriverText(text, removed))
  const rawMessage = err.message
  for (const key of Object.getOwnPropertyNames(err)) {
    if (key === 'stack') continue
    const descriptor = Object.getOwnPropertyDescriptor(err, key)
    if (!descriptor || !('value' in descriptor) || !descriptor.writable) continue
    const field: unknown = descriptor.value
    if (typeof field === 'string') {
      const safe = clean(field)
      if (safe !== field) descriptor.value = safe
    } else if (key === 'command' && typeof field === 'object' && field !== null) {
      // ioredis keeps the command that failed, with its arguments: our keys and values.
      if ('args' in field) descriptor.value = { ...field, args: [REDACTED] }
    } else {
      continue
    }
    Object.defineProperty(err, key, descriptor)
  }
  const stack = Object.getOwnPropertyDescriptor(err, 'stack')
  if (stack && 'value' in stack && typeof stack.value === 'string' && stack.writable) {
    // The stack starts with the message as it was: put the clean one in its place.
    const safe = scrub(stack.value.split(rawMessage).join(err.message), removed)
    if (safe !== stack.value) Object.defineProperty(err, 'stack', { ...stack, value: safe })
  }
}

/**
 * Says what an unknown thrown value was, in one line for a message, without the values a driver
 * quoted (the thrown error itself is made safe to show too: see {@link scrubCause}).
 */
export function describeCause(cause: unknown): string {
  const removed = scrubCause(cause)
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message
  }
  return typeof cause === 'string' ? scrubDriverText(cause) : scrub(String(cause), removed)
}

/**
 * The accounts server refused a grant code, refresh token or client: `serverError` keeps its
 * `error` code (`invalid_code`, `invalid_grant`, `invalid_client`...), `errorDescription` its
 * explanation, `status` the HTTP status.
 */
export class InvalidTokenError extends SDKException {
  static readonly code = 'INVALID_TOKEN_ERROR'
  readonly serverError: string
  readonly errorDescription: string | undefined
  readonly status: number
  constructor(
    serverError: string,
    message: string,
    options: { status: number; errorDescription?: string | undefined },
  ) {
    super(InvalidTokenError.code, message)
    this.serverError = serverError
    this.errorDescription = options.errorDescription
    this.status = options.status
  }
}

/** The accounts server could not be reached, or did not answer in time, after every retry. */
export class NetworkError extends SDKException {
  static readonly code: string = 'NETWORK_ERROR'
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? NetworkError.code, message, options)
  }
}

/** The request timed out (after every retry). Also a {@link NetworkError}. */
export class TimeoutError extends NetworkError {
  static override readonly code = 'TIMEOUT_ERROR'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: TimeoutError.code })
  }
}

/** The server kept failing (HTTP 5xx) after every retry. */
export class ServerError extends SDKException {
  static readonly code = 'SERVER_ERROR'
  readonly status: number
  constructor(message: string, status: number) {
    super(ServerError.code, message)
    this.status = status
  }
}

/**
 * The server limits the rate: HTTP 429 after every retry, or Zoho's limit of 10 access tokens
 * per refresh token in 10 minutes. `retryAfterMs` says when to try again, when the server said.
 */
export class RateLimitError extends SDKException {
  static readonly code = 'RATE_LIMIT_ERROR'
  readonly retryAfterMs: number | undefined
  constructor(message: string, retryAfterMs?: number) {
    super(RateLimitError.code, message)
    this.retryAfterMs = retryAfterMs
  }
}

/**
 * A refresh or exchange would exceed the provider's budget on its token endpoint (counted in
 * the store for every process sharing it), and there is no valid token to answer instead:
 * nothing was sent. A {@link RateLimitError}, with `retryAfterMs`.
 */
export class BudgetExceededError extends RateLimitError {}

/**
 * The token's refresh token was refused for good by the accounts server (revoked,
 * `invalid_grant`, `invalid_code`): the token is kept, marked `reauth_required`, and not sent to
 * the server again until the user consents anew (a new grant replaces the refresh token).
 */
export class ReauthRequiredError extends SDKException {
  static readonly code = 'REAUTH_REQUIRED'
  /** The stored token's id. */
  readonly tokenId: string | undefined
  /** When the refresh token was refused (epoch ms). */
  readonly since: number
  constructor(tokenId: string | undefined, since: number, options?: { cause?: unknown }) {
    super(
      ReauthRequiredError.code,
      `token ${tokenId ?? '(no id)'} needs the user to sign in again: the accounts server refused its refresh token for good` +
        `${since > 0 ? ` at ${new Date(since).toISOString()}` : ''}; it is kept and not sent again until a new consent replaces it`,
      options,
    )
    this.tokenId = tokenId
    this.since = since
  }
}

/** The server's answer could not be understood (not JSON, an HTML page, no access token). */
export class InvalidResponseError extends SDKException {
  static readonly code = 'INVALID_RESPONSE'
  readonly status: number
  constructor(message: string, status: number) {
    super(InvalidResponseError.code, message)
    this.status = status
  }
}

/** The store has no token with the id the session was asked to load. */
export class TokenNotFoundError extends SDKException {
  static readonly code = 'TOKEN_NOT_FOUND'
  constructor(message: string) {
    super(TokenNotFoundError.code, message)
  }
}

/**
 * A request would send the access token to an origin its environment does not allow: a
 * token's `api_domain`, or a URL given to `fetch`, names another host, or plain http to a host
 * other than this machine. Nothing was sent. `origin` is the refused origin (undefined when the
 * value was not a URL), `environment` the environment's name. Allow an origin of your own with
 * `new Environment({ ..., allowedApiOrigins: [origin] })`.
 */
export class UntrustedOriginError extends SDKException {
  static readonly code = 'UNTRUSTED_ORIGIN'
  readonly origin: string | undefined
  readonly environment: string
  constructor(message: string, options: { origin: string | undefined; environment: string }) {
    super(UntrustedOriginError.code, message)
    this.origin = options.origin
    this.environment = options.environment
  }
}

/**
 * A request header could not be made: a value holds characters HTTP forbids (a control
 * character, a line break, a character beyond Latin-1). `header` names the header; the value
 * is never shown. Nothing was sent.
 */
export class InvalidHeaderError extends SDKException {
  static readonly code = 'INVALID_HEADER'
  readonly header: string
  constructor(header: string, message: string) {
    super(InvalidHeaderError.code, message)
    this.header = header
  }
}

/**
 * Maintenance found a token changed under it by a writer that does not take the token's lease
 * (`ids` says which); the token was kept as it is.
 */
export class TokenConflictError extends SDKException {
  static readonly code = 'TOKEN_CONFLICT'
  readonly ids: readonly string[]
  constructor(ids: string | readonly string[], message: string) {
    super(TokenConflictError.code, message)
    this.ids = typeof ids === 'string' ? [ids] : [...ids]
  }
}

/**
 * A copy would replace a token of another user or client stored under the same id (`ids` says
 * which); nothing was written.
 */
export class IdCollisionError extends SDKException {
  static readonly code = 'ID_COLLISION'
  readonly ids: readonly string[]
  constructor(ids: readonly string[], message: string) {
    super(IdCollisionError.code, message)
    this.ids = [...ids]
  }
}
