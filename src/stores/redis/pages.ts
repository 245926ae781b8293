import type { Redis } from 'ioredis'
import type { TokenRow } from '../../store-kit/index.js'
import { rowFromHash, settled, type Hash, type RedisKeys } from './keys.js'
import type { RedisWrites } from './writes.js'

// Reading rows in bulk: every row (getTokens), and one keyset page of the id set (iterateTokens).

/** Every row, read a batch of ids at a time, each batch in one pipeline. */
export async function readAll(
  client: Redis,
  keys: RedisKeys,
  writes: RedisWrites,
): Promise<TokenRow[]> {
  const rows: TokenRow[] = []
  await writes.eachPage(client, async (ids) => {
    const pipeline = client.pipeline()
    for (const id of ids) pipeline.hgetall(keys.token(id))
    const results = settled(await pipeline.exec())
    for (const [i, hash] of results.entries()) {
      const row = rowFromHash(hash as Hash, ids[i]!)
      if (row !== null) rows.push(row)
    }
  })
  return rows
}

/**
 * One page of rows after score `after`, and the last score listed when the page was full. A
 * row whose score changed since it was listed (deleted and saved again under its id: a new
 * row, with a later number) is left to the page of its new score, so it is not given twice.
 */
export async function readPage(
  client: Redis,
  keys: RedisKeys,
  after: string,
  pageSize: number,
): Promise<{ rows: TokenRow[]; last: string | undefined }> {
  const ids = keys.ids
  const listed = await client.zrangebyscore(ids, after, '+inf', 'WITHSCORES', 'LIMIT', 0, pageSize)
  if (listed.length === 0) return { rows: [], last: undefined }
  const pipeline = client.pipeline()
  for (let i = 0; i < listed.length; i += 2) {
    pipeline.hgetall(keys.token(listed[i]!))
    pipeline.zscore(ids, listed[i]!)
  }
  const results = settled(await pipeline.exec())
  const rows: TokenRow[] = []
  for (let i = 0; i < listed.length; i += 2) {
    // Read after the row: the same score then means the row read is the one listed.
    if (results[i + 1] !== listed[i + 1]) continue
    const row = rowFromHash(results[i] as Hash, listed[i]!)
    if (row !== null) rows.push(row)
  }
  const full = listed.length === 2 * pageSize
  return { rows, last: full ? listed[listed.length - 1] : undefined }
}
