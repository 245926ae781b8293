// doctor's encryption check: which keys the rows are sealed under, read from the rows as stored,
// and whether the keys given open them ("wrong key" is not "unreachable").
import { eachToken } from '../../iteration.js'
import { EncryptionError, FORMAT_V2, isSealed } from '../../sealed.js'
import { SDKException } from '../../errors.js'
import type { TokenStore } from '../../store.js'
import type { OAuthToken } from '../../token.js'
import { plural } from '../output.js'
import type { Check } from './doctor.js'

/** The keys the CLI was given (`--key`, `TOKENKEEPER_KEYS`). */
export interface GivenKeys {
  readonly keys: Record<string, string>
  readonly activeKeyId: string
}

/** The key id of a sealed value: `tk2.<id>.…` and `tk1.<id>.…` alike. */
function keyIdOf(value: string): string {
  const end = value.indexOf('.', 4)
  return end === -1 ? '' : value.slice(4, end)
}

/**
 * Tallies the rows as stored (sealed values not opened), a token at a time: how many are
 * sealed, under which key ids, and which are not under the active key. Keeps counts and one id
 * per kind, whatever the store's size.
 */
export class KeysTally {
  #rows = 0
  #clear = 0
  readonly #byKey = new Map<string, { rows: number; first: string }>()
  #behind = 0
  #firstBehind: string | undefined

  constructor(readonly activeKeyId: string | undefined) {}

  add(token: OAuthToken): void {
    this.#rows += 1
    const id = token.id ?? '-'
    const values = [
      token.clientSecret,
      token.refreshToken,
      token.accessToken,
      token.grantToken,
      token.apiDomain,
    ]
    const ids = new Set(values.filter(isSealed).map(keyIdOf))
    if (ids.size === 0) this.#clear += 1
    for (const keyId of ids) {
      const entry = this.#byKey.get(keyId)
      if (entry) entry.rows += 1
      else this.#byKey.set(keyId, { rows: 1, first: id })
    }
    // The row seal (in api_domain) says which key and format a row is under, as rekey reads it.
    const current =
      this.activeKeyId !== undefined &&
      token.apiDomain?.startsWith(`${FORMAT_V2}${this.activeKeyId}.`) === true
    if (!current) {
      this.#behind += 1
      this.#firstBehind ??= id
    }
  }

  /** Whether any row holds a sealed value. */
  get sealed(): boolean {
    return this.#byKey.size > 0
  }

  /**
   * The check without opening anything: keys given or not, key ids in use, rows not under the
   * active key; a fail when a key id in use is not given. Whether the keys given are the right
   * ones takes opening the rows: {@link openingCheck}.
   */
  check(given: GivenKeys | undefined): Check {
    const name = 'encryption'
    const inUse = [...this.#byKey]
      .map(([keyId, { rows }]) => `'${keyId}' (${plural(rows, 'row')})`)
      .join(', ')
    const clear = this.#clear > 0 ? `; ${plural(this.#clear, 'row')} in the clear` : ''
    if (!given) {
      if (!this.sealed) {
        return { status: 'ok', name, detail: 'not encrypted: no keys given, no sealed rows' }
      }
      return {
        status: 'warn',
        name,
        detail:
          `rows sealed under key ${inUse}${clear}, and no keys given: pass them with ` +
          '--key id=base64 (repeatable) or TOKENKEEPER_KEYS to read these rows',
      }
    }
    const keys = `keys given: ${Object.keys(given.keys).join(', ')} (active '${given.activeKeyId}')`
    const missing = [...this.#byKey].filter(([keyId]) => !Object.hasOwn(given.keys, keyId))
    if (missing.length > 0) {
      const [keyId, { first }] = missing[0]!
      return {
        status: 'fail',
        name,
        detail:
          `${keys}; rows are sealed under key '${keyId}' (first: token ${first}), which is not ` +
          `given: add --key ${keyId}=<base64> (or to TOKENKEEPER_KEYS)`,
      }
    }
    const used = this.sealed ? `; key ids in use: ${inUse}${clear}` : `; no sealed rows${clear}`
    if (this.#behind > 0) {
      return {
        status: 'warn',
        name,
        detail:
          `${keys}${used}; ${plural(this.#behind, 'row')} not yet under the active key ` +
          `(first: token ${this.#firstBehind}): run tokenkeeper rekey`,
      }
    }
    return {
      status: 'ok',
      name,
      detail: `${keys}${used}; ${this.#rows === 0 ? 'no rows' : 'every row under the active key'}`,
    }
  }
}

/**
 * Opens every row with the keys given (`encrypted` is the store under them): a row that does
 * not open is a wrong key (or an altered value), told apart from a store that cannot be read.
 * Returns the failed check, or undefined when every row opens.
 */
export async function openingCheck(
  encrypted: TokenStore,
  onProgress?: (seen: number) => void,
): Promise<Check | undefined> {
  try {
    for await (const token of eachToken(encrypted, onProgress ? { onProgress } : {})) {
      void token
    }
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err)
    if (!(err instanceof SDKException) || err.code !== EncryptionError.code) {
      return {
        status: 'fail',
        name: 'encryption',
        detail: `the rows could not be read again: ${text}`,
      }
    }
    return {
      status: 'fail',
      name: 'encryption',
      detail:
        `wrong key: ${text}; the store itself is reachable: check the value given for that ` +
        'key id (--key or TOKENKEEPER_KEYS)',
    }
  }
  return undefined
}
