import { InvalidArgumentError } from './errors.js'

/**
 * What is wrong with a key that has the right length but is not a random one; `undefined` for
 * a usable key. A random key trips none of these (the likeliest, fewer than 8 distinct bytes
 * among 32, has a probability below 10^-36).
 */
function weakness(bytes: Buffer): string | undefined {
  if (bytes.every((byte) => byte === 0)) return 'is all zeros'
  for (let period = 1; period <= 16; period += 1) {
    let periodic = true
    for (let i = period; i < bytes.length && periodic; i += 1)
      periodic = bytes[i] === bytes[i - period]
    if (periodic) return period === 1 ? 'repeats one byte' : `repeats a pattern of ${period} bytes`
  }
  const distinct = new Set(bytes).size
  return distinct < 8 ? `has only ${distinct} distinct byte values` : undefined
}

/**
 * A base64 (or base64url) string of 32 bytes. Checked first: Node's decoder skips characters
 * that are not base64, so a passphrase could otherwise decode to some 32 bytes.
 */
function decodeKey(text: string): Buffer | undefined {
  const standard = text.trim().replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/')
  return /^[A-Za-z0-9+/]{43}$/.test(standard) ? Buffer.from(standard, 'base64') : undefined
}

/**
 * The 32 bytes of a configured key, as a Buffer or base64 string gives them; a key of another
 * length, or one that is not random (see {@link weakness}), is an InvalidArgumentError naming
 * `encryption.keys.<id>`, never showing the key.
 */
export function keyBytes(id: string, key: unknown): Buffer {
  const argument = `encryption.keys.${id}`
  let bytes: Buffer | undefined
  if (Buffer.isBuffer(key) || key instanceof Uint8Array) bytes = Buffer.from(key)
  else if (typeof key === 'string') bytes = decodeKey(key)
  if (bytes?.length !== 32) {
    throw new InvalidArgumentError(
      argument,
      `encryption key '${id}' must be 32 bytes, as a Buffer or a base64 string ` +
        "(make one with: node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\")",
    )
  }
  const weak = weakness(bytes)
  if (weak !== undefined) {
    throw new InvalidArgumentError(
      argument,
      `encryption key '${id}' ${weak}: it is not a random key; use 32 random bytes`,
    )
  }
  return bytes
}
