/**
 * Gathers the look-ups that arrive in the same turn of the event loop into one query: under
 * concurrent callers a server store then answers many look-ups per round trip instead of one.
 * A single caller waits one turn (microseconds) for nothing.
 */
export class LookupBatcher<V> {
  readonly #run: (keys: string[]) => Promise<Map<string, V>>
  readonly #maxBatch: number
  #pending = new Map<
    string,
    { resolve: (value: V | undefined) => void; reject: (err: unknown) => void }[]
  >()
  #scheduled = false

  /** `run` answers a batch of distinct keys with the value found for each (absent: none). */
  constructor(run: (keys: string[]) => Promise<Map<string, V>>, maxBatch = 200) {
    this.#run = run
    this.#maxBatch = maxBatch
  }

  load(key: string): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiting = this.#pending.get(key)
      if (waiting) waiting.push({ resolve, reject })
      else this.#pending.set(key, [{ resolve, reject }])
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  #flush(): void {
    this.#scheduled = false
    const all = [...this.#pending]
    this.#pending = new Map()
    for (let start = 0; start < all.length; start += this.#maxBatch) {
      const batch = all.slice(start, start + this.#maxBatch)
      this.#run(batch.map(([key]) => key)).then(
        (found) => {
          for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key))
        },
        (err: unknown) => {
          for (const [, waiters] of batch) for (const w of waiters) w.reject(err)
        },
      )
    }
  }
}
