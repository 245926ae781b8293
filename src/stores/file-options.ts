/** The options of the file store, and how they are checked. */
import { InvalidArgumentError, refuseUnknownOptions } from '../errors.js'
import type { EncryptionOptions } from '../crypto.js'

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /**
   * Encryption at rest: 32-byte keys by id and the active key's id. Secrets are then unreadable
   * in the store, lookups still work, and rows written under an older key stay readable.
   */
  encryption?: EncryptionOptions | undefined
  /** The token file; default `./sdk_tokens.txt`, the official SDKs' default. */
  path?: string
  /** How long a write waits for another process's write (ms); default 10000. */
  lockTimeoutMs?: number
  /**
   * The write lock's lease (ms): its holder renews it while writing; one left untouched longer
   * than this is taken over; default 30000.
   */
  staleLockMs?: number
  /**
   * How long a token lease from `lockToken` lasts unless renewed (ms); its holder
   * renews it every third of that while it holds it; default 60000.
   */
  lockLeaseMs?: number
}

/** The keys {@link FileStoreOptions} has: any other key is refused, never ignored. */
const OPTION_KEYS: ReadonlySet<string> = new Set<keyof FileStoreOptions>([
  'encryption',
  'path',
  'lockTimeoutMs',
  'staleLockMs',
  'lockLeaseMs',
])

/**
 * The options of `new FileStore(path)`, `new FileStore(options)` or `new FileStore(path,
 * options)`, checked: a path given twice, an option that does not exist or a value of the wrong
 * kind is an InvalidArgumentError.
 */
export function fileStoreOptions(
  first: unknown,
  second: unknown,
): FileStoreOptions & { readonly path: string } {
  if (second !== undefined) {
    if (typeof first !== 'string') {
      throw new InvalidArgumentError(
        'options',
        'FileStore takes its options once: new FileStore(path, options) or new FileStore(options)',
      )
    }
    if (typeof second !== 'object' || second === null) {
      throw new InvalidArgumentError('options', 'FileStore options must be an object')
    }
    if ((second as { path?: unknown }).path !== undefined) {
      throw new InvalidArgumentError(
        'path',
        'FileStore was given a path twice (as its first argument and as options.path); give it once',
      )
    }
  }
  const options: unknown = typeof first === 'string' ? { ...second, path: first } : first
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'FileStore expects a path or an options object')
  }
  refuseUnknownOptions('FileStore', options, OPTION_KEYS)
  const checked = options as FileStoreOptions
  const path = checked.path ?? './sdk_tokens.txt'
  if (typeof path !== 'string' || path.length === 0) {
    throw new InvalidArgumentError('path', 'FileStore path must be a non-empty string')
  }
  for (const key of ['lockTimeoutMs', 'staleLockMs'] as const) {
    const value = checked[key]
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new InvalidArgumentError(key, `FileStore ${key} must be a positive number`)
    }
  }
  return { ...checked, path }
}
