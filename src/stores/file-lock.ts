import { randomBytes } from 'node:crypto'
import { promises as fsp, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { retry } from '../store-kit/retry.js'
import { Lease, type LeaseHold } from './lease.js'

/** How a {@link FileLock} waits and how long its lease lasts. */
export interface FileLockOptions {
  /** Give up after waiting this long (ms). */
  readonly timeoutMs: number
  /**
   * The lease (ms): the holder touches the lock file every third of it; a lock file untouched
   * for longer than its holder's lease is taken over even if its holder seems alive.
   */
  readonly staleMs: number
}

/**
 * Who holds a lock, as its file records it. A pid alone is not an identity: pids are reused,
 * so the process's start time (and the boot it started in) say whether the process running
 * under that pid now is the one that took the lock.
 */
interface Holder {
  readonly pid: number
  readonly host: string
  readonly nonce: string
  /** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
  readonly start?: string
  /** /proc/sys/kernel/random/boot_id when the lock was taken. */
  readonly boot?: string
  /** The holder's lease (ms): how long its file may stay untouched before it is stale. */
  readonly lease?: number
}

/** Thrown when the lock could not be had in time; the store wraps it. */
export class LockTimeoutError extends Error {
  constructor(
    readonly waitedMs: number,
    readonly holder: string,
  ) {
    super(`timed out after ${waitedMs} ms waiting for the lock held by ${holder}`)
  }
}

const HOST = hostname()
const BOOT = readText('/proc/sys/kernel/random/boot_id')

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parens). */
function procStat(pid: number): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** When a process started (field 22 of its stat), or undefined where /proc is not there. */
export function processStart(pid: number): string | undefined {
  // The fields after the name start at field 3 (the state): field 22 is the 20th of them.
  return procStat(pid)?.[19]
}

const SELF_START = processStart(process.pid)

/**
 * Whether a process with this pid is running on this host. A process that was killed but not
 * yet reaped by its parent (a zombie) still has its pid; on Linux its state says it is gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  const state = procStat(pid)?.[0]
  return state !== 'Z'
}

/**
 * Whether the process a lock file names is surely gone: on this host, and it has died, or its
 * pid now belongs to another process (another start time), or the machine has rebooted since.
 * A holder on another host, or a record without these facts, is judged by age alone.
 */
function holderGone(holder: Partial<Holder>): boolean {
  if (holder.host !== HOST || typeof holder.pid !== 'number') return false
  if (typeof holder.boot === 'string' && BOOT !== undefined && holder.boot !== BOOT) return true
  if (!isAlive(holder.pid)) return true
  if (typeof holder.start !== 'string') return false
  const now = processStart(holder.pid)
  return now !== undefined && now !== holder.start
}

/** What an unreadable record tells: nothing. */
const NOBODY: Partial<Holder> = {}

function parseHolder(content: string): Partial<Holder> {
  try {
    const parsed: unknown = JSON.parse(content)
    if (typeof parsed === 'object' && parsed !== null) return parsed
    // A bare pid, as older take-over markers hold.
    if (typeof parsed === 'number') return { pid: parsed, host: HOST }
  } catch {
    // Not ours or damaged: only its age can free it.
  }
  return NOBODY
}

function describeHolder(holder: Partial<Holder>): string {
  return holder.pid === undefined ? 'an unknown process' : `pid ${holder.pid} on ${holder.host}`
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/** How long a take-over may last before its marker counts as left by a crash (ms). */
const TAKE_OVER_MS = 5000

/**
 * How long a marker that names nobody may stay (ms). This version links its marker into place
 * whole; an older one wrote it in place, so its marker was empty for a moment. Empty for longer
 * than this, it was left by a process killed in that moment.
 */
const UNNAMED_MARKER_MS = 1000

/** Whether the take-over marker at `breaker` was left behind: its process is gone, or it is old. */
async function markerAbandoned(breaker: string): Promise<boolean> {
  const [owner, age] = await Promise.all([
    fsp.readFile(breaker, 'utf8').then(parseHolder, () => NOBODY),
    fsp.stat(breaker).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    ),
  ])
  if (owner.pid !== process.pid && holderGone(owner)) return true
  return age > (owner.pid === undefined ? UNNAMED_MARKER_MS : TAKE_OVER_MS)
}

/**
 * Runs a removal, trying again after a transient failure (EIO) with the kit's retry; a file
 * already gone (ENOENT) is done. Rethrows the last failure.
 */
async function retrying(removal: () => Promise<void>): Promise<void> {
  await retry(
    async () => {
      try {
        await removal()
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err
      }
    },
    { retryable: () => true, attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
  )
}

/** Temporary files of this process that could not be removed: tried again at the next lock. */
const LEFTOVERS = new Set<string>()

async function removeTemporary(path: string): Promise<void> {
  await retrying(() => fsp.unlink(path)).then(
    () => LEFTOVERS.delete(path),
    () => LEFTOVERS.add(path),
  )
}

/**
 * Locks of this process whose file could not be removed on release (path → nonce): nobody here
 * holds them any more, so the next lock on that path in this process takes the file over as it
 * is instead of waiting for it to go stale.
 */
const UNRELEASED = new Map<string, string>()

/**
 * An exclusive lease between processes, held as a file beside the data: created atomically
 * with `link()` (it fails when the lock exists, even over NFS), recording the owner's pid,
 * start time, boot, host, lease and a nonce. Its holder touches it every third of the lease. A
 * lock whose owner on this host has died, or whose pid now names another process, is taken
 * over at once; a lock left untouched for longer than its holder's lease is taken over too.
 * Taking over is itself serialized by a second, short-lived file, so that two waiters never
 * both remove a lock and both believe they hold it.
 */
export class FileLock {
  readonly path: string
  readonly #options: FileLockOptions
  #swept = false

  constructor(path: string, options: FileLockOptions) {
    this.path = path
    this.#options = options
  }

  /** Waits for the lock and keeps it renewed; resolves to the function that releases it. */
  async acquire(): Promise<() => Promise<void>> {
    const lease = new Lease('FileLock', this.path, await this.hold(), this.#options.staleMs / 3)
    return () => lease.release()
  }

  /** Waits for the lock; resolves to what renews (touches) and releases it. */
  async hold(): Promise<LeaseHold> {
    const nonce = randomBytes(12).toString('hex')
    const content = JSON.stringify(this.#record(nonce))
    const started = Date.now()
    let delay = 1
    if (!this.#swept) {
      this.#swept = true
      await this.#sweep()
    }
    await Promise.all([...LEFTOVERS].map(removeTemporary))
    const key = resolve(this.path)
    const unreleased = UNRELEASED.get(key)
    if (unreleased !== undefined) {
      // Taken out before any await: one acquirer in this process takes it over.
      UNRELEASED.delete(key)
      try {
        if (await this.#extend(unreleased)) return this.#held(unreleased)
      } catch (err) {
        // Still cannot touch it: say why now rather than waiting out the timeout.
        if (!UNRELEASED.has(key)) UNRELEASED.set(key, unreleased)
        throw err
      }
    }
    for (;;) {
      if (await this.#create(this.path, content)) return this.#held(nonce)
      const seen = await this.#inspect()
      if (seen.stale && (await this.#breakStale(seen.content))) continue
      const waited = Date.now() - started
      if (waited >= this.#options.timeoutMs) {
        throw new LockTimeoutError(waited, seen.holder)
      }
      await sleep(delay + Math.random() * delay)
      delay = Math.min(delay * 1.5, 25)
    }
  }

  #record(nonce: string): Holder {
    return {
      pid: process.pid,
      host: HOST,
      nonce,
      ...(SELF_START === undefined ? {} : { start: SELF_START }),
      ...(BOOT === undefined ? {} : { boot: BOOT }),
      lease: this.#options.staleMs,
    }
  }

  #held(nonce: string): LeaseHold {
    return { extend: () => this.#extend(nonce), release: () => this.#release(nonce) }
  }

  /**
   * Creates `target` holding `content`, whole or not at all: written to a file of its own,
   * created exclusively (a file or symlink planted under its name is never written through),
   * then linked into place, which fails when `target` exists: false then. The temporary file is
   * removed on every path (a full disk, a failed link); one that cannot be is tried again at the
   * next lock, and the sweep of a later process removes it once this one is gone.
   */
  async #create(target: string, content: string): Promise<boolean> {
    const temp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.new`
    try {
      await fsp.writeFile(temp, content, { flag: 'wx', mode: 0o600 })
    } catch (err) {
      // EEXIST: not ours to remove. Otherwise it may have been created before the write failed.
      if (code(err) !== 'EEXIST') await removeTemporary(temp)
      throw err
    }
    try {
      await fsp.link(temp, target)
      return true
    } catch (err) {
      if (code(err) === 'EEXIST') return false
      throw err
    } finally {
      await removeTemporary(temp)
    }
  }

  async #inspect(): Promise<{ stale: boolean; content: string | undefined; holder: string }> {
    let content: string
    let mtimeMs: number
    try {
      ;[content, { mtimeMs }] = await Promise.all([
        fsp.readFile(this.path, 'utf8'),
        fsp.stat(this.path),
      ])
    } catch (err) {
      if (code(err) === 'ENOENT') return { stale: false, content: undefined, holder: 'nobody' }
      throw err
    }
    const holder = parseHolder(content)
    const lease =
      typeof holder.lease === 'number' && holder.lease > 0 ? holder.lease : this.#options.staleMs
    const old = Date.now() - mtimeMs > lease
    return { stale: old || holderGone(holder), content, holder: describeHolder(holder) }
  }

  /** Removes a stale lock; false when another process is taking it over right now. */
  async #breakStale(expected: string | undefined): Promise<boolean> {
    const breaker = `${this.path}.break`
    // The bare pid, as every version reads it, linked into place whole: never an empty marker.
    if (!(await this.#create(breaker, String(process.pid)))) {
      // Someone else is taking it over, or a crash left the marker behind.
      if (!(await markerAbandoned(breaker))) return false
      await fsp.unlink(breaker).catch(() => undefined)
      return true
    }
    try {
      // Looked at again under the marker: a holder that renewed meanwhile keeps its lock.
      const now = await this.#inspect()
      if (now.content !== undefined && now.content === expected && now.stale) {
        await fsp.unlink(this.path).catch(() => undefined)
      }
      return true
    } finally {
      await fsp.unlink(breaker).catch(() => undefined)
    }
  }

  /**
   * Removes what killed processes left beside the lock: the files a lock is created from
   * (`<lock>.<pid>.<random>.new`) and the take-over marker (`<lock>.break`) of processes that
   * are gone. Once per lock object.
   */
  async #sweep(): Promise<void> {
    const directory = dirname(this.path)
    const prefix = `${basename(this.path)}.`
    const names = await fsp.readdir(directory).catch(() => [] as string[])
    const breaker = `${basename(this.path)}.break`
    for (const name of names) {
      if (name === breaker) {
        // A take-over marker of a process that died in the middle of it.
        if (await markerAbandoned(`${directory}/${name}`)) {
          await fsp.unlink(`${directory}/${name}`).catch(() => undefined)
        }
        continue
      }
      if (!name.startsWith(prefix)) continue
      const match = /^(\d+)\.[0-9a-f]{12}(\.new)?$/.exec(name.slice(prefix.length))
      if (!match) continue
      const pid = Number(match[1])
      if (pid !== process.pid && !isAlive(pid))
        await fsp.unlink(`${directory}/${name}`).catch(() => undefined)
    }
  }

  /**
   * Renews: touches the lock file while it still holds our nonce, then reads it again, so that
   * a take-over that raced the touch is seen. False when the lock is no longer ours.
   */
  async #extend(nonce: string): Promise<boolean> {
    if (!(await this.#holds(nonce))) return false
    const now = new Date()
    try {
      await fsp.utimes(this.path, now, now)
    } catch (err) {
      if (code(err) === 'ENOENT') return false
      throw err
    }
    return this.#holds(nonce)
  }

  async #holds(nonce: string): Promise<boolean> {
    try {
      return (await fsp.readFile(this.path, 'utf8')).includes(nonce)
    } catch (err) {
      if (code(err) === 'ENOENT') return false
      throw err
    }
  }

  /**
   * Removes the lock file while it is ours, trying again after a failure (to read it or to
   * remove it). One that still fails is recorded as unreleased, and release resolves: its
   * callers' work is done and durable (a save written, a refresh saved), and failing them would
   * report it as lost. Nor is the failure lost: this process takes the file over on its next
   * lock, which rejects with the cause if the file still cannot be touched; other processes
   * take it over once its lease lapses, or at once when this process has exited.
   */
  async #release(nonce: string): Promise<void> {
    try {
      await retrying(async () => {
        if (await this.#holds(nonce)) await fsp.unlink(this.path)
      })
    } catch {
      UNRELEASED.set(resolve(this.path), nonce)
    }
  }
}
