import { createHash } from 'node:crypto'
import { TokenStoreError } from '../errors.js'
import type { TokenLock } from '../store.js'
import { FileLock, LockTimeoutError } from './file-lock.js'
import { explainFsError } from './fs-errors.js'
import { Lease } from './lease.js'

/**
 * A lease on one token between processes on this machine, held as a file beside the store's
 * file (`<file>.lock-<hash of the id>`). A holder that died, or whose pid now names another
 * process, is taken over at once; a live one once it has not renewed for `leaseMs`.
 */
export async function lockTokenFile(
  store: string,
  basePath: string,
  id: string,
  options: { timeoutMs: number; leaseMs: number; autoRenew: boolean },
): Promise<TokenLock> {
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 20)
  const lock = new FileLock(`${basePath}.lock-${hash}`, {
    timeoutMs: options.timeoutMs,
    staleMs: options.leaseMs,
  })
  try {
    const hold = await lock.hold()
    return new Lease(store, `token ${id}`, hold, renewal(options))
  } catch (err) {
    const message =
      err instanceof LockTimeoutError
        ? `could not lock token ${id} within ${options.timeoutMs} ms: ${err.message}`
        : `could not lock token ${id}: ${explainFsError(err, basePath)}`
    throw new TokenStoreError(store, 'lock', message, { cause: err })
  }
}

/** How often a lease is renewed on its timer: a third of it, so that one late renewal is harmless. */
export function renewal(options: { leaseMs: number; autoRenew: boolean }): number | undefined {
  return options.autoRenew ? options.leaseMs / 3 : undefined
}

interface Entry {
  readonly owner: symbol
  expiresAt: number
  readonly freed: Promise<void>
  readonly free: () => void
}

/**
 * Leases on tokens inside one process, for stores that live in memory: the same rules as the
 * leases between processes (renewed while held, taken over once they lapse).
 */
export class InProcessLocks {
  readonly #held = new Map<string, Entry>()

  async lock(
    store: string,
    id: string,
    options: { timeoutMs: number; leaseMs: number; autoRenew: boolean },
  ): Promise<TokenLock> {
    const deadline = Date.now() + options.timeoutMs
    for (;;) {
      const current = this.#held.get(id)
      const now = Date.now()
      if (!current || current.expiresAt <= now) break
      const left = deadline - now
      if (left <= 0) {
        throw new TokenStoreError(
          store,
          'lock',
          `could not lock token ${id} within ${options.timeoutMs} ms`,
        )
      }
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        current.freed,
        new Promise((done) => (timer = setTimeout(done, Math.min(left, current.expiresAt - now)))),
      ])
      clearTimeout(timer)
    }
    this.#held.get(id)?.free()
    let free!: () => void
    const freed = new Promise<void>((done) => (free = done))
    const entry: Entry = {
      owner: Symbol(id),
      expiresAt: Date.now() + options.leaseMs,
      freed,
      free,
    }
    this.#held.set(id, entry)
    const ours = () => this.#held.get(id)?.owner === entry.owner
    return new Lease(
      store,
      `token ${id}`,
      {
        extend: async () => {
          // Still ours while nobody took it over, even if it lapsed meanwhile: nobody else held it.
          if (!ours()) return false
          entry.expiresAt = Date.now() + options.leaseMs
          return true
        },
        release: async () => {
          if (!ours()) return
          this.#held.delete(id)
          entry.free()
        },
      },
      renewal(options),
    )
  }
}
