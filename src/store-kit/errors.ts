import { SDKException, TokenStoreError, describeCause, type StoreOperation } from '../errors.js'
import { scrub } from '../log.js'

/** How {@link wrapStoreError} words a backend's failure. */
export interface WrapOptions {
  /** Where the store is (`host:port/db.table`, a path), said first; never with a password. */
  readonly where?: string | undefined
  /** Says what the backend's error means in one line; default: its code and message. */
  readonly explain?: ((err: unknown) => string) | undefined
  /**
   * Values the store had in hand that the backend may have echoed (the token being saved):
   * taken out of the message and out of the backend's error itself.
   */
  readonly secrets?: Iterable<string | undefined> | undefined
}

/**
 * Turns anything a backend threw into the `TokenStoreError` a store raises, the one place it is
 * written: tokenkeeper's own errors (`TokenStoreError`, `InvalidArgumentError`,
 * `EncryptionError`, every `SDKException`) pass through unchanged, since they are already worded
 * and never quote a value; anything else becomes a `TokenStoreError` naming the store and the
 * operation, with the backend's error kept as `cause`. The message and the cause are scrubbed:
 * values a driver quoted, token-shaped text, URL passwords, and the given `secrets`.
 *
 * @example
 * try {
 *   await kv.put(key, value)
 * } catch (err) {
 *   throw wrapStoreError('NatsKvStore', 'saveToken', err, { where: 'nats://127.0.0.1:4222/tokens' })
 * }
 */
export function wrapStoreError(
  store: string,
  operation: StoreOperation,
  err: unknown,
  options: WrapOptions = {},
): SDKException {
  if (err instanceof SDKException) return err
  // No check of length here: scrub leaves out secrets under 4 characters.
  const secrets = [...(options.secrets ?? [])].filter((s): s is string => typeof s === 'string')
  scrubSecretsFrom(err, secrets)
  const explained = options.explain ? options.explain(err) : describeCause(err)
  const message = options.where ? `${options.where}: ${explained}` : explained
  // TokenStoreError scrubs the message and the cause's driver text on its own; the secrets
  // known here are taken out first, since no pattern could recognise them.
  return new TokenStoreError(store, operation, scrub(message, secrets), { cause: err })
}

/**
 * Runs one backend call of `operation`; whatever it throws comes out through
 * {@link wrapStoreError}.
 *
 * @example
 * const entry = await storeCall('NatsKvStore', 'findTokenById', () => kv.get(key))
 */
export async function storeCall<T>(
  store: string,
  operation: StoreOperation,
  body: () => Promise<T> | T,
  options?: WrapOptions,
): Promise<T> {
  try {
    return await body()
  } catch (err) {
    throw wrapStoreError(store, operation, err, options)
  }
}

/** Removes known values from the texts of a thrown error and its causes, in place. */
function scrubSecretsFrom(err: unknown, secrets: readonly string[], depth = 0): void {
  if (typeof err !== 'object' || err === null || depth > 10 || err instanceof SDKException) return
  for (const key of ['message', 'stack'] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(err, key)
    if (!descriptor || !descriptor.writable || typeof descriptor.value !== 'string') continue
    Object.defineProperty(err, key, { ...descriptor, value: scrub(descriptor.value, secrets) })
  }
  scrubSecretsFrom((err as { cause?: unknown }).cause, secrets, depth + 1)
}
