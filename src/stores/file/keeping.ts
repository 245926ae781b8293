// What a FileStore keeps for the keeper (each token's health record, the uses of each budget):
// a JSON side file next to the token file, so that the CSV the official SDKs read keeps its
// shape. It is read and written under the token file's write lock, replaced like the token
// file (temporary file, flush, rename), and a side file that is missing or cannot be read is
// an empty one: it never stops the store, and the tokens are never in it.
import { promises as fsp } from 'node:fs'
import type { StoreOperation, TokenStoreError } from '../../errors.js'
import { decideBudget, type Budget, type BudgetAnswer } from '../../budget.js'
import { MAX_HEALTH_LENGTH } from '../../health.js'
import { explainFsError } from '../fs-errors.js'
import type { RowTable } from '../table.js'
import { fail } from './read.js'
import { ReplaceError, replaceFile } from './replace.js'
import type { SideFiles } from './side-files.js'

/** The uses of one budget key: its window (to forget it once past) and the times in it. */
interface Uses {
  readonly w: number
  t: number[]
}

/** The side file's content, in memory. */
export interface Keeping {
  readonly health: Map<string, string>
  readonly budgets: Map<string, Uses>
  /** Whether it differs from the file. */
  changed: boolean
}

/** The side file of a token file. */
export function keepingPath(absolute: string): string {
  return `${absolute}.keeper.json`
}

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Reads the side file. Missing, unreadable or not what this module writes: empty (a record
 * lost reads as `active`, a budget's uses lost let a window's worth through again; neither
 * loses a token). Entries that are not well formed are left out one by one.
 */
export async function readKeeping(path: string): Promise<Keeping> {
  const keeping: Keeping = { health: new Map(), budgets: new Map(), changed: false }
  let parsed: unknown
  try {
    parsed = JSON.parse(await fsp.readFile(path, 'utf8'))
  } catch {
    return keeping
  }
  if (!isRecord(parsed) || parsed.v !== 1) return keeping
  if (isRecord(parsed.health)) {
    for (const [id, record] of Object.entries(parsed.health)) {
      if (typeof record === 'string' && record.length > 0 && record.length <= MAX_HEALTH_LENGTH) {
        keeping.health.set(id, record)
      }
    }
  }
  if (isRecord(parsed.budgets)) {
    for (const [key, uses] of Object.entries(parsed.budgets)) {
      if (!isRecord(uses) || !isTime(uses.w) || uses.w < 1 || !Array.isArray(uses.t)) continue
      if (uses.t.every(isTime)) keeping.budgets.set(key, { w: uses.w, t: uses.t })
    }
  }
  return keeping
}

/** The side file's text. */
export function keepingText(keeping: Keeping): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: 1,
      health: Object.fromEntries(keeping.health),
      budgets: Object.fromEntries(keeping.budgets),
    }),
  )
}

/** Whether nothing is kept (the side file can go). */
export function isEmpty(keeping: Keeping): boolean {
  return keeping.health.size === 0 && keeping.budgets.size === 0
}

/** Keeps (or with `null` removes) a token's record; one of a missing row goes by {@link dropOrphans}. */
export function putHealth(keeping: Keeping, id: string, record: string | null): void {
  if (record === null ? !keeping.health.delete(id) : keeping.health.get(id) === record) return
  if (record !== null) keeping.health.set(id, record)
  keeping.changed = true
}

/**
 * Forgets the records of rows the file no longer holds (deleted here, or by another program
 * that does not know the side file), so that a row saved again under the id starts without.
 */
export function dropOrphans(keeping: Keeping, table: RowTable, deleted?: string): void {
  for (const id of keeping.health.keys()) {
    if (id === deleted || table.get(id) === undefined) {
      keeping.health.delete(id)
      keeping.changed = true
    }
  }
}

/**
 * Takes one use of a budget by `decideBudget`'s rule (the one place it is written). Keys whose
 * every use has left its window by `now` are forgotten, so the file holds only live budgets.
 */
export function takeUse(keeping: Keeping, key: string, budget: Budget, now: number): BudgetAnswer {
  for (const [other, uses] of keeping.budgets) {
    if (other !== key && uses.t.every((t) => t <= now - uses.w)) {
      keeping.budgets.delete(other)
      keeping.changed = true
    }
  }
  const before = keeping.budgets.get(key)?.t ?? []
  const times = before.filter((t) => t > now - budget.windowMs)
  const answer = decideBudget(times, budget, now)
  if (answer.granted) times.push(now)
  if (answer.granted || times.length !== before.length) keeping.changed = true
  keeping.budgets.set(key, { w: budget.windowMs, t: times })
  return answer
}

/**
 * The health records of `ids` whose rows `table` holds: a record left behind by a row another
 * program deleted is never read (and goes at the next write, see {@link dropOrphans}).
 */
export async function keptHealth(
  absolute: string,
  table: RowTable,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const { health } = await readKeeping(keepingPath(absolute))
  const found = new Map<string, string>()
  for (const id of ids) {
    const record = health.get(id)
    if (record !== undefined && table.get(id) !== undefined) found.set(id, record)
  }
  return found
}

/**
 * Writes the side file as the token file is written (temporary file, flush, rename; see
 * `replaceFile`), under the caller's write lock; with nothing left to keep, removes it. Gives
 * the error when it could not, for the operations kept in it: the token file is written by
 * then, and a record of a row deleted in the batch is never read (see {@link keptHealth}).
 */
export async function writeKeeping(
  absolute: string,
  sideFiles: SideFiles,
  keeping: Keeping,
): Promise<((operation: StoreOperation) => TokenStoreError) | undefined> {
  const path = keepingPath(absolute)
  try {
    if (isEmpty(keeping)) {
      await fsp.unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
      return undefined
    }
    await sideFiles.prepare()
    const old = sideFiles.name('old')
    const previous = await replaceFile(
      { path, label: path, temp: sideFiles.name('tmp'), old, remove: (p) => sideFiles.remove(p) },
      [keepingText(keeping)],
    )
    if (previous === 'kept') sideFiles.removeLater(old)
    return undefined
  } catch (err) {
    const cause = err instanceof ReplaceError ? err.cause : err
    return (operation) =>
      fail(
        operation,
        `cannot write ${path}, where token health and budgets are kept: ` +
          `${explainFsError(cause, path)}; the tokens are unchanged`,
        cause,
      )
  }
}
