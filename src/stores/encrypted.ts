import { TokenCipher, type EncryptionOptions } from '../crypto.js'
import { assertToken, type OAuthToken } from '../token.js'
import { assertLookupToken, lookupOf, type LookupColumn, type TokenStore } from '../store.js'

/** What `rekey()` did. */
export interface RekeyResult {
  /** Tokens moved to the active key (including tokens that were stored in the clear). */
  readonly rekeyed: number
  /** Tokens that were already under the active key. */
  readonly current: number
}

/** A store with encryption at rest: the six methods, plus `rekey()`. */
export interface EncryptedStore {
  /**
   * Moves every token to the active key, one token at a time, while the store stays in use:
   * reads work throughout, since every configured key still opens its values. A token whose key
   * is not configured stops the re-key with an EncryptionError, and nothing is overwritten.
   */
  rekey(): Promise<RekeyResult>
}

const FIELD_OF: Record<
  Exclude<LookupColumn, 'user_name'>,
  'accessToken' | 'grantToken' | 'refreshToken'
> = {
  access_token: 'accessToken',
  grant_token: 'grantToken',
  refresh_token: 'refreshToken',
}

/**
 * The store, with the secrets of every token sealed before they reach it and opened when they
 * come back (see {@link TokenCipher}). A look-up by token value tries the value sealed with each
 * configured key, then in the clear, so rows written under older keys, or before encryption was
 * turned on, are still found. Everything else (`path`, `lockToken`, `close`...) is the store's own.
 */
export function withEncryption<S extends TokenStore>(
  store: S,
  options: EncryptionOptions,
): S & EncryptedStore {
  const cipher = new TokenCipher(options)

  const find = async (token: OAuthToken): Promise<OAuthToken | null> => {
    assertLookupToken(token)
    const lookup = lookupOf(token)
    if (!lookup || lookup.column === 'user_name') {
      const found = await store.findToken(token)
      return found && cipher.openToken(found)
    }
    const field = FIELD_OF[lookup.column]
    for (const candidate of cipher.candidates(lookup.value)) {
      const probe = token.clone()
      probe[field] = candidate
      const found = await store.findToken(probe)
      if (found) return cipher.openToken(found)
    }
    return null
  }

  const overrides: Partial<Record<PropertyKey, unknown>> = {
    findToken: find,
    async findTokenById(id: string) {
      const found = await store.findTokenById(id)
      return found && cipher.openToken(found)
    },
    async getTokens() {
      return (await store.getTokens()).map((token) => cipher.openToken(token))
    },
    async saveToken(token: OAuthToken) {
      assertToken(token)
      const sealed = cipher.sealToken(token)
      if (sealed.id === undefined && !token.userSignature?.name) {
        // The row to update may hold its values under an older key: find it the way findToken
        // does, so that the save updates it instead of adding a second row.
        const existing = lookupOf(token) ? await find(token) : null
        if (existing?.id) sealed.id = existing.id
      }
      await store.saveToken(sealed)
      token.id = sealed.id
    },
    async rekey(): Promise<RekeyResult> {
      let rekeyed = 0
      let current = 0
      for (const stored of await store.getTokens()) {
        if (cipher.isCurrent(stored)) {
          current += 1
          continue
        }
        const opened = cipher.openToken(stored.clone())
        await store.saveToken(cipher.sealToken(opened))
        rekeyed += 1
      }
      return { rekeyed, current }
    },
  }

  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property]
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value
    },
  }) as S & EncryptedStore
}
