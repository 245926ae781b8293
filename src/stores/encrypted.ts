import { DEFAULT_LOCK_WAIT_MS } from './lease.js'
import { supportsDueScan, type DueScanOptions } from '../due.js'
import { supportsHealth } from '../health.js'
import { supportsBudgets } from '../budget.js'
import { withTokenLock } from '../refresh/lease.js'
import { TokenCipher, type EncryptionOptions } from '../crypto.js'
import { InvalidArgumentError, refuseUnknownOptions, TokenStoreError } from '../errors.js'
import { withRowFinisher, withSealedRows } from '../sealed.js'
import { eachToken, pageSizeOf, type EachTokenOptions, type IterateOptions } from '../iteration.js'
import { assertToken, type OAuthToken } from '../token.js'
import {
  assertConditionalSave,
  assertLookupToken,
  supportsCompaction,
  supportsConditionalSave,
  type TokenStore,
} from '../store.js'
import { lookupOf, winningRow, type LookupColumn } from '../store/matching.js'
import { rowFromToken, rowHolds } from '../store/rows.js'

/** What `rekey()` did. */
export interface RekeyResult {
  /** Tokens moved to the active key and the current format (including tokens stored in the clear). */
  readonly rekeyed: number
  /** Tokens that were already under the active key, in the current format. */
  readonly current: number
  /**
   * Whether the store then dropped the old versions it kept in its files (SQLite: write-ahead
   * log checkpointed and truncated, database vacuumed). `false` when the store cannot (server
   * stores: see docs/encryption.md) or another connection kept the log in use.
   */
  readonly compacted: boolean
}

/** Options of `rekey()`. */
export interface RekeyOptions {
  /** How long to wait for each token's lease, held by a refresh in progress (ms); default 10000. */
  readonly lockTimeoutMs?: number
  /** Called after each page of the pass with the number of tokens examined so far. */
  readonly onProgress?: (seen: number) => void
}

/** A store with encryption at rest: the six methods, plus `rekey()`. */
export interface EncryptedStore {
  /**
   * Moves every token to the active key and the current format, one token at a time, while the
   * store stays in use: each token is re-read under its lease (so a refresh running meanwhile
   * is never overwritten) and written back conditionally where the store can. A token whose key
   * is not configured stops the re-key with an EncryptionError, and nothing is overwritten.
   * Ends by compacting the store where it can (see {@link RekeyResult.compacted}).
   */
  rekey(options?: RekeyOptions): Promise<RekeyResult>
}

/** Store options that carry encryption keys (see {@link EncryptingStoreClass}). */
export type WithKeys<O> = NonNullable<O> & { readonly encryption: EncryptionOptions }

/**
 * The type of a store class whose options take `encryption` (every persistent store): its
 * constructor then returns the store {@link withEncryption} makes, so an instance built with keys
 * is typed with `rekey()` as well as with the store's own capabilities; built without keys, it is
 * the class's own instance. The first signature wins when `encryption` is surely given. Its type
 * parameter is never used: a signature that needs one is ignored by `class X extends SQLiteStore`,
 * which must see one base constructor (TS2510).
 */
export type EncryptingStoreClass<C extends abstract new (options: never) => TokenStore> = (new <
  _NotForExtends,
>(
  options: WithKeys<ConstructorParameters<C>[0]>,
) => InstanceType<C> & EncryptedStore) &
  C

const FIELD_OF: Record<
  Exclude<LookupColumn, 'user_name'>,
  'accessToken' | 'grantToken' | 'refreshToken'
> = {
  access_token: 'accessToken',
  grant_token: 'grantToken',
  refresh_token: 'refreshToken',
}

/** Checks the options of `rekey()`; gives the lease timeout. */
function checkRekeyOptions(options: unknown): RekeyOptions & { lockTimeoutMs: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'rekey options must be an object')
  }
  refuseUnknownOptions('rekey', options, ['lockTimeoutMs', 'onProgress'], 'options.')
  const { lockTimeoutMs = DEFAULT_LOCK_WAIT_MS, onProgress } = options as RekeyOptions
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidArgumentError('options.onProgress', 'rekey onProgress must be a function')
  }
  if (!(typeof lockTimeoutMs === 'number' && Number.isFinite(lockTimeoutMs) && lockTimeoutMs > 0)) {
    throw new InvalidArgumentError(
      'options.lockTimeoutMs',
      'rekey lockTimeoutMs must be a positive number of milliseconds',
    )
  }
  return { lockTimeoutMs, ...(onProgress ? { onProgress } : {}) }
}

/** How often rekey re-reads a token that changed between its read and its conditional write. */
const REKEY_ATTEMPTS = 5

/**
 * The store, with the secrets of every token sealed before they reach it and opened when they
 * come back (see docs/encryption.md): each value is bound to its column, each row to its id and
 * its values. A look-up by token value tries the value sealed with each configured key (and, while
 * legacy rows are accepted, as the first format sealed it and in the clear), so rows written under
 * older keys, or before encryption was turned on, are still found. Everything else (`path`,
 * `lockToken`, `close`...) is the store's own.
 */
export function withEncryption<S extends TokenStore>(
  store: S,
  options: EncryptionOptions,
): S & EncryptedStore {
  const cipher = new TokenCipher(options)
  const conditional = supportsConditionalSave(store) ? store : undefined

  /** The stored (sealed) row a token identifies, as the store holds it. */
  const findStored = async (token: OAuthToken): Promise<OAuthToken | null> => {
    const lookup = lookupOf(token)
    if (!lookup || lookup.column === 'user_name') {
      return withSealedRows(() => store.findToken(token))
    }
    const field = FIELD_OF[lookup.column]
    // Rows sealed under different keys may hold the value: each key's row is found, and the
    // store's rule picks among them (the oldest), as it would among rows under one key.
    const found = await Promise.all(
      Array.from(cipher.candidates(lookup.column, lookup.value), (candidate) => {
        const probe = token.clone()
        probe[field] = candidate
        return withSealedRows(() => store.findToken(probe))
      }),
    )
    return (
      winningRow(
        found.filter((row): row is OAuthToken & { id: string } => row?.id !== undefined),
      ) ?? null
    )
  }

  const open = (stored: OAuthToken | null): OAuthToken | null => stored && cipher.openRow(stored)

  /** The stored (sealed) rows, a page at a time where the store can: each step is the wrapper's. */
  async function* sealedPass(options?: EachTokenOptions): AsyncGenerator<OAuthToken> {
    const pass = eachToken(store, options)
    for (;;) {
      const step = await withSealedRows(() => pass.next())
      if (step.done) return
      yield step.value
    }
  }

  const saveToken = async (token: OAuthToken): Promise<void> => {
    assertToken(token)
    // The row seal covers the id, and a new row's id is chosen by the store inside its lock or
    // transaction: the store finishes the row (seals it for that id) as it writes it.
    const given = token.id
    const secretsSealed = cipher.sealSecrets(token)
    const finish = (sealed: OAuthToken, id: string): OAuthToken => cipher.sealRowFor(sealed, id)
    let id = given ?? (await findStored(token))?.id
    for (let attempt = 1; ; attempt += 1) {
      const attemptToken = secretsSealed.clone()
      attemptToken.id = id
      try {
        await withRowFinisher(finish, () => withSealedRows(() => store.saveToken(attemptToken)))
        token.id = attemptToken.id
        return
      } catch (err) {
        // A concurrent save stored this token first, under another id: update that row.
        if (given !== undefined || attempt >= 3) throw err
        const winner = await findStored(token).then(
          (found) => found?.id,
          () => undefined,
        )
        if (winner === undefined || winner === id) throw err
        id = winner
      }
    }
  }

  /**
   * The conditional save, on the row as stored: `expected` is a token as it was read (opened),
   * and the row still holds it when its opened values match; the store then checks, atomically,
   * that the row has not changed since this read.
   */
  const saveTokenIf = async (token: OAuthToken, expected: OAuthToken): Promise<boolean> => {
    assertConditionalSave(token, expected)
    const id = token.id!
    const stored = await withSealedRows(() => store.findTokenById(id))
    if (!conditional || !stored) return false
    if (!rowHolds(rowFromToken(cipher.openRow(stored), id), expected)) return false
    return withSealedRows(() => conditional.saveTokenIf(cipher.sealRow(token, id), stored))
  }

  /** Moves one token forward under its lease: re-read, then written only over what was read. */
  const moveForward = async (id: string): Promise<'rekeyed' | 'current' | 'gone'> => {
    for (let attempt = 0; attempt < REKEY_ATTEMPTS; attempt += 1) {
      const stored = await withSealedRows(() => store.findTokenById(id))
      if (!stored) return 'gone'
      if (cipher.isCurrent(stored)) return 'current'
      const sealed = cipher.sealRow(cipher.openRow(stored), id)
      if (!conditional) {
        await withSealedRows(() => store.saveToken(sealed))
        return 'rekeyed'
      }
      if (await withSealedRows(() => conditional.saveTokenIf(sealed, stored))) return 'rekeyed'
    }
    throw new TokenStoreError(
      store.constructor.name,
      'saveToken',
      `token ${id} changed ${REKEY_ATTEMPTS} times while rekey moved it forward, each time ` +
        'outside its lease; run rekey again',
    )
  }

  const overrides: Partial<Record<PropertyKey, unknown>> = {
    async findToken(token: OAuthToken) {
      assertLookupToken(token)
      return open(await findStored(token))
    },
    async findTokenById(id: string) {
      return open(await withSealedRows(() => store.findTokenById(id)))
    },
    async getTokens() {
      return (await withSealedRows(() => store.getTokens())).map((token) => cipher.openRow(token))
    },
    async *iterateTokens(iterateOptions?: IterateOptions): AsyncGenerator<OAuthToken> {
      pageSizeOf(iterateOptions) // the options a bare store takes, and no others
      for await (const stored of sealedPass(iterateOptions)) yield cipher.openRow(stored)
    },
    saveToken,
    ...(conditional ? { saveTokenIf } : {}),
    // The due scan reads the store's sealed rows (expiry and id are never sealed) and opens them.
    ...(supportsDueScan(store)
      ? {
          async findDueTokens(scan: DueScanOptions) {
            const due = await withSealedRows(() => store.findDueTokens(scan))
            return due.map((token) => cipher.openRow(token))
          },
        }
      : {}),
    // Health records and budget keys hold no secret (a short digest of the refresh token, of
    // what a budget limits) and are never sealed: they go to the store as they are.
    ...(supportsHealth(store)
      ? { findHealth: store.findHealth.bind(store), saveHealth: store.saveHealth.bind(store) }
      : {}),
    ...(supportsBudgets(store) ? { takeBudget: store.takeBudget.bind(store) } : {}),
    async rekey(rekeyOptions: RekeyOptions = {}): Promise<RekeyResult> {
      const { lockTimeoutMs: timeoutMs, onProgress } = checkRekeyOptions(rekeyOptions)
      let rekeyed = 0
      let current = 0
      for await (const listed of sealedPass(onProgress ? { onProgress } : {})) {
        if (cipher.isCurrent(listed)) {
          current += 1
          continue
        }
        // Checked before taking the lease: a key that is missing stops the re-key at once.
        cipher.openRow(listed)
        const id = listed.id!
        const outcome = await withTokenLock(store, id, () => moveForward(id), { timeoutMs })
        if (outcome === 'rekeyed') rekeyed += 1
        else if (outcome === 'current') current += 1
      }
      const compacted = supportsCompaction(store) ? await store.compact() : false
      return { rekeyed, current, compacted }
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
