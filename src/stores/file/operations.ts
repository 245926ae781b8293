// The writes a FileStore queues, and how each changes the rows in memory before the batch is
// written as one new file.
import type { StoreOperation } from '../../errors.js'
import { withRowFinisher, type RowFinisher } from '../../sealed.js'
import { resolveSave, rowHolds } from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
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

export interface Pending {
  readonly op: Operation
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Applies one operation to the snapshot in memory: whether it changed anything, and what to
 * tell its caller once the file is written.
 */
export function applyOperation(
  snapshot: Snapshot,
  op: Operation,
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
      return { changed: snapshot.table.delete(op.id) }
    }
    case 'clear': {
      const changed = snapshot.table.size > 0 || snapshot.bad.length > 0
      snapshot.table.clear()
      snapshot.bad.length = 0
      return { changed }
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
      : 'deleteTokens'
}
