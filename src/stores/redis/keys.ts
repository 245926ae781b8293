// Where RedisStore keeps what, and how its hashes and replies become rows.
import { createHash } from 'node:crypto'
import {
  COLUMNS,
  LOOKUP_COLUMNS,
  MAX_TOKEN_ID,
  numericIdValue,
  parseExpiry,
  type LookupColumn,
  type TokenRow,
} from '../../store-kit/index.js'

export type Hash = Record<string, string>

/**
 * The field of a token's hash that holds its health record (see `HealthTracking`): not a
 * column, so rows never show it; the commit script keeps it across saves and deletes it with
 * the row.
 */
export const HEALTH_FIELD = 'tokenkeeper:health'

/**
 * The keys of one store, after its prefix: `token:<id>` (hash), `idx:user_name:<sha256 of the
 * name>` (the id), `idx:access_token|grant_token|refresh_token:<sha256 of the value>` (sorted set
 * of the ids that have the value, the row `compareRowIds` picks first, see {@link rankOf}),
 * `ids` (sorted set of ids by insertion), `seq` (the insertion counter), `numbers` (sorted set of
 * the numeric ids by value, for the numbering rule of `nextTokenId`), `numbered` (marks
 * `numbers` complete), `claims` (numbers taken by inserts in flight), `due` (sorted set of the
 * ids of rows with an expiry, by expiry: the due scan), `due:indexed` (marks `due` complete; a
 * store written before it is indexed once, by its first scan), `lock:<id>` (locks),
 * `budget:<key>` (sorted set of a budget's uses by time, see `takeBudget`). A token's health
 * record is the field {@link HEALTH_FIELD} of its hash.
 */
export class RedisKeys {
  readonly tokenPrefix: string
  readonly ids: string
  readonly seq: string
  readonly numbers: string
  readonly numbered: string
  readonly claims: string
  readonly due: string
  readonly dueIndexed: string

  constructor(readonly prefix: string) {
    this.tokenPrefix = `${prefix}token:`
    this.ids = `${prefix}ids`
    this.seq = `${prefix}seq`
    this.numbers = `${prefix}numbers`
    this.numbered = `${prefix}numbered`
    this.claims = `${prefix}claims`
    this.due = `${prefix}due`
    this.dueIndexed = `${prefix}due:indexed`
  }

  token(id: string): string {
    return this.tokenPrefix + id
  }

  budget(key: string): string {
    return `${this.prefix}budget:${key}`
  }

  lock(id: string): string {
    return `${this.prefix}lock:${id}`
  }

  /** The index key of a lookup value: a SHA-256 of it, so any value fits and none shows. */
  index(column: LookupColumn, value: string): string {
    return `${this.prefix}idx:${column}:${createHash('sha256').update(value).digest('hex')}`
  }

  /** The first keys of the commit script: the row, the id set, counter, numbers, claims, due. */
  row(id: string): string[] {
    return [this.token(id), this.ids, this.seq, this.numbers, this.claims, this.due]
  }
}

/** The lookup values of a stored row, as the save decision read them. */
export interface RowState {
  readonly exists: boolean
  readonly values: Readonly<Record<LookupColumn, string | null>>
}

export const ABSENT: RowState = { exists: false, values: lookupValues([]) }

/** An id's score in the numbers set (`numericIdValue`, the one rule), or '' when it has none. */
export function numberOf(id: string): string {
  const value = numericIdValue(id)
  return value === undefined ? '' : String(value)
}

/**
 * An id's score in the token indexes: its `numericIdValue` less 10^10 (below zero) when it is
 * numbered, zero otherwise. Members of equal score are in the order of their bytes, so that the
 * first member of an index is the row `compareRowIds` picks. Insertion numbers (at least 1)
 * are what a version before the ranks wrote (see WINNER).
 */
export function rankOf(id: string): string {
  const value = numericIdValue(id)
  return String(value === undefined ? 0 : value - (MAX_TOKEN_ID + 1))
}

/** A row's score in the due index: its expiry (the kit's `parseExpiry`), or '' when it has none. */
export function dueScoreOf(expiry: string | null): string {
  const value = parseExpiry(expiry)
  return value === undefined ? '' : String(value)
}

/** The index of the user name holds one id; the token indexes may name several rows. */
export function kindOf(column: LookupColumn): 'u' | 'z' {
  return column === 'user_name' ? 'u' : 'z'
}

/** The lookup values in the order of `LOOKUP_COLUMNS` (as the scripts read them), by column. */
export function lookupValues(values: readonly (string | null | undefined)[]): RowState['values'] {
  return Object.fromEntries(
    LOOKUP_COLUMNS.map((column, i) => [column, values[i] ?? null]),
  ) as RowState['values']
}

/**
 * The row state as the commit script checks it: existence, then the four lookup values. With
 * `unsealed`, an existing row must also hold no sealed value.
 */
export function expectation(state: RowState, unsealed = false): string[] {
  return [
    state.exists ? (unsealed ? '2' : '1') : '0',
    ...LOOKUP_COLUMNS.map((column) => (state.exists ? (state.values[column] ?? '') : '')),
  ]
}

export function rowFromHash(hash: Hash | null | undefined, id: string): TokenRow | null {
  if (!hash || hash.id === undefined) return null
  const row = { id } as TokenRow
  for (const column of COLUMNS) row[column] = hash[column] ?? null
  return row
}

export function rowFromReply(reply: unknown): TokenRow | null {
  if (!Array.isArray(reply) || reply.length === 0) return null
  const hash: Hash = {}
  for (let i = 0; i + 1 < reply.length; i += 2) hash[reply[i] as string] = reply[i + 1] as string
  return rowFromHash(hash, hash.id ?? '')
}

/** The results of a pipeline, throwing the first error. */
export function settled(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('the pipeline was discarded')
  return results.map(([err, value]) => {
    if (err) throw err
    return value
  })
}
