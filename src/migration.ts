import { saveOver, withTokenLock } from './refresh/lease.js'
import { IdCollisionError, TokenConflictError } from './errors.js'
import { eachToken } from './iteration.js'
import { rowFromToken, type TokenStore } from './store.js'
import { OAuthToken, UserSignature } from './token.js'

/** Options of {@link migrateTokens}. */
export interface MigrationOptions {
  /**
   * Tokens of the source handled at a time: read, looked up in the target, and those new to it
   * saved concurrently (a FileStore writes them in one batch); default 500. The memory of a
   * migration is about this many tokens, whatever the stores' size.
   */
  batch?: number
  /** Tokens checked under their leases at once; default 4 (a server store's lease holds a connection). */
  leased?: number
  /** How long to wait for each lease (ms); default that of `withTokenLock`. */
  lockTimeoutMs?: number
  /**
   * Once the source was compared with the target (nothing written yet) and the copy starts: the
   * source's tokens, and how many the target holds identical.
   */
  onStart?: (tokens: number, identical: number) => void
  /** Tokens new to the target saved so far, of how many (found new by the comparison). */
  onCopied?: (done: number, total: number) => void
  /** Tokens checked under their leases so far, of how many. */
  onChecked?: (done: number, total: number) => void
  /**
   * Progress of the passes that only read: the comparison with the target before anything is
   * written (`compared`) and the verification at the end (`verified`); the source's tokens so
   * far, after each page and at the end of the pass.
   */
  onPass?: (pass: 'compared' | 'verified', done: number) => void
}

/** What {@link migrateTokens} did, and what the target held afterwards. */
export interface MigrationResult {
  /** The source's tokens (with an id) when the migration started (its comparison pass). */
  readonly tokens: number
  /** Already in the target, identical. */
  readonly skipped: number
  /**
   * Written to the target: each token of the copy pass written there once or more, and each
   * token the verification found missing from the target and wrote.
   */
  readonly copied: number
  /**
   * Changed in the source while the migration ran (found under its lease in another form than
   * the migration had read: a refresh), or found only by the verification (added to the source
   * late in the migration; a row deleted from the target meanwhile counts here too): copied in
   * their newest form. Grows with the tokens changed, not with the store.
   */
  readonly changed: string[]
  /** Deleted from the source while the migration ran: not copied. */
  readonly gone: string[]
  readonly failed: { id: string; reason: string }[]
  /** Verification, against the source as it is at the end: tokens in the target. */
  readonly target: number
  /** Source ids the target lacks. */
  readonly missing: string[]
  /** Source ids the target holds with other values. */
  readonly different: string[]
}

/** Every value of a token, for comparing a copy with its original (empty counts as absent). */
function valuesOf(token: OAuthToken): string {
  return JSON.stringify(rowFromToken(token, token.id ?? ''))
}

/**
 * The id-collision rule, the one place it is written: a target row may be replaced by a source
 * token only if it holds the same user and the same client (as stored, absent equal to absent).
 */
function sameOwner(a: OAuthToken, b: OAuthToken): boolean {
  const x = rowFromToken(a, '')
  const y = rowFromToken(b, '')
  return x.user_name === y.user_name && x.client_id === y.client_id
}

const RESOLVE =
  'delete or rename those rows in the target (tokenkeeper delete <id> --store <target>), ' +
  'or migrate into an empty store'

/** Lookups in a store at once, for a page of tokens: a server store answers them in parallel. */
const LOOKUPS = 16

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
async function mapLimited<T, R>(
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

type Checked = 'same' | 'copied' | 'gone' | { failed: string }

/** What the migration knows of one token: its values as read in the source, and in the target. */
interface Known {
  /** As this migration read it in the source (before its lease). */
  seen: string | undefined
  /** What the target holds, as far as this migration knows: what it found or wrote there. */
  held: string | undefined
}

/** The source tokens with an id, a chunk at a time. */
function sourceChunks(
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
async function compareFirst(
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

/**
 * Copies every token of `source` into `target` with its id, without losing a refresh that runs
 * meanwhile. Refuses, before writing anything, a source token whose id holds another user or
 * client in the target, or whose user the target holds under another id ({@link IdCollisionError}).
 *
 * Every pass reads the source a page at a time (`eachToken`) and looks each token up in the
 * target by id, a chunk of `batch` tokens at a time: the memory of a migration is about one
 * chunk, whatever the stores' size (the result's lists hold only the tokens that changed, went,
 * failed or differ). A first pass compares the source with the target and writes nothing. The
 * copy pass saves the tokens of a chunk new to the target concurrently; then each token of the
 * chunk is checked under its lease in the source (which a refresh holds while it runs) and its
 * lease in the target: read again on both sides and, if they differ, the source's current form
 * is saved over the target row, only while that row still holds what was read. A target row
 * with a later expiry than the source's (refreshed in the target) is not overwritten: it fails.
 * The end compares the target with the source as it is then (a pass over the source, each token
 * looked up in the target), and checks again what changed.
 */
export async function migrateTokens(
  source: TokenStore,
  target: TokenStore,
  options: MigrationOptions = {},
): Promise<MigrationResult> {
  const batch = Math.max(1, options.batch ?? 500)
  const leased = options.leased ?? 4
  const lock = options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }
  const onPass = options.onPass
  const first = await compareFirst(
    source,
    target,
    batch,
    onPass && ((done) => onPass('compared', done)),
  )

  const failed = new Map<string, string>()
  const changed = new Set<string>()
  const gone = new Set<string>()
  let copied = 0
  let skipped = 0

  /**
   * One token, under its lease in the source; then, unless the target is known to hold it as it
   * is now, under its lease in the target.
   */
  const check = (id: string, known: Known): Promise<Checked> =>
    withTokenLock(
      source,
      id,
      async () => {
        // Read again: a refresh that held the lease may just have rotated the token.
        const current = await source.findTokenById(id)
        if (!current) return 'gone'
        const values = valuesOf(current)
        if (values !== known.seen) changed.add(id)
        if (known.held === values) return 'same'
        return withTokenLock(
          target,
          id,
          async (): Promise<Checked> => {
            const there = await target.findTokenById(id)
            if (there && valuesOf(there) === valuesOf(current)) return 'same'
            if (there && !sameOwner(there, current)) {
              return { failed: `the target's row ${id} now holds another user or client` }
            }
            if (
              there?.expiryTime !== undefined &&
              current.expiryTime !== undefined &&
              there.expiryTime > current.expiryTime
            ) {
              return { failed: 'the target holds a newer token (later expiry); kept' }
            }
            const copy = current.clone()
            if (!there) await target.saveToken(copy)
            else if (!(await saveOver(target, copy, there))) {
              throw new TokenConflictError(id, `the target's row ${id} changed while it was copied`)
            }
            known.held = values
            return 'copied'
          },
          lock,
        )
      },
      lock,
    )

  /** Checks tokens under their leases, `leased` at a time; `settle` counts each outcome. */
  const checkAll = async (
    tokens: readonly (readonly [string, Known])[],
    settle: (id: string, outcome: Checked) => void,
    progress: () => void,
  ): Promise<void> => {
    await mapLimited(tokens, leased, async ([id, known]) => {
      let outcome: Checked
      try {
        outcome = await check(id, known)
      } catch (err) {
        outcome = { failed: reason(err) }
      }
      failed.delete(id)
      if (outcome === 'gone') gone.add(id)
      else if (typeof outcome === 'object') failed.set(id, outcome.failed)
      settle(id, outcome)
      progress()
    })
  }

  // The copy pass. The start is reported once its first page is read: what the source held then
  // is what the checks compare with.
  let started = false
  const start = (): void => {
    if (started) return
    started = true
    options.onStart?.(first.tokens, first.identical)
  }
  let saved = 0
  let checked = 0
  for await (const chunk of sourceChunks(source, batch)) {
    start()
    const there = await mapLimited(chunk, LOOKUPS, (token) => target.findTokenById(token.id!))
    const known = new Map(
      chunk.map((token, at) => {
        const held = there[at]
        return [token.id!, { seen: valuesOf(token), held: held ? valuesOf(held) : undefined }]
      }),
    )
    // New to the target: concurrent saves, which a FileStore writes in one batch.
    const fresh = chunk.filter((token) => known.get(token.id!)!.held === undefined)
    const savedNow = new Set<string>()
    if (fresh.length > 0) {
      const results = await Promise.allSettled(
        fresh.map((token) => target.saveToken(token.clone())),
      )
      results.forEach((result, index) => {
        const id = fresh[index]!.id!
        if (result.status === 'fulfilled') {
          savedNow.add(id)
          known.get(id)!.held = known.get(id)!.seen
        } else failed.set(id, reason(result.reason))
      })
      saved += fresh.length
      options.onCopied?.(saved, Math.max(first.absent, saved))
    }
    await checkAll(
      [...known],
      (id, outcome) => {
        if (outcome === 'copied' || savedNow.has(id)) copied += 1
        else if (outcome === 'same') skipped += 1
      },
      () => options.onChecked?.((checked += 1), Math.max(first.tokens, checked)),
    )
  }
  start()

  // Verification against the source as it is now. What moved on since its check (or is new in
  // the source) is checked again, twice at most.
  const verified = onPass && ((done: number) => onPass('verified', done))
  let verdict = await compareAfter(source, target, batch, verified)
  for (let round = 0; round < 2; round += 1) {
    const again = [...verdict.missing, ...verdict.different].filter((id) => !failed.has(id))
    if (again.length === 0) break
    const missing = new Set(verdict.missing)
    let count = 0
    // The target is not what we thought: `held` unknown, so each is read there again.
    await checkAll(
      again.map((id) => [id, { seen: verdict.seen.get(id), held: undefined }] as const),
      (id, outcome) => {
        if (outcome === 'copied' && missing.has(id)) {
          copied += 1
          changed.add(id)
        }
      },
      () => options.onChecked?.((count += 1), again.length),
    )
    verdict = await compareAfter(source, target, batch, verified)
  }
  return {
    tokens: first.tokens,
    skipped,
    copied,
    changed: [...changed],
    gone: [...gone],
    failed: [...failed].map(([id, why]) => ({ id, reason: why })),
    target: await countTokens(target),
    missing: verdict.missing,
    different: verdict.different,
  }
}

/** The tokens of a store, counted a page at a time. */
async function countTokens(store: TokenStore): Promise<number> {
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
async function compareAfter(
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

function reason(err: unknown): string {
  return err instanceof Error ? err.message : 'unknown error'
}
