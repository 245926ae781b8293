// A FileStore's group commit, a concept of its own: the writes queued in one turn are applied
// together under the file's write lock and written as one new file, and their callers are
// answered only once the lock is released. The store reads from its snapshot and queues here.
import type { StoreOperation } from '../../errors.js'
import { wrapStoreError } from '../../store-kit/index.js'
import { LockTimeoutError, type FileLock } from '../file-lock.js'
import { explainFsError } from '../fs-errors.js'
import { dropOrphans, keepingPath, readKeeping, writeKeeping, type Keeping } from './keeping.js'
import {
  STORE,
  applyOperation,
  batchOperation,
  keptAside,
  touchesKeeping,
  type Operation,
  type Pending,
} from './operations.js'
import { fail, type TokenFile } from './read.js'
import type { SideFiles } from './side-files.js'
import type { Snapshot } from './snapshot.js'
import { writeSnapshot } from './write.js'

/** What each queued operation is told once its batch is written. */
type Outcomes = Map<Pending, { error: unknown } | { apply?: () => void }>

/** What the writer shares with its store: the file, and the snapshot the store caches. */
export interface WriterHost {
  readonly file: TokenFile
  readonly lock: FileLock
  readonly sideFiles: SideFiles
  /** The snapshot of the file as it is now: the store's cached one unless the file changed. */
  current(operation: StoreOperation): Snapshot
  /** Keeps the snapshot of the file just written, or forgets it (`undefined`: read it again). */
  replace(snapshot: Snapshot | undefined): void
}

export class BatchWriter {
  readonly #host: WriterHost
  #queue: Pending[] = []
  #flushing = false

  constructor(host: WriterHost) {
    this.#host = host
  }

  /** Queues one write; resolves once the batch it joined is written and the lock released. */
  enqueue(op: Operation): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject })
      if (!this.#flushing) {
        this.#flushing = true
        // From the next microtask: operations started in the same turn share one write.
        queueMicrotask(() => void this.#flush())
      }
    })
  }

  /** Resolves once no write is queued or being written. */
  async idle(): Promise<void> {
    while (this.#flushing || this.#queue.length > 0) {
      await new Promise((done) => setImmediate(done))
    }
  }

  /** Writes queued operations, all that arrived meanwhile together, until none is left. */
  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        await this.#writeBatch(batch)
      }
    } finally {
      this.#flushing = false
    }
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    const { file, lock, sideFiles } = this.#host
    const operation = batchOperation(batch)
    let release: () => Promise<void>
    try {
      release = await lock.acquire()
    } catch (err) {
      const error =
        err instanceof LockTimeoutError
          ? fail('lock', `${file.label}: ${err.message}`, err)
          : fail(
              'lock',
              `cannot create the write lock beside ${file.label}: ${explainFsError(err, file.label)}; ` +
                'nothing was written',
              err,
            )
      for (const pending of batch) pending.reject(error)
      return
    }
    // Outcomes are settled once the lock is released, so that a caller who has its answer
    // never finds the file still locked by its own write.
    const outcomes: Outcomes = new Map()
    let keeping: Keeping | undefined
    try {
      const snapshot = this.#host.current(operation)
      if (batch.some((pending) => touchesKeeping(pending.op))) {
        keeping = await readKeeping(keepingPath(file.absolute))
      }
      let changed = snapshot.upgrade
      for (const pending of batch) {
        try {
          const result = applyOperation(snapshot, pending.op, keeping)
          // Changed in memory, the rows no longer are what the text says.
          if (result.changed) snapshot.exact = false
          changed ||= result.changed
          outcomes.set(pending, result.apply ? { apply: result.apply } : {})
        } catch (err) {
          outcomes.set(pending, { error: err })
        }
      }
      if (changed) {
        this.#host.replace(await writeSnapshot(file, sideFiles, snapshot, operation))
      }
      if (keeping) await this.#writeKeeping(keeping, snapshot, batch, outcomes)
    } catch (err) {
      // The file was not replaced: forget what was applied in memory, read it again next time.
      this.#host.replace(undefined)
      const error = wrapStoreError(STORE, operation, err, {
        explain: (e) => `cannot write ${file.label}: ${explainFsError(e, file.label)}`,
      })
      for (const pending of batch) {
        const outcome = outcomes.get(pending)
        if (!outcome || !('error' in outcome)) outcomes.set(pending, { error })
      }
    }
    await release().catch(() => undefined)
    for (const pending of batch) {
      const outcome = outcomes.get(pending)!
      if ('error' in outcome) {
        pending.reject(outcome.error)
      } else {
        outcome.apply?.()
        pending.resolve()
      }
    }
  }

  /**
   * Writes the side file after the token file, when the batch changed it. Its failure fails
   * only the operations kept in it: the tokens are written (see `writeKeeping`).
   */
  async #writeKeeping(keeping: Keeping, snapshot: Snapshot, batch: Pending[], outcomes: Outcomes) {
    dropOrphans(keeping, snapshot.table)
    if (!keeping.changed) return
    const failed = await writeKeeping(this.#host.file.absolute, this.#host.sideFiles, keeping)
    for (const pending of batch) {
      if (failed && keptAside(pending.op) && !('error' in outcomes.get(pending)!)) {
        outcomes.set(pending, { error: failed(batchOperation([pending])) })
      }
    }
  }
}
