import type { EncryptionOptions } from '../../crypto.js'
import { number, shaped } from '../../store-kit/options.js'
import { identifier } from './identifiers.js'

/** The options every SQL store takes, with their rules (see checkOptions). */
export const SQL_OPTIONS = {
  /** Any value here: withEncryption checks it, and says what is wrong with it. */
  encryption: shaped('encryption options', (_v: unknown): _v is EncryptionOptions => true),
  table: identifier().or('oauthtoken'),
}

/** The options of a SQL store on a server: {@link SQL_OPTIONS} and the size of its own pool. */
export const SERVER_OPTIONS = {
  ...SQL_OPTIONS,
  poolSize: number({ integer: true, min: 1 }).or(10),
}
