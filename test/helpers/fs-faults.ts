/**
 * Fault injection into the real `node:fs`, in the manner of SQLite's ioerr tests: every call
 * the code under test makes on files below one directory is counted, and the k-th one can be
 * made to fail. The real functions are wrapped in place: the methods of `fs.promises` and of
 * `FileHandle` (looked up on each call by the code under test), and the synchronous functions,
 * whose named ESM imports are updated with `module.syncBuiltinESMExports()`. Calls on other
 * paths (the test runner's own) go straight through, uncounted.
 */
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { basename, resolve, sep } from 'node:path'

/** System errors a call can be made to fail with, before it does anything. */
const ERRNO = {
  ENOSPC: [-28, 'no space left on device'],
  EIO: [-5, 'i/o error'],
  EROFS: [-30, 'read-only file system'],
  EDQUOT: [-122, 'disk quota exceeded'],
  EACCES: [-13, 'permission denied'],
  EINVAL: [-22, 'invalid argument'],
} as const

/** A system error code {@link FsFaults} can inject. */
export type Errno = keyof typeof ERRNO

/** How the chosen call fails. */
export type FaultKind =
  /** Fails with this error before doing anything (ENOSPC: the disk is full...). */
  | Errno
  /** A write that writes only part of its bytes and says so; later calls work. */
  | 'short'
  /** A write that writes only part of its bytes; the next write fails with ENOSPC. */
  | 'short-then-ENOSPC'
  /** A write that writes nothing and reports no error (0 bytes written). */
  | 'stuck'

/** One call made on a file below the watched directory. */
export interface FsCall {
  /** The function, e.g. `promises.open`, `FileHandle.writev`, `statSync`. */
  readonly name: string
  /** The file's name, its directory's name for the directory itself. */
  readonly file: string
}

const PROMISE_METHODS = [
  'open',
  'writeFile',
  'appendFile',
  'readFile',
  'link',
  'rename',
  'unlink',
  'rm',
  'readdir',
  'stat',
  'lstat',
  'access',
  'mkdir',
  'copyFile',
  'truncate',
  'chmod',
] as const
const HANDLE_METHODS = [
  'write',
  'writev',
  'writeFile',
  'appendFile',
  'read',
  'readFile',
  'datasync',
  'sync',
  'close',
  'stat',
  'truncate',
  'chmod',
] as const
const SYNC_FUNCTIONS = [
  'openSync',
  'closeSync',
  'fsyncSync',
  'fdatasyncSync',
  'statSync',
  'lstatSync',
  'readFileSync',
  'writeFileSync',
  'writeSync',
  'writevSync',
  'readdirSync',
  'linkSync',
  'renameSync',
  'unlinkSync',
  'accessSync',
] as const

type AnyFunction = (...args: unknown[]) => unknown

function errno(code: Errno, name: string, file: string): NodeJS.ErrnoException {
  const [number, text] = ERRNO[code]
  return Object.assign(new Error(`${code}: ${text}, ${name} '${file}' (injected)`), {
    code,
    errno: number,
    syscall: name,
  })
}

function isErrno(kind: FaultKind): kind is Errno {
  return kind in ERRNO
}

/** The watcher: `install()` once, `arm()` before each run, `uninstall()` at the end. */
export class FsFaults {
  readonly #root: string
  readonly #restore: (() => void)[] = []
  readonly #handles = new WeakSet<object>()
  readonly #fds = new Set<number>()
  #calls: FsCall[] = []
  #counting = false
  #failAt = 0
  #kind: FaultKind = 'EIO'
  /** After a short write in `short-then-ENOSPC`: the next write fails. */
  #diskFull = false
  #injected: FsCall | undefined

  constructor(root: string) {
    this.#root = resolve(root)
  }

  /** The calls counted since the last `arm()`. */
  get calls(): readonly FsCall[] {
    return this.#calls
  }

  /** The call that was made to fail in the last run, if the run got that far. */
  get injected(): FsCall | undefined {
    return this.#injected
  }

  /** Starts counting; the `failAt`-th call (1-based) fails as `kind`; 0 fails none. */
  arm(failAt = 0, kind: FaultKind = 'EIO'): void {
    this.#calls = []
    this.#counting = true
    this.#failAt = failAt
    this.#kind = kind
    this.#diskFull = false
    this.#injected = undefined
  }

  /** Stops counting and failing. */
  disarm(): void {
    this.#counting = false
    this.#failAt = 0
    this.#diskFull = false
  }

  #watched(value: unknown): string | undefined {
    if (typeof value !== 'string' && !(value instanceof URL) && !Buffer.isBuffer(value)) {
      return undefined
    }
    const path = resolve(value instanceof URL ? value.pathname : value.toString())
    return path === this.#root || path.startsWith(this.#root + sep) ? path : undefined
  }

  /**
   * Decides the fate of one call: undefined to make it as it is, or what to do instead.
   * `write` says whether the call writes bytes (only those can be short).
   */
  #visit(name: string, file: string, write: boolean): 'fail' | 'short' | 'stuck' | undefined {
    if (!this.#counting) return undefined
    const call = { name, file }
    this.#calls.push(call)
    if (this.#diskFull && write) {
      this.#injected ??= call
      return 'fail'
    }
    if (this.#calls.length !== this.#failAt) return undefined
    if (isErrno(this.#kind)) {
      this.#injected = call
      return 'fail'
    }
    if (!write) return undefined
    this.#injected = call
    if (this.#kind === 'stuck') return 'stuck'
    if (this.#kind === 'short-then-ENOSPC') this.#diskFull = true
    return 'short'
  }

  #error(name: string, file: string): NodeJS.ErrnoException {
    return errno(isErrno(this.#kind) ? this.#kind : 'ENOSPC', name, file)
  }

  /** Wraps the real functions. */
  async install(): Promise<void> {
    // The wrappers keep the `this` of each call (a FileHandle); they reach the watcher here.
    const watched = (args: unknown[]) => args.map((arg) => this.#watched(arg)).find(Boolean)
    const visit = (name: string, file: string, write: boolean) => this.#visit(name, file, write)
    const error = (name: string, file: string) => this.#error(name, file)
    const handles = this.#handles
    const fds = this.#fds
    const promises = fs.promises as unknown as Record<string, AnyFunction>
    for (const method of PROMISE_METHODS) {
      const real = promises[method]!
      promises[method] = async function (this: unknown, ...args: unknown[]) {
        const path = watched(args)
        if (path === undefined) return real.apply(this, args)
        const file = basename(path)
        // writeFile loops over short writes itself: it can fail, not be short.
        const fate = visit(`promises.${method}`, file, false)
        if (fate === 'fail') throw error(method, file)
        const result = await real.apply(this, args)
        if (method === 'open') handles.add(result as object)
        return result
      }
      this.#restore.push(() => (promises[method] = real))
    }

    // FileHandle is not exported: its prototype is found on a handle.
    const probe = await fs.promises.open(process.execPath, 'r')
    const proto = Object.getPrototypeOf(probe) as Record<string, AnyFunction>
    await probe.close()
    for (const method of HANDLE_METHODS) {
      const real = proto[method]!
      proto[method] = async function (this: object, ...args: unknown[]) {
        if (!handles.has(this)) return real.apply(this, args)
        const writes = method === 'write' || method === 'writev'
        const fate = visit(`FileHandle.${method}`, 'handle', writes)
        if (fate === 'fail') throw error(method, 'handle')
        if (fate === 'short') return shortWrite(real, this, method, args)
        if (fate === 'stuck') return { bytesWritten: 0, buffers: args[0], buffer: args[0] }
        return real.apply(this, args)
      }
      this.#restore.push(() => (proto[method] = real))
    }

    const sync = fs as unknown as Record<string, AnyFunction>
    for (const name of SYNC_FUNCTIONS) {
      const real = sync[name]
      if (typeof real !== 'function') continue
      sync[name] = function (this: unknown, ...args: unknown[]) {
        const first = args[0]
        const byFd = typeof first === 'number' && fds.has(first)
        const path = byFd ? undefined : watched(args)
        if (!byFd && path === undefined) return real.apply(this, args)
        const file = path === undefined ? `fd` : basename(path)
        const fate = visit(name, file, false)
        if (fate === 'fail') throw error(name, file)
        if (name === 'closeSync') fds.delete(first as number)
        const result = real.apply(this, args)
        if (name === 'openSync') fds.add(result as number)
        return result
      }
      this.#restore.push(() => (sync[name] = real))
    }
    syncBuiltinESMExports()
  }

  /** Puts the real functions back. */
  uninstall(): void {
    for (const restore of this.#restore.splice(0).reverse()) restore()
    syncBuiltinESMExports()
  }
}

/**
 * A write of only part of the bytes asked for: the first half of them (at least one), written
 * for real, and a result that says how many.
 */
async function shortWrite(
  real: AnyFunction,
  handle: object,
  method: string,
  args: unknown[],
): Promise<unknown> {
  if (method === 'writev') {
    const [buffers, position] = args as [Buffer[], number | null | undefined]
    const all = Buffer.concat(buffers)
    const part = all.subarray(0, Math.max(1, Math.floor(all.length / 2)))
    const result = (await real.call(handle, [part], position)) as { bytesWritten: number }
    return { bytesWritten: result.bytesWritten, buffers }
  }
  const [buffer, offset = 0, length = buffer.length - offset, position = null] = args as [
    Buffer,
    number?,
    number?,
    (number | null)?,
  ]
  const part = buffer.subarray(offset, offset + Math.max(1, Math.floor(length / 2)))
  const result = (await real.call(handle, part, 0, part.length, position)) as {
    bytesWritten: number
  }
  return { bytesWritten: result.bytesWritten, buffer }
}

/** The names of the files in `directory`, sorted, or none if it is gone. */
export function listDirectory(directory: string): string[] {
  try {
    return fs.readdirSync(directory).sort()
  } catch {
    return []
  }
}
