// Reading the token file into a snapshot: again only when another process has changed it, and
// then only the records that differ where the last read can tell.
import { readFileSync, statSync } from 'node:fs'
import { isAscii } from 'node:buffer'
import type { StoreOperation } from '../../errors.js'
import { TokenStoreError } from '../../store-kit/index.js'
import { explainFsError } from '../fs-errors.js'
import { STORE } from './operations.js'
import { reloadChanged, reloadCount } from './reload.js'
import { emptySnapshot, readSnapshot, type Snapshot } from './snapshot.js'

/** The token file: its absolute path, and the path as the user gave it (for messages). */
export interface TokenFile {
  readonly absolute: string
  readonly label: string
}

export function fail(operation: StoreOperation, message: string, cause?: unknown): TokenStoreError {
  return new TokenStoreError(STORE, operation, message, cause === undefined ? undefined : { cause })
}

export function versionOf(stats: {
  ino: number
  size: number
  mtimeMs: number
  ctimeMs: number
}): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`
}

/** The file's version as it is now (`'missing'` when there is none): a changed file has another. */
export function versionNow(file: TokenFile, operation: StoreOperation): string {
  try {
    return versionOf(statSync(file.absolute))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw fail(operation, `cannot read ${file.label}: ${explainFsError(err, file.label)}`, err)
    }
    return 'missing'
  }
}

/** The file read as `version`; `previous`, the last snapshot, spares reading unchanged rows. */
export function readFile(
  file: TokenFile,
  version: string,
  previous: Snapshot | undefined,
  operation: StoreOperation,
): Snapshot {
  if (version === 'missing') return emptySnapshot(version)
  let text: string
  try {
    // Decoded once, as Latin-1 when every byte is ASCII (the same string, made faster).
    const bytes = readFileSync(file.absolute)
    text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')
  } catch (err) {
    const what =
      (err as NodeJS.ErrnoException).code === 'EISDIR'
        ? 'is a directory, not a token file'
        : `cannot be read: ${explainFsError(err, file.label)}`
    throw fail(operation, `${file.label} ${what}`, err)
  }
  if (previous?.exact) {
    const changed = reloadChanged(previous, text, version)
    if (changed) return changed
  }
  reloadCount.full += 1
  return readSnapshot(text, version, (message) => fail(operation, `${file.label} ${message}`))
}
