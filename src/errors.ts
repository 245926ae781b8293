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

/** The operations of a token store, as named in error messages. */
export type StoreOperation =
  | 'open'
  | 'findToken'
  | 'findTokenById'
  | 'saveToken'
  | 'deleteToken'
  | 'getTokens'
  | 'deleteTokens'
  | 'close'
  | 'lock'

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
    super(TokenStoreError.code, `${store}.${operation}: ${message}`, options)
    this.store = store
    this.operation = operation
  }
}

/** Says what an unknown thrown value was, for messages, without echoing data. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message
  }
  return String(cause)
}
