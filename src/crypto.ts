import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto'
import { InvalidArgumentError, refuseUnknownOptions } from './errors.js'
import { keyBytes } from './keys.js'
import { EncryptionError, FORMAT_V1, FORMAT_V2 } from './sealed.js'
import { type LookupColumn } from './store/matching.js'
import { rowFromToken } from './store/rows.js'
import type { OAuthToken } from './token.js'

export { EncryptionError } from './sealed.js'

/**
 * Encryption at rest, as every persistent store accepts it: 32-byte keys by id, and the id of
 * the key new values are written with. Keep older keys listed until `rekey()` has moved every
 * row to the active one.
 *
 * @example
 * const encryption = { keys: { k2: process.env.TOKEN_KEY_2!, k1: process.env.TOKEN_KEY_1! }, activeKeyId: 'k2' }
 * const store = new SQLiteStore({ path: 'zohooauth.db', encryption })
 */
export interface EncryptionOptions {
  /** Keys by id: 32 random bytes each, as a Buffer or a base64 string. */
  readonly keys: Readonly<Record<string, Buffer | Uint8Array | string>>
  /** The key that new values are encrypted with. */
  readonly activeKeyId: string
  /**
   * Whether rows without a row seal are read: rows stored in the clear (before encryption was
   * turned on) and rows sealed by the first format, `tk1`, whose values are not bound to their
   * row. Default `true`, so that turning encryption on and upgrading lose nothing; set it to
   * `false` once `rekey()` has moved every row forward: then a row that someone with write access
   * to the backend put there in the clear, or restored from an old `tk1` copy, is refused.
   */
  readonly acceptLegacyRows?: boolean
}

const OPTIONS: ReadonlySet<string> = new Set(['keys', 'activeKeyId', 'acceptLegacyRows'])
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/
const NONCE = 12
const TAG = 16

interface DerivedKey {
  readonly id: string
  /** Format tk1: read, and sought by lookups, never written. */
  readonly v1: { readonly encryption: Buffer; readonly mac: Buffer }
  readonly v2: { readonly encryption: Buffer; readonly mac: Buffer }
  /** `tk2.<id>.`, the beginning of this key's values. */
  readonly mark: string
  /** What each secret column's values are bound to (see {@link valueAad}), made once. */
  readonly columns: ReadonlyMap<string, { readonly aad: Buffer; readonly framed: Buffer }>
}

/** The secret fields of a token and the columns that hold them. */
const SECRETS = [
  ['clientSecret', 'client_secret'],
  ['refreshToken', 'refresh_token'],
  ['accessToken', 'access_token'],
  ['grantToken', 'grant_token'],
] as const

function derive(secret: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `tokenkeeper ${purpose}`, 32))
}

/**
 * AES-256-GCM with a synthetic nonce: the nonce is an HMAC of what is sealed, so one input
 * always seals the same way (lookups by value work on ciphertext), and two different inputs
 * never share a nonce. `nonceInput` is what the HMAC covers besides the value.
 */
function sivSeal(
  key: { encryption: Buffer; mac: Buffer },
  mark: string,
  aad: Buffer,
  nonceInput: Buffer | undefined,
  value: string,
): string {
  // Stryker disable next-line StringLiteral: Buffer.from reads an empty encoding as utf8, its default
  const plain = Buffer.from(value, 'utf8')
  const hmac = createHmac('sha256', key.mac)
  if (nonceInput !== undefined) hmac.update(nonceInput)
  const nonce = hmac.update(plain).digest().subarray(0, NONCE)
  const cipher = createCipheriv('aes-256-gcm', key.encryption, nonce)
  cipher.setAAD(aad)
  const body = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()])
  return `${mark}${body.toString('base64url')}`
}

/** Opens the body of a sealed value; throws (the caller names the value) when it does not open. */
function sivOpen(key: { encryption: Buffer }, aad: Buffer, body: string): string {
  const bytes = Buffer.from(body, 'base64url')
  if (bytes.length < NONCE + TAG) throw new Error('too short')
  const decipher = createDecipheriv('aes-256-gcm', key.encryption, bytes.subarray(0, NONCE))
  decipher.setAAD(aad)
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG))
  return Buffer.concat([
    decipher.update(bytes.subarray(NONCE, bytes.length - TAG)),
    decipher.final(),
  ]).toString('utf8')
}

/** The length-prefixed associated data, as the nonce HMAC covers it. */
function framed(aad: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(aad.length)
  return Buffer.concat([length, aad])
}

/** What a tk2 value is bound to: the format, its key and its column. */
function valueAad(keyId: string, column: string): Buffer {
  return Buffer.from(JSON.stringify(['tk2', keyId, column]))
}

/**
 * What the row seal is bound to: the format, its key, and every other column of the row as
 * stored (id, user name, client id, the sealed secrets, expiry, redirect URL).
 */
function rowAad(keyId: string, id: string, stored: OAuthToken): Buffer {
  const row = rowFromToken(stored, id)
  return Buffer.from(
    JSON.stringify([
      'tk2',
      keyId,
      'api_domain',
      row.id,
      row.user_name,
      row.client_id,
      row.client_secret,
      row.refresh_token,
      row.access_token,
      row.grant_token,
      row.expiry_time,
      row.redirect_url,
    ]),
  )
}

/**
 * Seals tokens for storage. Each secret is sealed with AES-256-GCM under a synthetic nonce and
 * bound to its column (`tk2.<keyId>.<base64url(nonce | ciphertext | tag)>`): one value in one
 * column under one key always seals the same way, so lookups by token value work on ciphertext,
 * and a value copied into another column does not open. The row is bound by its seal, kept in
 * `api_domain`: the API domain sealed with the row's id and every other stored value as
 * associated data, so a value moved to another row, a row given another id, or a changed
 * `api_domain`, `user_name`, `client_id`, expiry or redirect URL does not open either.
 * Values of the first format (`tk1`, bound to nothing) are still read. See docs/encryption.md.
 */
export class TokenCipher {
  readonly #keys = new Map<string, DerivedKey>()
  readonly #active: DerivedKey
  /** Whether rows without a row seal are read (see {@link EncryptionOptions.acceptLegacyRows}). */
  readonly acceptLegacyRows: boolean

  constructor(options: EncryptionOptions) {
    if (
      typeof options !== 'object' ||
      options === null ||
      typeof options.keys !== 'object' ||
      options.keys === null
    ) {
      throw new InvalidArgumentError(
        'encryption',
        'encryption must be { keys: { [keyId]: key }, activeKeyId }',
      )
    }
    refuseUnknownOptions('encryption', options, OPTIONS, 'encryption.')
    const { acceptLegacyRows = true } = options
    if (typeof acceptLegacyRows !== 'boolean') {
      throw new InvalidArgumentError(
        'encryption.acceptLegacyRows',
        'encryption.acceptLegacyRows must be true or false',
      )
    }
    this.acceptLegacyRows = acceptLegacyRows
    const seen = new Map<string, string>()
    for (const [id, key] of Object.entries(options.keys)) {
      if (!KEY_ID.test(id)) {
        throw new InvalidArgumentError(
          'encryption.keys',
          `key id '${id.slice(0, 40)}' must be 1 to 32 letters, digits, _ or -`,
        )
      }
      const secret = keyBytes(id, key)
      const twin = seen.get(secret.toString('hex'))
      if (twin !== undefined) {
        throw new InvalidArgumentError(
          `encryption.keys.${id}`,
          `encryption keys '${twin}' and '${id}' are the same key: each id needs its own random key`,
        )
      }
      seen.set(secret.toString('hex'), id)
      this.#keys.set(id, {
        id,
        v1: { encryption: derive(secret, 'aes-256-gcm'), mac: derive(secret, 'synthetic iv') },
        v2: {
          encryption: derive(secret, 'tk2 aes-256-gcm'),
          mac: derive(secret, 'tk2 synthetic iv'),
        },
        mark: `${FORMAT_V2}${id}.`,
        columns: new Map(
          SECRETS.map(([, column]) => {
            const aad = valueAad(id, column)
            return [column, { aad, framed: framed(aad) }]
          }),
        ),
      })
    }
    const active = this.#keys.get(options.activeKeyId)
    if (!active) {
      throw new InvalidArgumentError(
        'encryption.activeKeyId',
        `activeKeyId '${String(options.activeKeyId).slice(0, 40)}' is not among the keys`,
      )
    }
    this.#active = active
  }

  /** The id of the key new values are sealed with. */
  get activeKeyId(): string {
    return this.#active.id
  }

  /** Seals one secret column's value (format tk2). */
  #sealV2(column: string, value: string, key: DerivedKey): string {
    const bound = key.columns.get(column)!
    return sivSeal(key.v2, key.mark, bound.aad, bound.framed, value)
  }

  /** A value as the first format (tk1) sealed it: sought by lookups, never written. */
  #sealV1(value: string, key: DerivedKey): string {
    const mark = `${FORMAT_V1}${key.id}`
    return sivSeal(key.v1, `${mark}.`, Buffer.from(mark), undefined, value)
  }

  /**
   * What a lookup value may be stored as in its column: sealed with each key (the active one
   * first); then, while legacy rows are accepted, as tk1 with each key, and in the clear.
   */
  candidates(column: Exclude<LookupColumn, 'user_name'>, value: string): string[] {
    const keys = [this.#active, ...[...this.#keys.values()].filter((k) => k !== this.#active)]
    const current = keys.map((key) => this.#sealV2(column, value, key))
    if (!this.acceptLegacyRows) return current
    return [...current, ...keys.map((key) => this.#sealV1(value, key)), value]
  }

  /** Whether a stored row is sealed, in the current format, with the active key. */
  isCurrent(stored: OAuthToken): boolean {
    return stored.apiDomain?.startsWith(this.#active.mark) === true
  }

  /** A copy of the token as row `id` stores it: secrets sealed, the row seal in `apiDomain`. */
  sealRow(token: OAuthToken, id: string): OAuthToken {
    return this.sealRowFor(this.sealSecrets(token), id)
  }

  /**
   * The first half of {@link sealRow}, for a row whose id the store chooses: a copy with the
   * secrets sealed and `apiDomain` still open. Never store it as it is: finish it with
   * {@link sealRowFor} once the id is known.
   */
  sealSecrets(token: OAuthToken): OAuthToken {
    const sealed = token.clone()
    for (const [field, column] of SECRETS) {
      const value = sealed[field]
      if (value) sealed[field] = this.#sealV2(column, value, this.#active)
    }
    return sealed
  }

  /** The second half of {@link sealRow}: a copy under `id`, with the row seal in `apiDomain`. */
  sealRowFor(secretsSealed: OAuthToken, id: string): OAuthToken {
    const sealed = secretsSealed.clone()
    sealed.id = id
    const key = this.#active
    const aad = rowAad(key.id, id, sealed)
    sealed.apiDomain = sivSeal(key.v2, key.mark, aad, framed(aad), secretsSealed.apiDomain ?? '')
    return sealed
  }

  /**
   * A copy of a stored row with its values opened, after checking that they belong together:
   * a value moved between rows or columns, or a changed row, is an EncryptionError.
   */
  openRow(stored: OAuthToken): OAuthToken {
    const what = `token ${stored.id ?? '(no id)'}`
    // A copy: rekey and conditional saves still need the stored token as it is.
    const opened = stored.clone()
    const seal = stored.apiDomain
    if (seal?.startsWith(FORMAT_V2)) {
      const { key, body } = this.#parse(seal, FORMAT_V2, `the row seal (api_domain) of ${what}`)
      const { mark } = key
      for (const [field, column] of SECRETS) {
        const value = stored[field]
        if (value && !value.startsWith(mark)) {
          throw new EncryptionError(
            `the ${column} of ${what} is not sealed with the key of its row ('${key.id}'): the row was altered`,
          )
        }
      }
      const domain = this.#open(
        () => sivOpen(key.v2, rowAad(key.id, stored.id ?? '', stored), body),
        key.id,
        `the row seal (api_domain) of ${what}`,
      )
      opened.apiDomain = domain.length > 0 ? domain : undefined
      for (const [field, column] of SECRETS) {
        const value = stored[field]
        if (!value) continue
        opened[field] = this.#open(
          () => sivOpen(key.v2, key.columns.get(column)!.aad, value.slice(mark.length)),
          key.id,
          `the ${column} of ${what}`,
        )
      }
      return opened
    }
    const bound = SECRETS.find(([field]) => stored[field]?.startsWith(FORMAT_V2))
    if (bound) {
      throw new EncryptionError(
        `the ${bound[1]} of ${what} belongs to a sealed row, but the row seal (api_domain) is ` +
          'missing or was replaced: the row was altered',
      )
    }
    if (!this.acceptLegacyRows) {
      throw new EncryptionError(
        `${what} has no row seal (it is stored in the clear or in the first format, tk1) and ` +
          'encryption.acceptLegacyRows is false: it is not used. Restore it from a trusted ' +
          'copy, or delete it and sign the user in again',
      )
    }
    for (const field of [...SECRETS.map(([f]) => f), 'apiDomain'] as const) {
      const value = stored[field]
      if (!value?.startsWith(FORMAT_V1)) continue
      const { key, body } = this.#parse(value, FORMAT_V1, `the ${field} of ${what}`)
      const aad = Buffer.from(`${FORMAT_V1}${key.id}`)
      opened[field] = this.#open(
        () => sivOpen(key.v1, aad, body),
        key.id,
        `the ${field} of ${what}`,
      )
    }
    return opened
  }

  /** The key and body of a sealed value; a key that is not configured is an EncryptionError. */
  #parse(value: string, format: string, what: string): { key: DerivedKey; body: string } {
    const dot = value.indexOf('.', format.length)
    const id = dot > 0 ? value.slice(format.length, dot) : ''
    const key = dot > 0 ? this.#keys.get(id) : undefined
    if (!key) {
      throw new EncryptionError(
        `${what} is encrypted with key '${id.slice(0, 32)}', which is not among the configured keys`,
      )
    }
    return { key, body: value.slice(dot + 1) }
  }

  #open(open: () => string, keyId: string, what: string): string {
    try {
      return open()
    } catch (err) {
      throw new EncryptionError(
        `${what} cannot be decrypted with key '${keyId}': the key is wrong or the value was ` +
          'altered (changed, or moved from another row or column)',
        { cause: err },
      )
    }
  }
}
