import { closeSync, constants, fsyncSync, openSync, promises as fsp } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { explainFsError, shortWriteError } from '../fs-errors.js'

/** What became of the previous version of the file: the `old` name holds it, or not. */
export type Previous = 'kept' | 'none' | 'not-kept'

/** Where a file replacement goes and how it tidies up after itself. */
export interface Replacement {
  /** The file to replace. */
  readonly path: string
  /** How `path` is named in messages. */
  readonly label: string
  /** A new name beside it for the temporary file. */
  readonly temp: string
  /** A new name beside it for a second name of the previous version. */
  readonly old: string
  /** Removes a file of ours; one that cannot be removed now is to be removed later. */
  readonly remove: (path: string) => Promise<void>
}

/**
 * A file replacement failed. `step` says which step, in words; `state` what the file holds now
 * (as a sentence for the message); `cause` is the system's error.
 */
export class ReplaceError extends Error {
  constructor(
    readonly step: string,
    override readonly cause: unknown,
    readonly state: string,
  ) {
    super(`${step}: ${state}`)
  }
}

/** What a message says when the file was not touched. */
const UNCHANGED = 'The file was left as it was; nothing was saved'

/** Codes that say this platform or file system cannot fsync a directory, not that it failed. */
const NO_DIRECTORY_SYNC = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EISDIR', 'EACCES'])

/**
 * Replaces a file with `buffers`, atomically and durably: a temporary file, every byte written,
 * fdatasync, close, a second name (`old`) for the previous version, rename over the file, fsync
 * of the directory. Each step is checked. When one fails, the file is left (or put back) as it
 * was, byte for byte, the temporary file is removed, and a {@link ReplaceError} says where and
 * why. Resolves to what `old` holds: the caller removes it once its callers have their answer.
 */
export async function replaceFile(target: Replacement, buffers: Buffer[]): Promise<Previous> {
  const { path, temp, old, remove } = target
  let created = false
  let previous: Previous = 'none'
  try {
    const handle = await step('create the temporary file', () => fsp.open(temp, 'wx', 0o600))
    created = true
    try {
      await step('write the temporary file', () => writeAll(handle, buffers))
      await step('flush the temporary file to disk', () => handle.datasync())
    } catch (err) {
      await handle.close().catch(() => undefined)
      throw err
    }
    await step('close the temporary file', () => handle.close())
    previous = await step('keep the previous version', () => keepPrevious(path, old))
    await step('rename the temporary file over the token file', () => fsp.rename(temp, path))
    created = false
  } catch (err) {
    if (created) await remove(temp)
    if (previous === 'kept') await remove(old)
    throw err instanceof ReplaceError ? err : new ReplaceError('write', err, UNCHANGED)
  }
  try {
    syncDirectory(dirname(path))
  } catch (err) {
    // The rename may not survive a power loss: the previous version is put back, so that a
    // save that is rejected has changed nothing.
    throw new ReplaceError('sync the directory', err, await putBack(target, previous))
  }
  return previous
}

async function step<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    throw new ReplaceError(name, err, UNCHANGED)
  }
}

/** Undoes a rename whose directory could not be synced; says what the file holds now. */
async function putBack(target: Replacement, previous: Previous): Promise<string> {
  try {
    if (previous === 'kept') await fsp.rename(target.old, target.path)
    else if (previous === 'none') await fsp.unlink(target.path)
    else {
      return (
        'The new version is in place but may not survive a power loss; with no hard links on ' +
        'this file system the previous one could not be kept to put back'
      )
    }
    return 'The previous version was put back; nothing was saved'
  } catch (err) {
    if (previous === 'kept') await target.remove(target.old)
    return (
      `The previous version could not be put back (${explainFsError(err, target.label)}): ` +
      'the file may hold this save'
    )
  }
}

/**
 * Makes a rename in `directory` durable. Fails on a real error (EIO...); a file system that
 * cannot sync a directory at all is not an error (the rename is still atomic), nor is Windows,
 * which has no such call.
 */
function syncDirectory(directory: string): void {
  if (process.platform === 'win32') return
  let fd: number
  try {
    fd = openSync(directory, constants.O_RDONLY)
  } catch (err) {
    if (NO_DIRECTORY_SYNC.has((err as NodeJS.ErrnoException).code ?? '')) return
    throw err
  }
  try {
    fsyncSync(fd)
  } catch (err) {
    if (!NO_DIRECTORY_SYNC.has((err as NodeJS.ErrnoException).code ?? '')) throw err
  } finally {
    // Closing a read-only descriptor cannot lose data: its error is of no consequence.
    try {
      closeSync(fd)
    } catch {
      // See above.
    }
  }
}

/**
 * Gives the current file a second name, `old`: `kept`. `none` when there is no file yet;
 * `not-kept` when this file system has no hard links (the replacement goes on without one).
 */
async function keepPrevious(path: string, old: string): Promise<Previous> {
  try {
    await fsp.link(path, old)
    return 'kept'
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return 'none'
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      return 'not-kept'
    }
    throw err
  }
}

/**
 * Writes every byte of `buffers` from the start of the file. A system call may write less than
 * asked (the disk filled up meanwhile): the rest is written again, where the next call reports
 * the error; a call that writes nothing at all is an error too.
 */
async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let left = 0
  for (const buffer of buffers) left += buffer.length
  let position = 0
  let pending = buffers
  while (left > 0) {
    const { bytesWritten } = await handle.writev(pending, position)
    if (bytesWritten === left) return
    if (!(bytesWritten > 0)) throw shortWriteError(left)
    left -= bytesWritten
    position += bytesWritten
    pending = after(pending, bytesWritten)
  }
}

/** The buffers that remain once the first `count` bytes of them are written. */
function after(buffers: Buffer[], count: number): Buffer[] {
  let skipped = 0
  for (let i = 0; i < buffers.length; i++) {
    const buffer = buffers[i]!
    if (skipped + buffer.length > count) {
      return [buffer.subarray(count - skipped), ...buffers.slice(i + 1)]
    }
    skipped += buffer.length
  }
  return []
}
