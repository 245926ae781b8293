import { StoreConflict } from '../../store-kit/retry.js'
import { rowFromToken, rowHolds, type StoredRow } from '../../store/rows.js'
import { resolveSaveAsync } from '../../store/save.js'
import type { OAuthToken } from '../../token.js'
import { insertValues, updateValues } from '../sql/dialect.js'
import { checkLengths } from '../sql/limits.js'
import { Unretryable, XACT_LOCK, bind, isConnectionError, withClient } from './client.js'
import { STORE, type Ready } from './schema.js'

/**
 * One save transaction: lock what it reads, plan by the one upsert rule, write. With
 * `expected`, only while row `token.id` holds its values (undefined, nothing written, if not).
 */
export async function saveOnce(
  ready: Ready,
  table: string,
  token: OAuthToken,
  expected?: OAuthToken,
): Promise<string | undefined> {
  checkLengths(
    STORE,
    'postgres',
    table,
    ready.limits,
    rowFromToken(token, token.id ?? ''),
    token.id !== undefined,
  )
  const { statements } = ready
  return withClient(ready.pool, async (client) => {
    let committing = false
    try {
      // READ COMMITTED whatever the server's default: the largest id is read after the id
      // lock was had, and must see the id the previous holder committed.
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED')
      const name = token.userSignature?.name
      if (!ready.uniqueUsers && name !== undefined && name.length > 0) {
        // No unique index to refuse a second row for this user: serialize their saves.
        await client.query(bind(XACT_LOCK, [`${table}:user:${name}`]))
      }
      if (expected) {
        // The conditional save: the row stays locked from this check to the commit.
        const held = await client.query<StoredRow>(bind(statements.lockRow, [token.id]))
        const row = held.rows[0]
        if (!row || !rowHolds(row, expected)) {
          await client.query('ROLLBACK')
          return undefined
        }
      }
      // One query per distinct look-up: asked twice (the token's key is its user name), the
      // same answer, not two answers from two moments of a busy table. The rows they lock
      // are kept, so that the keyless check (`get`) costs no further round trip.
      const found = new Map<string, Promise<string | undefined>>()
      const locked = new Map<string, StoredRow>()
      const keep = (result: { rows: StoredRow[] }): string | undefined => {
        const held = result.rows[0]
        if (held) locked.set(held.id, held)
        return held?.id
      }
      const { row, insert } = await resolveSaveAsync(STORE, token, {
        hasId: async (id) =>
          keep(await client.query<StoredRow>(bind(statements.lockRow, [id]))) !== undefined,
        findId: (lookup) => {
          const key = `${lookup.column}:${lookup.value}`
          let id = found.get(key)
          if (id === undefined) {
            id = client
              .query<StoredRow>(bind(statements.lockFind[lookup.column], [lookup.value]))
              .then(keep)
            found.set(key, id)
          }
          return id
        },
        // Asked only by a store without keys, before an update (the row is locked already).
        get: async (id) =>
          locked.get(id) ?? (await client.query<StoredRow>(bind(statements.lockRow, [id]))).rows[0],
        // Asked only before an insert under a new id. The lock, one per table, is held to the
        // commit, so concurrent savers take their ids one after the other; a writer outside it
        // that takes the same id makes the insert fail with 23505, and the save is tried again.
        largestNumericId: async () => {
          await client.query(bind(XACT_LOCK, [`tokenkeeper:ids:${table}`]))
          const { rows } = await client.query<{ largest: string | null }>(
            bind(statements.largest, []),
          )
          const largest = rows[0]?.largest
          return largest === null || largest === undefined ? undefined : Number(largest)
        },
      })
      const result = await client.query(
        insert
          ? bind(statements.insert, insertValues(row))
          : bind(statements.update, updateValues(row)),
      )
      if (result.rowCount !== 1) throw new StoreConflict(`row ${row.id} changed during the save`)
      committing = true
      await client.query('COMMIT')
      return row.id
    } catch (err) {
      // A failure once COMMIT was sent may have committed: only a refused commit is retried.
      throw committing && isConnectionError(err) ? new Unretryable(err) : err
    }
  })
}
