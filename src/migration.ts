// The copy of a migration: its options and result, and the loop that saves each token and checks
// it under its leases. The passes that only read (comparisons, the id-collision rule) are in
// migration-passes.ts.
import { saveOver, withTokenLock } from './refresh/lease.js'
import { TokenConflictError } from './errors.js'
import {
  LOOKUPS,
  compareAfter,
  compareFirst,
  countTokens,
  mapLimited,
  sameOwner,
  sourceChunks,
  valuesOf,
} from './migration-passes.js'
import type { TokenStore } from './store.js'

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

type Checked = 'same' | 'copied' | 'gone' | { failed: string }

/** What the migration knows of one token: its values as read in the source, and in the target. */
interface Known {
  /** As this migration read it in the source (before its lease). */
  seen: string | undefined
  /** What the target holds, as far as this migration knows: what it found or wrote there. */
  held: string | undefined
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

function reason(err: unknown): string {
  return err instanceof Error ? err.message : 'unknown error'
}
