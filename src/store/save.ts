import { TokenStoreError } from '../errors.js'
import { refuseOverwrite, sealedRowsAllowed } from '../sealed.js'
import type { OAuthToken } from '../token.js'
import { nextTokenId } from './ids.js'
import { lookupOf, type Lookup } from './matching.js'
import { present, rowToWrite, type StoredRow, type TokenRow } from './rows.js'

// The upsert rule: which row a save writes, planned from what the store knows, for stores whose
// look-ups answer at once and for those whose look-ups go to a server.

/** What a store knows about the rows a save touches, gathered before {@link planSave}. */
export interface SaveFacts {
  /** With `token.id`: whether a row has that id. */
  readonly idExists: boolean
  /** Without `token.id`: the id of the row that {@link lookupOf} matches, if any. */
  readonly matchedId: string | undefined
  /** The id of the row that holds the token's user name, if any. */
  readonly userOwnerId: string | undefined
}

/** The outcome of {@link planSave}: which row to write, and whether it is new. */
export interface SavePlan {
  /** The row's id; `undefined` means "insert under a new id". */
  readonly id: string | undefined
  readonly insert: boolean
}

/**
 * The upsert rule, the one place it is written: a token with an id replaces that row (or is
 * inserted under it); otherwise the row that {@link lookupOf} matches is updated; otherwise a
 * new row is inserted. A user name is never stored in two rows.
 */
export function planSave(store: string, token: OAuthToken, facts: SaveFacts): SavePlan {
  const plan: SavePlan =
    token.id !== undefined
      ? { id: token.id, insert: !facts.idExists }
      : facts.matchedId !== undefined
        ? { id: facts.matchedId, insert: false }
        : { id: undefined, insert: true }
  if (facts.userOwnerId !== undefined && facts.userOwnerId !== plan.id) {
    throw new TokenStoreError(
      store,
      'saveToken',
      `the user name of this token is already stored under id ${facts.userOwnerId}; ` +
        'save it with that id, or delete that token first',
    )
  }
  return plan
}

/** A store's lookups, for {@link resolveSave}, when they can be answered at once. */
export interface RowLookups {
  hasId(id: string): boolean
  findId(lookup: Lookup): string | undefined
  /** The largest {@link numericIdValue} among the stored ids, for {@link nextTokenId}. */
  largestNumericId(): number | undefined
  /** The row with this id; when given, a store without keys never replaces a sealed row. */
  get?(id: string): TokenRow | undefined
}

/**
 * Gathers the facts, plans the save, and builds the row, for stores whose lookups answer at
 * once (in memory, or a synchronous driver inside a transaction).
 */
export function resolveSave(
  store: string,
  token: OAuthToken,
  rows: RowLookups,
): { row: StoredRow; insert: boolean } {
  const lookup = lookupOf(token)
  const name = token.userSignature?.name
  // Asked in the order, and as often, as resolveSaveAsync asks them: the name once.
  const byName = present(name) ? rows.findId({ column: 'user_name', value: name }) : undefined
  const plan = planSave(store, token, {
    idExists: token.id !== undefined && rows.hasId(token.id),
    matchedId:
      token.id === undefined && lookup
        ? lookup.column === 'user_name'
          ? byName
          : rows.findId(lookup)
        : undefined,
    userOwnerId: byName,
  })
  // An update always has the id of its row (see planSave).
  if (!plan.insert && rows.get && !sealedRowsAllowed()) {
    refuseOverwrite(plan.id!, rows.get(plan.id!))
  }
  const id = plan.id ?? nextTokenId(store, rows.largestNumericId())
  return { row: rowToWrite(token, id), insert: plan.insert }
}

/** A store's lookups, for {@link resolveSaveAsync}, when they go to a server. */
export interface AsyncRowLookups {
  hasId(id: string): Promise<boolean>
  findId(lookup: Lookup): Promise<string | undefined>
  /**
   * The largest {@link numericIdValue} among the stored ids, for {@link nextTokenId}; asked only
   * for an insert under a new id. Read it so that concurrent savers of this store are serialized
   * (a lock held to the commit), or let the primary key refuse the second and save again.
   */
  largestNumericId(): Promise<number | undefined>
  /** The row with this id; when given, a store without keys never replaces a sealed row. */
  get?(id: string): Promise<TokenRow | undefined>
}

/**
 * {@link resolveSave} for stores whose lookups go to a server: run it inside the store's
 * transaction (see {@link AsyncRowLookups.largestNumericId} for how new ids stay distinct).
 */
export async function resolveSaveAsync(
  store: string,
  token: OAuthToken,
  rows: AsyncRowLookups,
): Promise<{ row: StoredRow; insert: boolean }> {
  const lookup = lookupOf(token)
  const name = token.userSignature?.name
  const byName = present(name) ? rows.findId({ column: 'user_name', value: name }) : undefined
  // A token found by its user name needs that look-up once, not twice.
  const [idExists, matchedId, userOwnerId] = await Promise.all([
    token.id !== undefined && rows.hasId(token.id),
    token.id === undefined && lookup
      ? lookup.column === 'user_name'
        ? byName
        : rows.findId(lookup)
      : undefined,
    byName,
  ])
  const plan = planSave(store, token, { idExists, matchedId, userOwnerId })
  // An update always has the id of its row (see planSave).
  if (!plan.insert && rows.get && !sealedRowsAllowed()) {
    refuseOverwrite(plan.id!, await rows.get(plan.id!))
  }
  const id = plan.id ?? nextTokenId(store, await rows.largestNumericId())
  return { row: rowToWrite(token, id), insert: plan.insert }
}
