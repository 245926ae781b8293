import { AsyncLocalStorage } from 'node:async_hooks'
import { SDKException } from './errors.js'
import type { OAuthToken } from './token.js'

/**
 * How sealed values begin: `tk1.` (values sealed alone, the first format) and `tk2.` (values
 * bound to their column, rows bound by a seal in `api_domain`). See docs/encryption.md.
 */
export const FORMAT_V1 = 'tk1.'
export const FORMAT_V2 = 'tk2.'

/** A stored value cannot be decrypted: its key is not configured, or it is not the right one. */
export class EncryptionError extends SDKException {
  static readonly code = 'ENCRYPTION_ERROR'
  constructor(message: string, options?: { cause?: unknown }) {
    super(EncryptionError.code, message, options)
  }
}

/** Whether a stored value is sealed (by any format, with any key). */
export function isSealed(value: string | null | undefined): value is string {
  return (
    typeof value === 'string' &&
    value.charCodeAt(0) === 116 /* t */ &&
    (value.startsWith(FORMAT_V2) || value.startsWith(FORMAT_V1))
  )
}

/** The fields a sealed row holds sealed, and their columns: the secrets and the row seal. */
const SEALABLE = [
  ['clientSecret', 'client_secret'],
  ['refreshToken', 'refresh_token'],
  ['accessToken', 'access_token'],
  ['grantToken', 'grant_token'],
  ['apiDomain', 'api_domain'],
] as const

/** The encryption wrapper's inner calls: they alone may turn sealed rows into tokens. */
const opening = new AsyncLocalStorage<true>()

/**
 * Runs `work` (a call to the store under the encryption wrapper) so that the rows it reads may
 * hold sealed values: the wrapper opens them before anyone sees them. The mark follows the call
 * through its awaits. One limit: a store object used both bare and through `withEncryption` at
 * once may run a write it batches (FileStore) under the mark of whichever call started the batch.
 */
export function withSealedRows<T>(work: () => T): T {
  return opening.run(true, work)
}

/** Whether the current call is the encryption wrapper's (see {@link withSealedRows}). */
export function sealedRowsAllowed(): boolean {
  return opening.getStore() === true
}

/**
 * The guard of every store: a token read from a row that holds sealed values is refused with an
 * EncryptionError unless the encryption wrapper is reading it. A store opened without keys
 * therefore never hands out ciphertext as if it were a token (never revokes, refreshes,
 * prints or saves it back).
 */
export function refuseSealed(token: OAuthToken): OAuthToken {
  // Written out field by field: this runs for every row every store reads.
  if (
    !isSealed(token.clientSecret) &&
    !isSealed(token.refreshToken) &&
    !isSealed(token.accessToken) &&
    !isSealed(token.grantToken) &&
    !isSealed(token.apiDomain)
  ) {
    return token
  }
  if (sealedRowsAllowed()) return token
  const [, column] = SEALABLE.find(([field]) => isSealed(token[field]))!
  throw new EncryptionError(
    `token ${token.id ?? '(no id)'} is encrypted (its ${column} is sealed) and this store was ` +
      'opened without encryption keys: open it with { encryption: { keys, activeKeyId } }',
  )
}

/**
 * The write side of the guard, for a save outside the encryption wrapper: a store without keys
 * refuses to replace a row that holds sealed values (it would store secrets in the clear over
 * them, and lose them).
 */
export function refuseOverwrite(
  id: string,
  row: { readonly [column: string]: string | null } | undefined,
): void {
  if (row === undefined) return
  const sealed = SEALABLE.find(([, column]) => isSealed(row[column]))
  if (sealed === undefined) return
  throw new EncryptionError(
    `token ${id} is encrypted (its ${sealed[1]} is sealed) and this store was opened without ` +
      'encryption keys: it is not overwritten; open the store with { encryption: { keys, activeKeyId } }',
  )
}

/** How the encryption wrapper seals a row for the id the store chose. */
export type RowFinisher = (token: OAuthToken, id: string) => OAuthToken

/** The encryption wrapper's sealing of a row for its id, during the store call it makes. */
const finishing = new AsyncLocalStorage<RowFinisher>()

/**
 * Runs `work` (a save through the store under the encryption wrapper) so that the row the
 * store writes is finished by `finish` once the store has chosen its id: the row seal covers
 * the id, and a new row's id is only known inside the store's lock or transaction. A store
 * that batches writes captures the finisher per save (see {@link currentRowFinisher}) and runs
 * each save under its own (`undefined` for none).
 */
export function withRowFinisher<T>(finish: RowFinisher | undefined, work: () => T): T {
  return finishing.run(finish as RowFinisher, work)
}

/** The finisher of the current save, to carry into a batched write (see {@link withRowFinisher}). */
export function currentRowFinisher(): RowFinisher | undefined {
  return finishing.getStore()
}

/** The token as row `id` stores it: finished by the wrapper's finisher when there is one. */
export function finishRow(token: OAuthToken, id: string): OAuthToken {
  const finish = finishing.getStore()
  return finish ? finish(token, id) : token
}
