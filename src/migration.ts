import { saveOver, withTokenLock } from './coordination.js'
import { IdCollisionError, TokenConflictError } from './errors.js'
import { rowFromToken, type TokenStore } from './store.js'
import type { OAuthToken } from './token.js'

/** Options of {@link migrateTokens}. */
export interface MigrationOptions {
  /** Tokens new to the target saved concurrently (a FileStore writes them in one batch); default 500. */
  batch?: number
  /** Tokens checked under their leases at once; default 4 (a server store's lease holds a connection). */
  leased?: number
  /** How long to wait for each lease (ms); default that of `withTokenLock`. */
  lockTimeoutMs?: number
  /** Once the source and target were read: the source's tokens, and how many the target holds identical. */
  onStart?: (tokens: number, identical: number) => void
  /** Tokens new to the target saved so far, of how many. */
  onCopied?: (done: number, total: number) => void
  /** Tokens checked under their leases so far, of how many. */
  onChecked?: (done: number, total: number) => void
}

/** What {@link migrateTokens} did, and what the target held afterwards. */
export interface MigrationResult {
  /** The source's tokens (with an id) when the migration started. */
  readonly tokens: number
  /** Already in the target, identical. */
  readonly skipped: number
  /** Written to the target. */
  readonly copied: number
  /**
   * Changed in the source while the migration ran (a refresh), or added to it: copied in their
   * newest form.
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

function collisionsOf(source: OAuthToken[], target: OAuthToken[]): { id: string; why: string }[] {
  const byId = new Map(target.map((token) => [token.id, token]))
  const idOfUser = new Map(
    target.flatMap((token) => {
      const name = token.userSignature?.name
      return name ? [[name, token.id] as const] : []
    }),
  )
  const found: { id: string; why: string }[] = []
  for (const token of source) {
    const id = token.id!
    const there = byId.get(id)
    if (there && !sameOwner(there, token)) {
      found.push({ id, why: `id ${id} holds another user or client in the target` })
    }
    const name = token.userSignature?.name
    const owner = name ? idOfUser.get(name) : undefined
    if (owner !== undefined && owner !== id) {
      found.push({ id, why: `the user of id ${id} is stored in the target under id ${owner}` })
    }
  }
  return found
}

/** Runs `work` on each item, `limit` at a time. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

type Checked = 'same' | 'copied' | 'gone' | { failed: string }

/**
 * Copies every token of `source` into `target` with its id, without losing a refresh that runs
 * meanwhile. Refuses, before writing anything, a source token whose id holds another user or
 * client in the target, or whose user the target holds under another id ({@link IdCollisionError}).
 *
 * Tokens new to the target are first saved in batches from one pass over the source. Then each
 * token is checked under its lease in the source (which a refresh holds while it runs) and its
 * lease in the target: read again on both sides and, if they differ, the source's current form
 * is saved over the target row, only while that row still holds what was read. A target row with
 * a later expiry than the source's (refreshed in the target) is not overwritten: it fails. The
 * end compares the target with the source as it is then, and checks again what changed.
 */
export async function migrateTokens(
  source: TokenStore,
  target: TokenStore,
  options: MigrationOptions = {},
): Promise<MigrationResult> {
  const batch = options.batch ?? 500
  const leased = options.leased ?? 4
  const lock = options.lockTimeoutMs === undefined ? {} : { timeoutMs: options.lockTimeoutMs }
  const snapshot = (await source.getTokens()).filter((token) => token.id !== undefined)
  const present = new Map((await target.getTokens()).map((token) => [token.id, token]))
  const collisions = collisionsOf(snapshot, [...present.values()])
  if (collisions.length > 0) {
    const ids = [...new Set(collisions.map((collision) => collision.id))]
    const shown = collisions.slice(0, 5).map((collision) => collision.why)
    throw new IdCollisionError(
      ids,
      `${ids.length} token${ids.length === 1 ? '' : 's'} of the source would replace ` +
        `another user's token in the target: ${shown.join('; ')}` +
        `${collisions.length > 5 ? '; ...' : ''}. Nothing was written: ${RESOLVE}`,
    )
  }
  const seen = new Map(snapshot.map((token) => [token.id!, valuesOf(token)]))
  const failed = new Map<string, string>()
  const changed = new Set<string>()
  const gone = new Set<string>()
  const copied = new Set<string>()
  const same = new Set<string>()
  /** What the target holds, as far as this migration knows: what it found or wrote there. */
  const held = new Map([...present].map(([id, token]) => [id, valuesOf(token)]))

  options.onStart?.(
    snapshot.length,
    snapshot.filter((token) => held.get(token.id) === seen.get(token.id!)).length,
  )

  // New to the target: concurrent saves, which a FileStore writes in one batch.
  const fresh = snapshot.filter((token) => !present.has(token.id))
  let done = 0
  for (let start = 0; start < fresh.length; start += batch) {
    const chunk = fresh.slice(start, start + batch)
    const results = await Promise.allSettled(chunk.map((token) => target.saveToken(token.clone())))
    results.forEach((result, index) => {
      const id = chunk[index]!.id!
      if (result.status === 'fulfilled') {
        copied.add(id)
        held.set(id, seen.get(id)!)
      } else failed.set(id, reason(result.reason))
    })
    done += chunk.length
    options.onCopied?.(done, fresh.length)
  }

  /**
   * One token, under its lease in the source; then, unless the target is known to hold it as it
   * is now, under its lease in the target.
   */
  const check = (id: string): Promise<Checked> =>
    withTokenLock(
      source,
      id,
      async () => {
        // Read again: a refresh that held the lease may just have rotated the token.
        const current = await source.findTokenById(id)
        if (!current) return 'gone'
        const values = valuesOf(current)
        if (values !== seen.get(id)) changed.add(id)
        if (held.get(id) === values) return 'same'
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
            held.set(id, values)
            return 'copied'
          },
          lock,
        )
      },
      lock,
    )

  const checkAll = async (ids: readonly string[]): Promise<void> => {
    let count = 0
    await eachLimited(ids, leased, async (id) => {
      let outcome: Checked
      try {
        outcome = await check(id)
      } catch (err) {
        outcome = { failed: reason(err) }
      }
      failed.delete(id)
      if (outcome === 'gone') gone.add(id)
      else if (outcome === 'copied') copied.add(id)
      else if (outcome === 'same') same.add(id)
      else failed.set(id, outcome.failed)
      count += 1
      options.onChecked?.(count, ids.length)
    })
  }
  await checkAll(snapshot.map((token) => token.id!))

  // Verification against the source as it is now. What moved on since its check (or is new in
  // the source) is checked again, twice at most.
  let verdict = await compare(source, target)
  for (let round = 0; round < 2; round += 1) {
    const again = [...verdict.missing, ...verdict.different].filter((id) => !failed.has(id))
    if (again.length === 0) break
    for (const id of again) held.delete(id) // the target is not what we thought: read it
    await checkAll(again)
    verdict = await compare(source, target)
  }
  return {
    tokens: snapshot.length,
    skipped: [...same].filter((id) => seen.has(id) && !copied.has(id)).length,
    copied: copied.size,
    changed: [...changed],
    gone: [...gone],
    failed: [...failed].map(([id, why]) => ({ id, reason: why })),
    ...verdict,
  }
}

async function compare(
  source: TokenStore,
  target: TokenStore,
): Promise<{ target: number; missing: string[]; different: string[] }> {
  const now = (await source.getTokens()).filter((token) => token.id !== undefined)
  const after = new Map((await target.getTokens()).map((token) => [token.id, valuesOf(token)]))
  return {
    target: after.size,
    missing: now.filter((token) => !after.has(token.id)).map((token) => token.id!),
    different: now
      .filter((token) => after.has(token.id) && after.get(token.id) !== valuesOf(token))
      .map((token) => token.id!),
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : 'unknown error'
}
