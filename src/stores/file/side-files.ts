// The files a FileStore writes beside the token file (the next version, the previous one kept
// until the new one is in place): their names, and their removal, now or at the next write.
import { randomBytes } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import { basename, dirname } from 'node:path'
import { isAlive } from '../file-lock.js'

export class SideFiles {
  readonly #absolute: string
  #swept = false
  /** Removals started after a write; waited for by `settle`. */
  readonly #cleanup = new Set<Promise<void>>()
  /** Files of ours (temporary, previous versions) that could not be removed yet. */
  readonly #litter = new Set<string>()

  constructor(absolute: string) {
    this.#absolute = absolute
  }

  /** A temporary name beside the file, hidden, with this process's pid in it. */
  name(kind: 'tmp' | 'old'): string {
    const base = basename(this.#absolute)
    return `${dirname(this.#absolute)}/.${base}.${process.pid}.${randomBytes(6).toString('hex')}.${kind}`
  }

  /** Removes a file of ours; one that cannot be removed now is tried again at the next write. */
  async remove(path: string): Promise<void> {
    try {
      await fsp.unlink(path)
      this.#litter.delete(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#litter.add(path)
      else this.#litter.delete(path)
    }
  }

  /** Removes `path` after the callers have their answer; `settle` waits for it. */
  removeLater(path: string): void {
    const removal: Promise<void> = this.remove(path).finally(() => this.#cleanup.delete(removal))
    this.#cleanup.add(removal)
  }

  /** Before a write: what earlier writes (and killed writers) left is removed. */
  async prepare(): Promise<void> {
    await this.#sweep()
    await this.#removeLitter()
  }

  /** Waits for removals in flight, then removes what could not be removed before. */
  async settle(): Promise<void> {
    await Promise.all(this.#cleanup)
    // Previous versions hold tokens: one that could not be removed after its write goes now.
    await this.#removeLitter()
  }

  async #removeLitter(): Promise<void> {
    for (const path of [...this.#litter]) await this.remove(path)
  }

  /**
   * Removes the temporary files a killed writer left beside the file (they hold tokens), once
   * per store: those of processes that are gone, or older than a minute.
   */
  async #sweep(): Promise<void> {
    if (this.#swept) return
    this.#swept = true
    const directory = dirname(this.#absolute)
    const prefix = `.${basename(this.#absolute)}.`
    const names = await fsp.readdir(directory).catch(() => [] as string[])
    for (const name of names) {
      const match = /^(\d+)\.[0-9a-f]{12}\.(tmp|old)$/.exec(
        name.startsWith(prefix) ? name.slice(prefix.length) : '',
      )
      if (!match) continue
      const pid = Number(match[1])
      const path = `${directory}/${name}`
      const age = await fsp.stat(path).then(
        (st) => Date.now() - st.mtimeMs,
        () => 0,
      )
      if ((pid !== process.pid && !isAlive(pid)) || age > 60_000) {
        await fsp.unlink(path).catch(() => undefined)
      }
    }
  }
}
