// RedisStore's writes: a save's facts gathered in one round trip, decided by the kit's rules,
// and written by a script that checks those facts again; a lost race is decided again.
import type { Redis } from 'ioredis'
import { TokenStoreError, type StoreOperation } from '../../errors.js'
import { refuseOverwrite, sealedRowsAllowed } from '../../sealed.js'
import {
  COLUMNS,
  LOOKUP_COLUMNS,
  MAX_TOKEN_ID,
  StoreConflict,
  isConflict,
  lookupOf,
  nextTokenId,
  planSave,
  retry,
  rowToWrite,
  type TokenRow,
} from '../../store-kit/index.js'
import type { OAuthToken } from '../../token.js'
import {
  ABSENT,
  dueScoreOf,
  expectation,
  kindOf,
  lookupValues,
  numberOf,
  rankOf,
  rowFromHash,
  settled,
  type RedisKeys,
  type RowState,
} from './keys.js'
import { STORE } from './options.js'
import { ADD_NUMBERS, COMMIT, GATHER, evalScript, loadScript } from './scripts.js'

/** How many ids a batch of `getTokens`, `deleteTokens` and index builds handles per round trip. */
export const BATCH = 1000
/** How long a write keeps retrying while the rows it read keep changing under it (ms). */
const PATIENCE_MS = 10_000
/**
 * How long a claimed number stays reserved for its save (ms): far longer than a save keeps
 * trying (PATIENCE_MS). One that outlives its claim (a stalled process) only saves again:
 * the commit refuses a number another saver has taken since.
 */
const CLAIM_MS = 60_000

/** A save's hold on a new number: its nonce, and the claim it holds (`<number>:<expiry>:<nonce>`). */
export interface Claim {
  readonly nonce: string
  member: string | undefined
}

/**
 * Runs one attempt of a write until it decides (anything but undefined): undefined means the
 * rows it read changed before it wrote, and it reads and decides again, with the kit's backoff,
 * for at most PATIENCE_MS; then a `TokenStoreError` saying `why` it gave up.
 */
export async function untilDecided<T>(
  operation: StoreOperation,
  why: string,
  attempt: () => Promise<T | undefined>,
): Promise<T> {
  let tries = 0
  try {
    return await retry(
      async (n) => {
        tries = n
        const decided = await attempt()
        if (decided === undefined) throw new StoreConflict(why)
        return decided
      },
      // Others are writing the same rows: let them finish, more patiently each time.
      {
        retryable: isConflict,
        attempts: Number.MAX_SAFE_INTEGER,
        deadlineMs: PATIENCE_MS,
        baseDelayMs: 1,
        maxDelayMs: 50,
      },
    )
  } catch (err) {
    if (!isConflict(err)) throw err
    throw new TokenStoreError(STORE, operation, `gave up after ${tries} attempts: ${why}`)
  }
}

/** The writes of one store's keys. */
export class RedisWrites {
  /** The build of the numbers set this process is running, shared by its saves. */
  #numbering: Promise<void> | undefined

  constructor(readonly keys: RedisKeys) {}

  /**
   * One attempt of a save: the id it was saved under, or undefined when the facts changed.
   * With `fence` (the row as read), only while the row still holds its access token, refresh
   * token and expiry. An insert under a new id takes the number `claim`s in the same round trip
   * as the facts, so that the row (which the encryption wrapper seals for its id) is built for
   * the id it is written under; the commit then writes it only if that row is still absent.
   */
  async trySave(
    client: Redis,
    token: OAuthToken,
    fence?: TokenRow,
    claim?: Claim,
  ): Promise<string | undefined> {
    const lookup = token.id === undefined ? lookupOf(token) : undefined
    const name = token.userSignature?.name
    const userKey = name ? this.keys.index('user_name', name) : undefined
    const lookupKey = lookup && this.keys.index(lookup.column, lookup.value)
    const gather = async (): Promise<(string | null)[]> =>
      (await evalScript(
        client,
        GATHER,
        [
          this.keys.ids,
          this.keys.numbers,
          this.keys.numbered,
          this.keys.claims,
          ...[lookupKey, userKey].filter((key) => key !== undefined),
        ],
        [
          lookup ? kindOf(lookup.column) : '',
          userKey ? '1' : '',
          this.keys.tokenPrefix,
          token.id ?? '',
          claim?.member ?? '',
          claim?.nonce ?? '',
          String(CLAIM_MS),
          String(MAX_TOKEN_ID),
        ],
      )) as (string | null)[]
    let reply = await gather()
    if (reply[8] === 'rank') {
      await this.rank(client, lookupKey!)
      return undefined
    }
    if (reply[8] === 'build') {
      await this.buildNumbers(client)
      reply = await gather()
      // Emptied and written again meanwhile: another attempt.
      if (reply[8] === 'build') return undefined
    }
    const [matched, owner, rowId, v1, v2, v3, v4, claimed, status, largest] = reply
    const read: RowState = {
      exists: rowId !== null && rowId !== undefined,
      values: lookupValues([v1, v2, v3, v4]),
    }
    // A conditional save of a row that went away meanwhile: read again (and find it gone).
    if (fence && !read.exists) return undefined
    const matchedId = matched ?? undefined
    const plan = planSave(STORE, token, {
      idExists: token.id !== undefined && read.exists,
      matchedId,
      userOwnerId: owner ?? undefined,
    })
    const id = plan.id ?? this.#claimedId(claim, claimed, status, largest)
    // The row read is the one written, unless the plan is a new id.
    const old = plan.id === undefined ? ABSENT : read
    const row = rowToWrite(token, id)

    const checks: [string, string, string][] = []
    if (lookup && lookupKey) checks.push([lookupKey, kindOf(lookup.column), matchedId ?? ''])
    if (userKey) checks.push([userKey, 'u', owner ?? ''])
    const removals: [string, string][] = []
    const additions: [string, string][] = []
    for (const column of LOOKUP_COLUMNS) {
      const before = old.values[column]
      const after = row[column]
      if (before === after) continue
      if (before !== null) removals.push([this.keys.index(column, before), kindOf(column)])
      if (after !== null) additions.push([this.keys.index(column, after), kindOf(column)])
    }
    const fields: string[] = []
    for (const column of COLUMNS) {
      const value = row[column]
      if (value !== null) fields.push(column, value)
    }
    const done = await evalScript(
      client,
      COMMIT,
      [
        ...this.keys.row(id),
        ...checks.map(([key]) => key),
        ...removals.map(([key]) => key),
        ...additions.map(([key]) => key),
      ],
      [
        fence ? 'putif' : 'put',
        id,
        ...expectation(old, !sealedRowsAllowed()),
        String(checks.length),
        String(removals.length),
        String(additions.length),
        numberOf(id),
        plan.id === undefined ? claim!.member! : '',
        rankOf(id),
        dueScoreOf(row.expiry_time),
        ...(fence
          ? [fence.access_token ?? '', fence.refresh_token ?? '', fence.expiry_time ?? '']
          : []),
        ...checks.flatMap(([, kind, expected]) => [kind, expected]),
        ...removals.map(([, kind]) => kind),
        ...additions.map(([, kind]) => kind),
        ...fields,
      ],
    )
    if (done === 2) {
      // The row holds sealed values: refused, with the error every store gives (the row is
      // read again only to name the column; changed meanwhile, the save decides again).
      refuseOverwrite(id, rowFromHash(await client.hgetall(this.keys.token(id)), id) ?? undefined)
      return undefined
    }
    // Written: the claim is spent (the commit removed it).
    if (done === 1 && plan.id === undefined) claim!.member = undefined
    return done === 1 ? id : undefined
  }

  /**
   * The id of an insert under a new id: the number the gather script claimed, which must be
   * what `nextTokenId` gives after the largest number the script saw (the rule is written
   * there; a script that disagreed would be a bug, and nothing is written). Out of numbers, it
   * is `nextTokenId`'s own error.
   */
  #claimedId(
    claim: Claim | undefined,
    claimed: string | null | undefined,
    status: string | null | undefined,
    largest: string | null | undefined,
  ): string {
    const seen = largest === null || largest === undefined ? undefined : Number(largest)
    if (status === 'full') nextTokenId(STORE, seen)
    if (claim === undefined || claimed === null || claimed === undefined) {
      throw new TokenStoreError(STORE, 'saveToken', 'the save script claimed no id for an insert')
    }
    const fresh = claimed !== claim.member
    claim.member = claimed
    const id = claimed.slice(0, claimed.indexOf(':'))
    if (fresh && nextTokenId(STORE, seen) !== id) {
      throw new TokenStoreError(
        STORE,
        'saveToken',
        `the save script claimed id ${id} after ${seen ?? 'no'} numeric id`,
      )
    }
    return id
  }

  /**
   * Builds the numbers set of a store written before it existed, once (the rows' numeric ids,
   * from the id set, a batch per round trip), then marks it complete. Safe beside writers: the
   * commit script keeps the set for every row written meanwhile, and a listed row deleted
   * since is left out. Concurrent saves of this process share one build.
   */
  async buildNumbers(client: Redis): Promise<void> {
    this.#numbering ??= (async () => {
      try {
        await loadScript(client, ADD_NUMBERS)
        let cursor = '0'
        do {
          const [next, page] = await client.zscan(this.keys.ids, cursor, 'COUNT', BATCH)
          cursor = next
          const pairs: string[] = []
          for (let i = 0; i < page.length; i += 2) {
            const id = page[i]!
            const number = numberOf(id)
            if (number !== '') pairs.push(number, id)
          }
          if (pairs.length > 0) {
            await evalScript(
              client,
              ADD_NUMBERS,
              [this.keys.numbers],
              [this.keys.tokenPrefix, ...pairs],
            )
          }
        } while (cursor !== '0')
        await client.set(this.keys.numbered, '1')
      } finally {
        this.#numbering = undefined
      }
    })()
    return this.#numbering
  }

  /**
   * Scores the ids of a token index by {@link rankOf}, where a version before the ranks scored
   * them by insertion. `XX`: an id removed meanwhile stays out; one added meanwhile has its rank.
   */
  async rank(client: Redis, index: string): Promise<void> {
    const ids = await client.zrange(index, 0, -1)
    if (ids.length > 0) await client.zadd(index, 'XX', ...ids.flatMap((id) => [rankOf(id), id]))
  }

  /** Deletes one row and its index entries, reading it again while others change it. */
  async deleteOne(client: Redis, operation: StoreOperation, id: string): Promise<void> {
    await untilDecided(operation, `other writers kept changing token ${id}`, async () => {
      const [state] = await this.readStates(client, [id])
      if (!state!.exists) return true
      return (await evalScript(client, COMMIT, ...this.deletion(id, state!))) === 1
        ? true
        : undefined
    })
  }

  /** The keys and arguments of the commit script that deletes a row read as `state`. */
  deletion(id: string, state: RowState): [string[], string[]] {
    const removals: [string, string][] = []
    for (const column of LOOKUP_COLUMNS) {
      const value = state.values[column]
      if (value !== null) removals.push([this.keys.index(column, value), kindOf(column)])
    }
    return [
      [...this.keys.row(id), ...removals.map(([key]) => key)],
      [
        'del',
        id,
        ...expectation(state),
        '0',
        String(removals.length),
        '0',
        '',
        '',
        '',
        '',
        ...removals.map(([, kind]) => kind),
      ],
    ]
  }

  /** The lookup values of rows, in one round trip. */
  async readStates(client: Redis, ids: readonly string[]): Promise<RowState[]> {
    const pipeline = client.pipeline()
    for (const id of ids) pipeline.hmget(this.keys.token(id), 'id', ...LOOKUP_COLUMNS)
    return settled(await pipeline.exec()).map((reply) => {
      const [rowId, ...values] = reply as (string | null)[]
      return { exists: rowId !== null && rowId !== undefined, values: lookupValues(values) }
    })
  }

  /** Calls `body` with the ids in insertion order, a batch at a time (keyset pagination). */
  async eachPage(client: Redis, body: (ids: string[]) => Promise<void>): Promise<void> {
    let after = '-inf'
    for (;;) {
      const page = await client.zrangebyscore(
        this.keys.ids,
        after,
        '+inf',
        'WITHSCORES',
        'LIMIT',
        0,
        BATCH,
      )
      if (page.length === 0) return
      const ids = page.filter((_, i) => i % 2 === 0)
      await body(ids)
      if (ids.length < BATCH) return
      after = `(${page[page.length - 1]}`
    }
  }
}
