import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto'
import { InvalidArgumentError, SDKException } from './errors.js'
import { SECRET_FIELDS, type OAuthToken } from './token.js'

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
  /** Keys by id: 32 bytes each, as a Buffer or a base64 string. */
  readonly keys: Readonly<Record<string, Buffer | Uint8Array | string>>
  /** The key that new values are encrypted with. */
  readonly activeKeyId: string
}

/** A stored value cannot be decrypted: its key is not configured, or it is not the right one. */
export class EncryptionError extends SDKException {
  static readonly code = 'ENCRYPTION_ERROR'
  constructor(message: string, options?: { cause?: unknown }) {
    super(EncryptionError.code, message, options)
  }
}

interface DerivedKey {
  readonly id: string
  readonly encryption: Buffer
  readonly mac: Buffer
}

const PREFIX = 'tk1.'
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

function keyBytes(id: string, key: unknown): Buffer {
  let bytes: Buffer | undefined
  if (Buffer.isBuffer(key) || key instanceof Uint8Array) bytes = Buffer.from(key)
  else if (typeof key === 'string') bytes = Buffer.from(key, 'base64')
  if (bytes?.length !== 32) {
    throw new InvalidArgumentError(
      `encryption.keys.${id}`,
      `encryption key '${id}' must be 32 bytes, as a Buffer or a base64 string`,
    )
  }
  return bytes
}

/**
 * Seals the secret fields of tokens with AES-256-GCM. The nonce is derived from the value with
 * HMAC-SHA-256 (a synthetic IV), so one value under one key always seals the same way: lookups
 * by token value keep working on ciphertext. Each sealed value carries its key id:
 * `tk1.<keyId>.<base64url(nonce | ciphertext | tag)>`, and the key id is authenticated with it.
 */
export class TokenCipher {
  readonly #keys = new Map<string, DerivedKey>()
  readonly #active: DerivedKey

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
    for (const [id, key] of Object.entries(options.keys)) {
      if (!KEY_ID.test(id)) {
        throw new InvalidArgumentError(
          'encryption.keys',
          `key id '${id.slice(0, 40)}' must be 1 to 32 letters, digits, _ or -`,
        )
      }
      const secret = keyBytes(id, key)
      const derive = (purpose: string) =>
        Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `tokenkeeper ${purpose}`, 32))
      this.#keys.set(id, { id, encryption: derive('aes-256-gcm'), mac: derive('synthetic iv') })
    }
    const active = this.#keys.get(options.activeKeyId)
    if (!active) {
      throw new InvalidArgumentError(
        'encryption.activeKeyId',
        `activeKeyId '${String(options.activeKeyId)}' is not among the keys`,
      )
    }
    this.#active = active
  }

  /** The id of the key new values are sealed with. */
  get activeKeyId(): string {
    return this.#active.id
  }

  /** Whether a stored value is sealed (with any key). */
  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX)
  }

  /** Seals a value with the active key, or another configured one. */
  seal(value: string, key: DerivedKey = this.#active): string {
    const nonce = createHmac('sha256', key.mac).update(value, 'utf8').digest().subarray(0, 12)
    const cipher = createCipheriv('aes-256-gcm', key.encryption, nonce)
    cipher.setAAD(Buffer.from(`${PREFIX}${key.id}`))
    const body = Buffer.concat([
      nonce,
      cipher.update(value, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ])
    return `${PREFIX}${key.id}.${body.toString('base64url')}`
  }

  /** Opens a sealed value; a value that is not sealed (written before encryption) is returned as it is. */
  open(value: string, what = 'a stored value'): string {
    if (!value.startsWith(PREFIX)) return value
    const dot = value.indexOf('.', PREFIX.length)
    const id = value.slice(PREFIX.length, dot)
    const key = dot > 0 ? this.#keys.get(id) : undefined
    if (!key) {
      throw new EncryptionError(
        `${what} is encrypted with key '${id.slice(0, 32)}', which is not among the configured keys`,
      )
    }
    try {
      const body = Buffer.from(value.slice(dot + 1), 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', key.encryption, body.subarray(0, 12))
      decipher.setAAD(Buffer.from(`${PREFIX}${id}`))
      decipher.setAuthTag(body.subarray(body.length - 16))
      return Buffer.concat([
        decipher.update(body.subarray(12, body.length - 16)),
        decipher.final(),
      ]).toString('utf8')
    } catch (err) {
      throw new EncryptionError(
        `${what} cannot be decrypted with key '${id}': the key is wrong or the value was altered`,
        {
          cause: err,
        },
      )
    }
  }

  /** What a value may be stored as: sealed with each key (the active one first), or in the clear. */
  candidates(value: string): string[] {
    const active = this.seal(value)
    const others = [...this.#keys.values()]
      .filter((k) => k !== this.#active)
      .map((k) => this.seal(value, k))
    return [active, ...others, value]
  }

  /** Whether every secret of a stored token is sealed with the active key. */
  isCurrent(token: OAuthToken): boolean {
    const mark = `${PREFIX}${this.#active.id}.`
    return SECRET_FIELDS.every(
      (field) => token[field] === undefined || token[field].startsWith(mark),
    )
  }

  /** A copy of the token with its secrets sealed with the active key. */
  sealToken(token: OAuthToken): OAuthToken {
    const sealed = token.clone()
    for (const field of SECRET_FIELDS) {
      const value = sealed[field]
      if (value) sealed[field] = this.seal(value)
    }
    return sealed
  }

  /** The token with its secrets opened (in place), for a token read from a store. */
  openToken(token: OAuthToken): OAuthToken {
    for (const field of SECRET_FIELDS) {
      const value = token[field]
      if (value)
        token[field] = this.open(value, `the ${field} of token ${token.id ?? ''}`.trimEnd())
    }
    return token
  }
}
