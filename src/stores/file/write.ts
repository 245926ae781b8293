// Writing a FileStore's rows as the new token file.
import { statSync } from 'node:fs'
import type { StoreOperation } from '../../errors.js'
import { explainFsError } from '../fs-errors.js'
import { fail, versionOf, type TokenFile } from './read.js'
import { ReplaceError, replaceFile, type Previous } from './replace.js'
import type { SideFiles } from './side-files.js'
import { snapshotBuffers, type Snapshot } from './snapshot.js'

/**
 * Writes the snapshot as the new file (see {@link replaceFile}: each step checked; on a
 * failure the file is as it was and the error names the cause and the step). Resolves to the
 * snapshot of the file written, or undefined when it must be read again.
 */
export async function writeSnapshot(
  file: TokenFile,
  sideFiles: SideFiles,
  snapshot: Snapshot,
  operation: StoreOperation,
): Promise<Snapshot | undefined> {
  const buffers = snapshotBuffers(snapshot)
  assertWritable(file, operation)
  await sideFiles.prepare()
  // The old version keeps a second name until the new one is in place: freeing its blocks
  // happens after the callers have their answer, and a failed directory sync can put it back.
  const old = sideFiles.name('old')
  let previous: Previous
  try {
    previous = await replaceFile(
      {
        path: file.absolute,
        label: file.label,
        temp: sideFiles.name('tmp'),
        old,
        remove: (path) => sideFiles.remove(path),
      },
      buffers,
    )
  } catch (err) {
    if (!(err instanceof ReplaceError)) throw err
    throw fail(
      operation,
      `cannot write ${file.label} (${err.step}): ${explainFsError(err.cause, file.label)}. ${err.state}`,
      err.cause,
    )
  }
  if (previous === 'kept') sideFiles.removeLater(old)
  try {
    return {
      ...snapshot,
      version: versionOf(statSync(file.absolute)),
      upgrade: false,
      exact: false,
    }
  } catch {
    // The file is written; it is read again on the next call.
    return undefined
  }
}

function assertWritable(file: TokenFile, operation: StoreOperation): void {
  let mode: number
  try {
    mode = statSync(file.absolute).mode
  } catch {
    return
  }
  if ((mode & 0o222) === 0) {
    throw fail(operation, `${file.label} is read-only; it was left as it is`)
  }
}
