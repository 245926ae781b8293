import { accessSync, constants, statfsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { describeCause } from '../errors.js'

/** A storage failure a user can act on: what happened, in words, and what to do about it. */
interface Cause {
  readonly what: string
  /** `{where}` stands for the store's file. */
  readonly todo: string
}

const DISK_FULL: Cause = {
  what: 'the disk is full',
  todo: 'free space on the volume that holds {where}, then try again',
}
const QUOTA: Cause = {
  what: 'the disk quota is used up',
  todo: 'free space or raise the quota of the user this process runs as, then try again',
}
const IO_ERROR: Cause = {
  what: 'an I/O error (the disk or the connection to it failed)',
  todo: 'check the disk and the system log (dmesg) before trying again',
}
const READ_ONLY: Cause = {
  what: 'the file system is read-only',
  todo: 'remount it read-write, or keep the store on a writable volume',
}
const PERMISSION: Cause = {
  what: 'permission denied',
  todo: 'give the user this process runs as write access to {where} and its directory',
}
const TOO_MANY_FILES: Cause = {
  what: 'too many open files',
  todo: 'raise the open-file limit (ulimit -n) or close the files this process keeps open',
}

/** The code of {@link shortWriteError}: not an errno, a write that made no progress. */
const SHORT_WRITE = 'ESHORTWRITE'

/** File-system error codes (errno names, as Node gives them), by what they mean. */
const ERRNO: Readonly<Record<string, Cause>> = {
  ENOSPC: DISK_FULL,
  [SHORT_WRITE]: DISK_FULL,
  EDQUOT: QUOTA,
  EIO: IO_ERROR,
  EROFS: READ_ONLY,
  EACCES: PERMISSION,
  EPERM: PERMISSION,
  EMFILE: TOO_MANY_FILES,
  ENFILE: TOO_MANY_FILES,
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

function say(cause: Cause, code: string, where: string): string {
  return `${cause.what} (${code}); ${cause.todo.replace('{where}', where)}`
}

/**
 * The error for a write that made no progress: the file system took none of the bytes and
 * reported no error. Only a full disk does that; it is named as such.
 */
export function shortWriteError(wanted: number): Error {
  return Object.assign(
    new Error(`the file system took 0 of ${wanted} bytes and reported no error`),
    { code: SHORT_WRITE },
  )
}

/**
 * Says what a failed file-system call means, in words, and what to do, for an error message:
 * `the disk is full (ENOSPC); free space on the volume that holds tokens.csv, then try again`.
 * An error it does not know is described as it is.
 */
export function explainFsError(err: unknown, where: string): string {
  const code = codeOf(err)
  const cause = code === undefined ? undefined : ERRNO[code]
  return cause && code ? say(cause, code, where) : describeCause(err)
}

/**
 * What is wrong with the volume that holds `path`, when SQLite's own code does not say: no free
 * space left, read-only, or no write permission. Undefined when nothing is found.
 */
function probeVolume(path: string): Cause | undefined {
  const directory = dirname(resolve(path))
  try {
    if (statfsSync(directory).bavail === 0) return DISK_FULL
  } catch {
    // The volume cannot be asked; the access check below may still tell.
  }
  try {
    accessSync(directory, constants.W_OK)
  } catch (err) {
    const code = codeOf(err)
    return code === undefined ? undefined : ERRNO[code]
  }
  return undefined
}

/**
 * Says what a SQLite storage failure means (`SQLITE_FULL`, `SQLITE_IOERR_*`, `SQLITE_READONLY*`,
 * `SQLITE_CANTOPEN*`), in words and with what to do; undefined when there is nothing to add to
 * the store's own message. SQLite does not pass the system's errno on, so the volume is asked:
 * a full disk also surfaces as `SQLITE_IOERR_SHMSIZE` (no room for the shared-memory file), and
 * a read-only file system as `SQLITE_CANTOPEN` (no -wal file can be made) or `SQLITE_READONLY`.
 */
export function explainSqliteStorageError(err: unknown, path: string): string | undefined {
  const code = codeOf(err)
  if (code === undefined) return undefined
  if (code === 'SQLITE_FULL') return say(DISK_FULL, code, path)
  const family = ['SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN'].find(
    (name) => code === name || code.startsWith(`${name}_`),
  )
  if (family === undefined || path === ':memory:') return undefined
  const cause = probeVolume(path)
  switch (family) {
    case 'SQLITE_IOERR':
      return say(cause ?? IO_ERROR, code, path)
    case 'SQLITE_READONLY':
      // A read-only file (its mode) says so in the store's own words; a read-only volume here.
      return cause === READ_ONLY ? say(cause, code, path) : undefined
    default:
      return cause ? say(cause, code, path) : undefined
  }
}
