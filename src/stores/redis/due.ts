// RedisStore's due scan: a sorted set of ids by expiry, kept by the commit script with each row,
// so that finding the tokens due by a time reads only those tokens.
import type { Redis } from 'ioredis'
import {
  checkDueScanOptions,
  selectDue,
  tokenFromRow,
  type DueScanOptions,
} from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
import { dueScoreOf, rowFromHash, settled, type Hash, type RedisKeys } from './keys.js'
import { DUE_ADD, DUE_RANGE, evalScript } from './scripts.js'
import { BATCH } from './writes.js'

/**
 * The tokens due by `options.before`, in the scan's order, from the due index: one script reads
 * at most `limit` entries from the cursor's place (found by the cursor's own entry, or by its
 * expiry), then the rows of those entries are read in one pipeline. Rows changed between the
 * two reads are put through `selectDue`, the one rule, with what they hold then.
 */
export async function findDue(
  client: Redis,
  keys: RedisKeys,
  options: DueScanOptions,
): Promise<OAuthToken[]> {
  const { before, after, ...checked } = checkDueScanOptions(options)
  // Filled in by the check (its default when absent).
  const limit = checked.limit!
  const ids: string[] = []
  let cursor = after
  for (;;) {
    const wanted = limit - ids.length
    const entries = (await evalScript(
      client,
      DUE_RANGE,
      [keys.due],
      [String(wanted), cursor ? String(cursor.expiryTime) : '', cursor?.id ?? ''],
    )) as string[]
    let past = false
    for (let i = 0; i < entries.length; i += 2) {
      const id = entries[i]!
      const score = Number(entries[i + 1])
      if (score > before) {
        past = true
        break
      }
      // Found by expiry (the cursor's own entry is gone): ties up to the cursor's id were given.
      if (cursor && score === cursor.expiryTime && Buffer.compare(utf8(id), utf8(cursor.id)) <= 0) {
        continue
      }
      ids.push(id)
    }
    const read = entries.length / 2
    if (past || read < wanted || ids.length >= limit) break
    const last = entries.length - 2
    cursor = { expiryTime: Number(entries[last + 1]), id: entries[last]! }
  }
  if (ids.length === 0) return []
  const pipeline = client.pipeline()
  for (const id of ids) pipeline.hgetall(keys.token(id))
  const rows = settled(await pipeline.exec())
  const tokens: OAuthToken[] = []
  for (const [i, hash] of rows.entries()) {
    const row = rowFromHash(hash as Hash, ids[i]!)
    if (row !== null) tokens.push(tokenFromRow(row))
  }
  return selectDue(tokens, { before, limit, after })
}

function utf8(text: string): Buffer {
  return Buffer.from(text, 'utf8')
}

/**
 * Builds the due index of rows written before it existed, once per store: every row's expiry
 * from the id set, a batch per round trip, each entry added by a script that checks the row
 * still holds the expiry read (a row written meanwhile was indexed by its own commit, one
 * deleted stays out). Two processes building at once add the same entries; the mark is set
 * when a pass is complete, and a scan waits for it.
 */
async function buildDueIndex(client: Redis, keys: RedisKeys): Promise<void> {
  let cursor = '0'
  do {
    const [next, page] = await client.zscan(keys.ids, cursor, 'COUNT', BATCH)
    cursor = next
    const ids = page.filter((_, i) => i % 2 === 0)
    if (ids.length === 0) continue
    const pipeline = client.pipeline()
    for (const id of ids) pipeline.hget(keys.token(id), 'expiry_time')
    const expiries = settled(await pipeline.exec()) as (string | null)[]
    const args: string[] = [keys.tokenPrefix]
    for (const [i, id] of ids.entries()) {
      const expiry = expiries[i] ?? null
      // A row without an expiry is never due: it has no entry to add.
      if (expiry !== null) args.push(id, expiry, dueScoreOf(expiry))
    }
    if (args.length > 1) await evalScript(client, DUE_ADD, [keys.due], args)
  } while (cursor !== '0')
  await client.set(keys.dueIndexed, '1')
}

/** The due index of one store, as this process knows it: built once, its scans sharing the build. */
export class DueIndex {
  #complete = false
  #build: Promise<void> | undefined

  constructor(readonly keys: RedisKeys) {}

  /** Resolves once the index is complete, building it first when the store has none yet. */
  async ready(client: Redis): Promise<void> {
    if (this.#complete) return
    this.#build ??= (async () => {
      try {
        if ((await client.exists(this.keys.dueIndexed)) === 0)
          await buildDueIndex(client, this.keys)
        this.#complete = true
      } finally {
        this.#build = undefined
      }
    })()
    await this.#build
  }
}
