import { randomBytes } from 'node:crypto'
import { promises as fsp, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
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
    for (;;) {
      if (await this.#tryCreate(content)) {
        return { extend: () => this.#extend(nonce), release: () => this.#release(nonce) }
      }
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

  async #tryCreate(content: string): Promise<boolean> {
    const temp = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.new`
    await fsp.writeFile(temp, content, { mode: 0o600 })
    try {
      await fsp.link(temp, this.path)
      return true
    } catch (err) {
      if (code(err) === 'EEXIST') return false
      throw err
    } finally {
      await fsp.unlink(temp).catch(() => undefined)
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
    try {
      // The bare pid, as every version writes and reads it: a marker lives for microseconds.
      await fsp.writeFile(breaker, String(process.pid), { flag: 'wx', mode: 0o600 })
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err
      // Someone else is taking it over. A take-over lasts microseconds: a breaker whose
      // process is gone, or that is older than a few seconds, was left by a crash.
      const [owner, age] = await Promise.all([
        fsp.readFile(breaker, 'utf8').then(parseHolder, () => NOBODY),
        fsp.stat(breaker).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        ),
      ])
      const left = owner.pid !== process.pid && holderGone(owner)
      if (left || age > 5000) await fsp.unlink(breaker).catch(() => undefined)
      return left || age > 5000
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
        const owner = await fsp
          .readFile(`${directory}/${name}`, 'utf8')
          .then(parseHolder, () => NOBODY)
        if (owner.pid !== process.pid && holderGone(owner)) {
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

  async #release(nonce: string): Promise<void> {
    if (!(await this.#holds(nonce).catch(() => false))) return
    await fsp.unlink(this.path).catch((err: unknown) => {
      if (code(err) !== 'ENOENT') throw err
    })
  }
}
