import { compareDue, dueCursor, supportsDueScan, type DueCursor } from '../due.js'
import { eachToken } from '../iteration.js'
import type { TokenStore } from '../store.js'
import type { OAuthToken } from '../token.js'
import { storeOp } from '../telemetry/tracing.js'

/** Which expiries a scan reads: at or before `before`, and at or after `from` when given. */
export interface ExpiryRange {
  readonly before: number
  readonly from?: number | undefined
}

/**
 * The tokens whose expiry is in `range`, a page at a time, in the due scan's order (expiry,
 * then id): by the store's index where it has one (`DueScan`), so a pass costs in proportion
 * to the tokens in the range; else by reading every token once and keeping those in it (memory
 * in proportion to those).
 */
export async function* dueTokenPages(
  store: TokenStore,
  { before, from }: ExpiryRange,
  pageSize: number,
): AsyncGenerator<OAuthToken[]> {
  if (supportsDueScan(store)) {
    // Every id sorts after '', so the scan starts with the tokens that expire at `from`.
    let after: DueCursor | undefined = from === undefined ? undefined : { expiryTime: from, id: '' }
    for (;;) {
      const page = await storeOp(store, 'findDue', () =>
        store.findDueTokens({ before, limit: pageSize, after }),
      )
      if (page.length === 0) return
      yield page
      if (page.length < pageSize) return
      after = dueCursor(page.at(-1)!)
    }
  }
  const due: OAuthToken[] = []
  for await (const token of eachToken(store)) {
    const { id, expiryTime } = token
    if (id === undefined || expiryTime === undefined || expiryTime > before) continue
    if (from === undefined || expiryTime >= from) due.push(token)
  }
  due.sort((a, b) => compareDue(dueCursor(a), dueCursor(b)))
  for (let i = 0; i < due.length; i += pageSize) yield due.slice(i, i + pageSize)
}
