import { createHash } from 'node:crypto'
import { TokenStoreError, describeCause } from '../errors.js'
import type { TokenLock } from '../store.js'
import { FileLock, LockTimeoutError } from './file-lock.js'

/**
 * A lock on one token between processes on this machine, held as a file beside the store's
 * file (`<file>.lock-<hash of the id>`). A holder that died is taken over at once; a live one
 * after `staleMs`.
 */
export async function lockTokenFile(
  store: string,
  basePath: string,
  id: string,
  options: { timeoutMs: number; staleMs: number },
): Promise<TokenLock> {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 20)
  const lock = new FileLock(`${basePath}.lock-${hash}`, options)
  let release: () => Promise<void>
  try {
    release = await lock.acquire()
  } catch (err) {
    const message =
      err instanceof LockTimeoutError
        ? `could not lock token ${id} within ${options.timeoutMs} ms: ${err.message}`
        : `could not lock token ${id}: ${describeCause(err)}`
    throw new TokenStoreError(store, 'lock', message, { cause: err })
  }
  let released = false
  return {
    release: async () => {
      if (released) return
      released = true
      await release()
    },
  }
}

/** Locks on tokens inside one process, for stores that live in memory. */
export class InProcessLocks {
  readonly #held = new Map<string, Promise<void>>()

  async lock(store: string, id: string, timeoutMs: number): Promise<TokenLock> {
    const started = Date.now()
    for (;;) {
      const current = this.#held.get(id)
      if (!current) break
      const left = timeoutMs - (Date.now() - started)
      if (left <= 0)
        throw new TokenStoreError(
          store,
          'lock',
          `could not lock token ${id} within ${timeoutMs} ms`,
        )
      let timer: NodeJS.Timeout | undefined
      await Promise.race([current, new Promise((done) => (timer = setTimeout(done, left)))])
      clearTimeout(timer)
    }
    let free!: () => void
    this.#held.set(id, new Promise<void>((done) => (free = done)))
    let released = false
    return {
      release: async () => {
        if (released) return
        released = true
        this.#held.delete(id)
        free()
      },
    }
  }
}
