// The read-only passes of a migration, apart from its copy loop (migration.ts): reading the
// source a chunk at a time, looking each token up in the target, the id-collision rule, and the
// comparisons before anything is written and after the copy. Nothing here writes.
import { IdCollisionError } from './errors.js'
import { eachToken } from './iteration.js'
import { type TokenStore } from './store.js'
import { rowFromToken } from './store/rows.js'
import { OAuthToken, UserSignature } from './token.js'

/** Every value of a token, for comparing a copy with its original (empty counts as absent). */
export function valuesOf(token: OAuthToken): string {
  return JSON.stringify(rowFromToken(token, token.id ?? ''))
}

/**
 * The id-collision rule, the one place it is written: a target row may be replaced by a source
 * token only if it holds the same user and the same client (as stored, absent equal to absent).
 */
export function sameOwner(a: OAuthToken, b: OAuthToken): boolean {
  const x = rowFromToken(a, '')
  const y = rowFromToken(b, '')
  return x.user_name === y.user_name && x.client_id === y.client_id
}

const RESOLVE =
  'delete or rename those rows in the target (tokenkeeper delete <id> --store <target>), ' +
  'or migrate into an empty store'

/** Lookups in a store at once, for a page of tokens: a server store answers them in parallel. */
export const LOOKUPS = 16

/** The items of an iterable in arrays of `size`: one array in hand at a time. */
async function* chunksOf<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let chunk: T[] = []
  for await (const item of items) {
    chunk.push(item)
    if (chunk.length === size) {
      yield chunk
      chunk = []
    }
  }
  if (chunk.length > 0) yield chunk
}

/** `work` on each item, `limit` at a time; the results in the items' order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const at = next++
      results[at] = await work(items[at]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** The source tokens with an id, a chunk at a time. */
export function sourceChunks(
  source: TokenStore,
  size: number,
  onProgress?: (seen: number) => void,
): AsyncGenerator<OAuthToken[]> {
  const pass = eachToken(source, {
    pageSize: Math.min(size, 100_000),
    ...(onProgress ? { onProgress } : {}),
  })
  return chunksOf(withIds(pass), size)
}

async function* withIds(tokens: AsyncIterable<OAuthToken>): AsyncGenerator<OAuthToken> {
  for await (const token of tokens) if (token.id !== undefined) yield token
}

/**
 * The comparison before anything is written: one pass over the source, each token looked up in
 * the target by id and by user. Refuses ({@link IdCollisionError}) a source token whose id holds
 * another user or client in the target, or whose user the target holds under another id.
 */
export async function compareFirst(
  source: TokenStore,
  target: TokenStore,
  size: number,
  onProgress?: (seen: number) => void,
): Promise<{ tokens: number; identical: number; absent: number }> {
  let tokens = 0
  let identical = 0
  let absent = 0
  const ids = new Set<string>()
  const shown: string[] = []
  let collisions = 0
  const collide = (id: string, why: string): void => {
    ids.add(id)
    collisions += 1
    if (shown.length < 5) shown.push(why)
  }
  for await (const chunk of sourceChunks(source, size, onProgress)) {
    const found = await mapLimited(chunk, LOOKUPS, async (token) => {
      const name = token.userSignature?.name
      const byUser = name ? new OAuthToken({ userSignature: new UserSignature(name) }) : undefined
      return {
        there: await target.findTokenById(token.id!),
        holder: byUser ? await target.findToken(byUser) : null,
      }
    })
    chunk.forEach((token, at) => {
      const id = token.id!
      const { there, holder } = found[at]!
      tokens += 1
      if (!there) absent += 1
      else if (valuesOf(there) === valuesOf(token)) identical += 1
      if (there && !sameOwner(there, token)) {
        collide(id, `id ${id} holds another user or client in the target`)
      }
      // The store may match names more loosely (a SQL collation): the rule compares them exactly.
      const owner =
        holder?.userSignature?.name === token.userSignature?.name ? holder?.id : undefined
      if (owner !== undefined && owner !== id) {
        collide(id, `the user of id ${id} is stored in the target under id ${owner}`)
      }
    })
  }
  if (collisions > 0) {
    throw new IdCollisionError(
      [...ids],
      `${ids.size} token${ids.size === 1 ? '' : 's'} of the source would replace ` +
        `another user's token in the target: ${shown.join('; ')}` +
        `${collisions > 5 ? '; ...' : ''}. Nothing was written: ${RESOLVE}`,
    )
  }
  return { tokens, identical, absent }
}

/** The tokens of a store, counted a page at a time. */
export async function countTokens(store: TokenStore): Promise<number> {
  let count = 0
  for await (const token of eachToken(store)) {
    void token
    count += 1
  }
  return count
}

/**
 * The source as it is now against the target: one pass over the source, each token looked up in
 * the target by id. Keeps the ids (and the values read) of the tokens missing or different only.
 */
export async function compareAfter(
  source: TokenStore,
  target: TokenStore,
  size: number,
  onProgress?: (seen: number) => void,
): Promise<{ missing: string[]; different: string[]; seen: Map<string, string> }> {
  const missing: string[] = []
  const different: string[] = []
  const seen = new Map<string, string>()
  for await (const chunk of sourceChunks(source, size, onProgress)) {
    const there = await mapLimited(chunk, LOOKUPS, (token) => target.findTokenById(token.id!))
    chunk.forEach((token, at) => {
      const id = token.id!
      const values = valuesOf(token)
      const held = there[at]
      if (held && valuesOf(held) === values) return
      ;(held ? different : missing).push(id)
      seen.set(id, values)
    })
  }
  return { missing, different, seen }
}
