import { healthOf, type TokenHealth, type TokenState } from '../health.js'
import { eachToken } from '../iteration.js'
import type { TokenStore } from '../store.js'
import type { OAuthToken } from '../token.js'

/** Tokens read at a time, and how many of the soonest expiries and troubled tokens are shown. */
const PAGE = 500
const SHOWN = 10

interface Expiry {
  readonly id: string
  readonly user: string | undefined
  readonly expiryTime: number
}

interface Troubled {
  readonly id: string
  readonly user: string | undefined
  readonly state: TokenState
  readonly attempts: number
  readonly lastErrorCode: string | undefined
  readonly nextAttemptAt: number | undefined
  readonly since: number
}

/** What `status` reports: counts by state, the next expiries, the tokens that need attention. */
export interface StoreStatus {
  tokens: number
  states: Record<TokenState, number>
  nextExpiries: Expiry[]
  attention: Troubled[]
}

/** Keeps the `SHOWN` smallest by `key`: memory stays bounded however many tokens pass. */
function keepSmallest<T>(list: T[], item: T, key: (t: T) => number): void {
  if (list.length === SHOWN && key(item) >= key(list.at(-1)!)) return
  list.push(item)
  list.sort((a, b) => key(a) - key(b))
  if (list.length > SHOWN) list.pop()
}

/** One pass over every token, a page at a time, with each page's health read in one call. */
export async function storeStatus(store: TokenStore, now: number): Promise<StoreStatus> {
  const status: StoreStatus = {
    tokens: 0,
    states: { active: 0, failing: 0, reauth_required: 0 },
    nextExpiries: [],
    attention: [],
  }
  const take = (token: OAuthToken, health: TokenHealth): void => {
    status.tokens += 1
    status.states[health.state] += 1
    const id = token.id ?? '-'
    const user = token.userSignature?.name
    if (token.expiryTime !== undefined && token.expiryTime > now && health.state === 'active') {
      keepSmallest(
        status.nextExpiries,
        { id, user, expiryTime: token.expiryTime },
        (e) => e.expiryTime,
      )
    }
    if (health.state !== 'active') {
      const { state, attempts, lastErrorCode, nextAttemptAt, since } = health
      keepSmallest(
        status.attention,
        { id, user, state, attempts, lastErrorCode, nextAttemptAt, since },
        (t) => t.since,
      )
    }
  }
  let page: OAuthToken[] = []
  const flush = async (): Promise<void> => {
    const health = await healthOf(store, page)
    for (const token of page) take(token, health.get(token)!)
    page = []
  }
  for await (const token of eachToken(store, { pageSize: PAGE })) {
    page.push(token)
    if (page.length === PAGE) await flush()
  }
  await flush()
  return status
}
