/** The options of the file store, and how they are checked. */
import { InvalidArgumentError } from '../../errors.js'
import { checkOptions, shaped, text, type OptionRule } from '../../store-kit/index.js'
import type { EncryptionOptions } from '../../crypto.js'

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

// Not `number()`: a wait may be Infinity, as it always could.
const positive = shaped<number>(
  'a positive number',
  (v): v is number => typeof v === 'number' && v > 0,
)

/** The options, in the order a refusal lists them. */
const SPEC = {
  encryption: shaped<EncryptionOptions>(
    'encryption options',
    (_v): _v is EncryptionOptions => true,
  ),
  path: text({ nonEmpty: true }).or('./sdk_tokens.txt'),
  lockTimeoutMs: positive,
  staleLockMs: positive,
  // Checked by leaseOption where the store reads it, the rule every store's lease follows.
  lockLeaseMs: shaped<number>('a number', (_v): _v is number => true),
} satisfies Record<keyof FileStoreOptions, OptionRule<unknown>>

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
  const checked = checkOptions('FileStore', options, SPEC)
  return Object.fromEntries(
    Object.entries(checked).filter(([, value]) => value !== undefined),
  ) as unknown as FileStoreOptions & { readonly path: string }
}
