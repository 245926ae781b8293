// The writes a FileStore queues, and how each changes the rows in memory before the batch is
// written as one new file.
import type { StoreOperation } from '../../errors.js'
import { withRowFinisher, type RowFinisher } from '../../sealed.js'
import { resolveSave, rowHolds } from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
import type { Budget, BudgetAnswer } from '../../budget.js'
import { putHealth, takeUse, type Keeping } from './keeping.js'
import { numbering, type Snapshot } from './snapshot.js'

export const STORE = 'FileStore'

export type Operation =
  | {
      readonly kind: 'save'
      readonly token: OAuthToken
      readonly target: OAuthToken
      /** The encryption wrapper's finisher of this save, if any (see `withRowFinisher`). */
      readonly finish: RowFinisher | undefined
    }
  | {
      readonly kind: 'saveIf'
      readonly token: OAuthToken
      readonly expected: OAuthToken
      /** Set once the write is done: whether the row held `expected` and was replaced. */
      readonly outcome: { saved: boolean }
    }
  | { readonly kind: 'delete'; readonly id: string }
  | { readonly kind: 'clear' }
  /** Kept in the side file (see `keeping.ts`), decided on the rows as they are under the lock. */
  | { readonly kind: 'health'; readonly id: string; readonly record: string | null }
  | {
      readonly kind: 'budget'
      readonly key: string
      readonly budget: Budget
      readonly now: number
      /** Set once the side file is written. */
      readonly outcome: { answer?: BudgetAnswer }
    }

/** Whether an operation reads or changes the side file: it is read for the batch then. */
export function touchesKeeping(op: Operation): boolean {
  return op.kind === 'health' || op.kind === 'budget' || op.kind === 'delete' || op.kind === 'clear'
}

/** Whether an operation's outcome is the side file's write (it fails when that does). */
export function keptAside(op: Operation): boolean {
  return op.kind === 'health' || op.kind === 'budget'
}

export interface Pending {
  readonly op: Operation
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Applies one operation to the snapshot in memory (and to the side file's content, read for
 * the batch when one of its operations {@link touchesKeeping}): whether the token file changed,
 * and what to tell its caller once the files are written.
 */
export function applyOperation(
  snapshot: Snapshot,
  op: Operation,
  keeping?: Keeping,
): { changed: boolean; apply?: () => void } {
  switch (op.kind) {
    case 'save': {
      const { row } = withRowFinisher(op.finish, () =>
        resolveSave(STORE, op.token, numbering(snapshot)),
      )
      snapshot.table.put(row)
      return { changed: true, apply: () => void (op.target.id = row.id) }
    }
    case 'saveIf': {
      // Decided on the file as it is under the lock; one that does not hold fails alone.
      const current = snapshot.table.get(op.token.id!)
      if (!current || !rowHolds(current, op.expected)) return { changed: false }
      const { row } = withRowFinisher(undefined, () =>
        resolveSave(STORE, op.token, numbering(snapshot)),
      )
      snapshot.table.put(row)
      return { changed: true, apply: () => void (op.outcome.saved = true) }
    }
    case 'delete': {
      // The record goes with the row at once: a save under the id in the same batch starts without.
      if (keeping?.health.delete(op.id)) keeping.changed = true
      return { changed: snapshot.table.delete(op.id) }
    }
    case 'clear': {
      const changed = snapshot.table.size > 0 || snapshot.bad.length > 0
      snapshot.table.clear()
      snapshot.bad.length = 0
      if (keeping && keeping.health.size > 0) {
        keeping.health.clear()
        keeping.changed = true
      }
      return { changed }
    }
    case 'health': {
      putHealth(keeping!, op.id, op.record)
      return { changed: false }
    }
    case 'budget': {
      const answer = takeUse(keeping!, op.key, op.budget, op.now)
      return { changed: false, apply: () => void (op.outcome.answer = answer) }
    }
  }
}

/** The operation a batch is reported as when it fails. */
export function batchOperation(batch: readonly Pending[]): StoreOperation {
  if (batch.length !== 1) return 'saveToken'
  const { kind } = batch[0]!.op
  return kind === 'save' || kind === 'saveIf'
    ? 'saveToken'
    : kind === 'delete'
      ? 'deleteToken'
      : kind === 'clear'
        ? 'deleteTokens'
        : kind === 'health'
          ? 'saveHealth'
          : 'takeBudget'
}
