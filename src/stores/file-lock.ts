import { randomBytes } from 'node:crypto'
import { promises as fsp, readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** How a {@link FileLock} waits and when it takes over a lock left behind. */
export interface FileLockOptions {
  /** Give up after waiting this long (ms). */
  readonly timeoutMs: number
  /** A lock older than this (ms) is taken over even if its holder seems alive. */
  readonly staleMs: number
}

interface Holder {
  readonly pid: number
  readonly host: string
  readonly nonce: string
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
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/**
 * An exclusive lock between processes, held as a file beside the data: created atomically with
 * `link()` (it fails when the lock exists, even over NFS), holding the owner's pid, host and a
 * nonce. A lock whose owner on this host has died is taken over at once; any lock older than
 * `staleMs` is taken over too. Taking over is itself serialized by a second, short-lived file,
 * so that two waiters never both remove a lock and both believe they hold it.
 */
export class FileLock {
  readonly path: string
  readonly #options: FileLockOptions
  #swept = false

  constructor(path: string, options: FileLockOptions) {
    this.path = path
    this.#options = options
  }

  /** Waits for the lock; resolves to the function that releases it. */
  async acquire(): Promise<() => Promise<void>> {
    const nonce = randomBytes(12).toString('hex')
    const content = JSON.stringify({ pid: process.pid, host: HOST, nonce } satisfies Holder)
    const started = Date.now()
    let delay = 1
    if (!this.#swept) {
      this.#swept = true
      await this.#sweep()
    }
    for (;;) {
      if (await this.#tryCreate(content)) {
        return () => this.#release(nonce)
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
    let holder: Partial<Holder> = {}
    try {
      holder = JSON.parse(content) as Partial<Holder>
    } catch {
      // Not ours or damaged: only its age can free it.
    }
    const label =
      holder.pid === undefined ? 'an unknown process' : `pid ${holder.pid} on ${holder.host}`
    const dead = holder.host === HOST && typeof holder.pid === 'number' && !isAlive(holder.pid)
    const old = Date.now() - mtimeMs > this.#options.staleMs
    return { stale: dead || old, content, holder: label }
  }

  /** Removes a stale lock; false when another process is taking it over right now. */
  async #breakStale(expected: string | undefined): Promise<boolean> {
    const breaker = `${this.path}.break`
    try {
      await fsp.writeFile(breaker, String(process.pid), { flag: 'wx', mode: 0o600 })
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err
      // Someone else is taking it over. A take-over lasts microseconds: a breaker whose
      // process is gone, or that is older than a few seconds, was left by a crash.
      const [owner, age] = await Promise.all([
        fsp.readFile(breaker, 'utf8').then(Number, () => Number.NaN),
        fsp.stat(breaker).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        ),
      ])
      const dead = Number.isInteger(owner) && owner !== process.pid && !isAlive(owner)
      if (dead || age > 5000) await fsp.unlink(breaker).catch(() => undefined)
      return dead || age > 5000
    }
    try {
      const now = await fsp.readFile(this.path, 'utf8').catch(() => undefined)
      if (now !== undefined && now === expected) await fsp.unlink(this.path).catch(() => undefined)
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
          .then(Number, () => Number.NaN)
        if (Number.isInteger(owner) && owner !== process.pid && !isAlive(owner)) {
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

  async #release(nonce: string): Promise<void> {
    const content = await fsp.readFile(this.path, 'utf8').catch(() => '')
    if (content.includes(nonce)) await fsp.unlink(this.path)
  }
}
