// How a command opens its store: the URL or path, the encryption keys, refusing to create a
// store a read-only command was pointed at by mistake, and telling a wrong key from a store
// that cannot be reached.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError, SDKException } from '../errors.js'
import type { TokenStore } from '../store.js'
import { createStore, localStorePath } from '../stores/create.js'
import { withEncryption } from '../stores/encrypted.js'
import { EncryptionError } from '../sealed.js'
import { maskCredentials } from '../log.js'
import type { OAuthToken } from '../token.js'
import { EXIT, CliError, usage, notFound, type GlobalOptions } from './shared.js'

/** The encryption options from `--key`/`--active-key` or the environment; undefined without keys. */
export function encryptionFrom(
  options: GlobalOptions,
): { keys: Record<string, string>; activeKeyId: string } | undefined {
  const env = process.env
  const given =
    options.key && options.key.length > 0
      ? options.key
      : (env.TOKENKEEPER_KEYS ?? '')
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part.length > 0)
  if (given.length === 0) {
    if (options.activeKey !== undefined)
      throw usage('--active-key needs at least one --key id=base64 (or TOKENKEEPER_KEYS)')
    return undefined
  }
  const keys: Record<string, string> = {}
  for (const entry of given) {
    const at = entry.indexOf('=')
    if (at <= 0) throw usage('a key is given as id=base64 (for example --key k1=<base64>)')
    const id = entry.slice(0, at)
    const value = entry.slice(at + 1)
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw usage('a key id is 1 to 32 letters, digits, _ or -')
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) || Buffer.from(value, 'base64').length !== 32) {
      throw usage(`key '${id}' must be 32 bytes in base64 (a new one: openssl rand -base64 32)`)
    }
    keys[id] = value
  }
  const ids = Object.keys(keys)
  const activeKeyId =
    options.activeKey ?? env.TOKENKEEPER_ACTIVE_KEY ?? (ids.length === 1 ? ids[0] : undefined)
  if (activeKeyId === undefined) {
    throw usage('with several keys, name the one to write with: --active-key <id>')
  }
  if (!Object.hasOwn(keys, activeKeyId)) {
    throw usage(
      `the active key '${activeKeyId}' is not among the keys given: add --key ${activeKeyId}=<base64>`,
    )
  }
  return { keys, activeKeyId }
}

/** The store URL without its password or any other credential, for messages. */
export function safeUrl(url: string): string {
  return maskCredentials(url)
}

/** The store URL of `--store` or `TOKENKEEPER_STORE`. */
export function storeUrl(options: GlobalOptions): string {
  const url = options.store ?? process.env.TOKENKEEPER_STORE
  if (url === undefined || url.length === 0) {
    throw usage(
      'no store: pass --store URL (such as file:./sdk_tokens.txt) or set TOKENKEEPER_STORE',
    )
  }
  return url
}

/** How {@link openStore} opens a store. */
export interface OpenOptions {
  /**
   * The command only reads: a `file:` or `sqlite:` store that does not exist is exit code 3,
   * and nothing is created (opening a SQLite database, or a later write, would create it).
   */
  readonly readOnly?: boolean
  /** The option that gave the URL, for messages (`--store` by default). */
  readonly option?: string
  /** The store as it is, without the keys (doctor reads the rows as stored). */
  readonly plain?: boolean
}

/** Opens the store of a URL, encrypted when keys are given. */
export async function openStore(
  url: string,
  options: GlobalOptions,
  open: OpenOptions = {},
): Promise<TokenStore> {
  const option = open.option ?? '--store'
  const encryption = encryptionFrom(options)
  let store: TokenStore
  try {
    const path = localStorePath(url)
    if (open.readOnly && path !== undefined && !existsSync(path)) {
      const kind = url.slice(0, url.indexOf(':')).toLowerCase()
      throw new CliError(
        `no token store at ${resolve(path)} (${option} ${url}); check the path, or create it ` +
          `by saving a token into it (a session's first sign-in, or tokenkeeper migrate --to ${kind}:${path})`,
        EXIT.notFound,
      )
    }
    store = await createStore(url)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw usage(`${option}: ${err.message}`)
    throw err
  }
  return encryption && !open.plain ? withEncryption(store, encryption) : store
}

/**
 * An error of an encrypted store said for the CLI: without keys, which options give them (the
 * library's message speaks of `{ encryption }`); with keys, how to find out which is wrong.
 */
export function explainEncryption(err: unknown, options: GlobalOptions): unknown {
  if (!(err instanceof SDKException) || err.code !== EncryptionError.code) return err
  if (encryptionFrom(options) === undefined) {
    const which = /^token (\S+) is encrypted/.exec(err.message)?.[1]
    return new CliError(
      `the store is encrypted${which ? ` (token ${which} is sealed)` : ''} and no keys were ` +
        'given: pass them with --key id=base64 (repeatable) or TOKENKEEPER_KEYS; ' +
        'tokenkeeper doctor shows the key ids the rows use',
    )
  }
  return new CliError(
    `${err.message}; check the --key values (or TOKENKEEPER_KEYS): tokenkeeper doctor shows ` +
      'the key ids the rows use and whether each opens',
  )
}

/** Runs `work` with the store of the options, and closes it afterwards. */
export async function withStore<T>(
  options: GlobalOptions,
  work: (store: TokenStore) => Promise<T>,
  url = storeUrl(options),
  open: OpenOptions = {},
): Promise<T> {
  const store = await openStore(url, options, open)
  try {
    return await work(store)
  } catch (err) {
    throw explainEncryption(err, options)
  } finally {
    await store.close?.()
  }
}

/** The token of an id, or exit code 3. */
export async function tokenById(store: TokenStore, id: string): Promise<OAuthToken> {
  let token: OAuthToken | null
  try {
    token = await store.findTokenById(id)
  } catch (err) {
    if (err instanceof SDKException && err.code === InvalidArgumentError.code) throw notFound(id)
    throw err
  }
  if (!token) throw notFound(id)
  return token
}

// ---------------------------------------------------------------------------------------------
// The accounts server
// ---------------------------------------------------------------------------------------------
