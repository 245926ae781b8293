/**
 * The file store's incremental reload: when another process changed the token file, only the
 * records where the old and new text differ are read again (see {@link reloadChanged}).
 */
import { COLUMNS, type StoredRow } from '../../store/rows.js'
import { countNewlines, parseRecords } from '../csv.js'
import {
  moveSource,
  readRecord,
  type BadRow,
  type FileRow,
  type Snapshot,
  type Span,
} from './snapshot.js'
import type { Reading } from './layout.js'

/** How the file was read again when it changed: whole, or only where it changed. */
export const reloadCount = { full: 0, partial: 0 }

/** Below this many characters a difference is found char by char. */
const COMPARE_FLOOR = 64

/** The length of the longest common start of `a` and `b`, found by comparing halves natively. */
function commonPrefix(a: string, b: string): number {
  let hi = Math.min(a.length, b.length)
  if (a.slice(0, hi) === b.slice(0, hi)) return hi
  let lo = 0
  // a and b agree on [0, lo) and differ somewhere in [lo, hi).
  while (hi - lo > COMPARE_FLOOR) {
    const mid = lo + ((hi - lo) >>> 1)
    if (a.slice(lo, mid) === b.slice(lo, mid)) lo = mid
    else hi = mid
  }
  while (lo < hi && a.charCodeAt(lo) === b.charCodeAt(lo)) lo += 1
  return lo
}

/** The length of the longest common end of `a` and `b`, at most `most`. */
function commonSuffix(a: string, b: string, most: number): number {
  const al = a.length
  const bl = b.length
  if (a.slice(al - most) === b.slice(bl - most)) return most
  let lo = 0
  let hi = most
  while (hi - lo > COMPARE_FLOOR) {
    const mid = lo + ((hi - lo) >>> 1)
    if (a.slice(al - mid, al - lo) === b.slice(bl - mid, bl - lo)) lo = mid
    else hi = mid
  }
  while (lo < hi && a.charCodeAt(al - 1 - lo) === b.charCodeAt(bl - 1 - lo)) lo += 1
  return lo
}

/** The span a place lies strictly inside, if any (spans are in file order). */
function spanAround(spans: readonly Span[], at: number): Span | undefined {
  let lo = 0
  let hi = spans.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (spans[mid]!.start < at) lo = mid + 1
    else hi = mid
  }
  const span = spans[lo - 1]
  return span !== undefined && span.next > at ? span : undefined
}

/**
 * The snapshot of `text`, the file's new content, made from `old` (exact) by reading again
 * only the records where the two differ; `undefined` when the change cannot be applied alone,
 * and the file is then read whole. The result is what reading `text` whole gives.
 *
 * Reading a record depends only on the text from its start on, so records wholly before the
 * first difference (and whose reading looked no further) are read the same, and once reading
 * the new text reaches, inside the common end, a place where a record of the old text started,
 * every record from there on is the old one moved by the difference in length. A line start is
 * a record start unless a quoted value spanning lines holds it (`spans`).
 */
export function reloadChanged(old: Snapshot, text: string, version: string): Snapshot | undefined {
  const before = old.text
  const prefix = commonPrefix(before, text)
  if (prefix === before.length && prefix === text.length) return { ...old, version }
  const suffix = commonSuffix(before, text, Math.min(before.length, text.length) - prefix)
  // The header (and a byte order mark) must be read the same: its line ending is in the prefix.
  if (prefix < old.headerNext || before.charCodeAt(old.headerNext - 1) !== 10) return undefined
  // The line ending a file is written with depends on the whole text.
  const crlf =
    old.layout.eol === '\r\n'
      ? before.indexOf('\r\n') + 1 < prefix || text.includes('\r\n')
      : text.slice(prefix - 1, text.length - suffix + 1).includes('\r\n')
  if (crlf !== (old.layout.eol === '\r\n')) return undefined

  // Where reading starts again: the record holding the first difference, or an earlier one
  // that could not be read and whose reading looked as far.
  let from = before.lastIndexOf('\n', prefix - 1) + 1
  from = spanAround(old.spans, from)?.start ?? from
  for (const bad of old.bad) {
    if (bad.start >= from) break
    if (bad.reach !== undefined && bad.reach >= prefix) {
      from = bad.start
      break
    }
  }
  if (from < old.headerNext) return undefined

  const shift = text.length - before.length
  const tail = text.length - suffix
  const isOldStart = (at: number): boolean =>
    at === before.length ||
    (before.charCodeAt(at - 1) === 10 && spanAround(old.spans, at) === undefined)
  let until = text.length
  const added = Array.from(
    parseRecords(text, from, 1, (pos) => {
      if (pos < tail || !isOldStart(pos - shift)) return false
      until = pos
      return true
    }),
  )
  const oldUntil = until - shift
  const removed = Array.from(parseRecords(before, from, 1, (pos) => pos >= oldUntil))

  const { table } = old
  const reading: Reading = { layout: old.layout, upgrade: old.upgrade }
  // The rows the changed records held, in file order.
  const gone: string[] = []
  for (const record of removed) {
    if (!('fields' in record)) continue
    const id = record.fields[0]
    if (id && (table.get(id) as FileRow | undefined)?.start === record.start) gone.push(id)
  }
  const goneIds = new Set(gone)
  const rows: (FileRow & { start: number; end: number })[] = []
  const bad: BadRow[] = []
  const taken = new Set<string>()
  for (const record of added) {
    const read = readRecord(record, reading, (id) => {
      if (taken.has(id)) return true
      const row = table.get(id) as FileRow | undefined
      return row !== undefined && row.start! < from
    })
    if ('line' in read) {
      bad.push(read)
      continue
    }
    // A row whose id a later row holds: that one turns bad, rows move. Read whole.
    if (table.hasId(read.id) && !goneIds.has(read.id)) return undefined
    taken.add(read.id)
    rows.push(read)
  }
  // Rows the change keeps stay in place, in their order; a new row can only be added at the end.
  const rowsAfter = old.rowsEnd > oldUntil
  let next = 0
  let grew = false
  for (const row of rows) {
    if (goneIds.has(row.id)) {
      while (next < gone.length && gone[next] !== row.id) next += 1
      if (grew || next === gone.length) return undefined
      next += 1
    } else {
      if (rowsAfter) return undefined
      grew = true
    }
  }
  const tailBad = old.bad.filter((row) => row.start >= oldUntil)
  // A later row bad only because an earlier row held its id, now gone: it is a row again.
  const freed = (id: string | undefined): boolean =>
    id !== undefined && goneIds.has(id) && !taken.has(id)
  if (tailBad.some((row) => freed(row.twice))) return undefined

  reloadCount.partial += 1
  if (shift !== 0 && rowsAfter) {
    for (const row of table.rows() as IterableIterator<FileRow>) {
      if (row.start! >= oldUntil) {
        row.start! += shift
        row.end! += shift
      }
    }
  }
  // The rows the change replaces or removes leave the indexes under the values they held, which
  // only the old text gives: plain copies of them are made before the source moves to the new.
  for (const id of gone) {
    const row = table.get(id)!
    table.put(Object.fromEntries(COLUMNS.map((column) => [column, row[column]])) as StoredRow)
  }
  // Rows before the change point into the new text as they did into the old.
  moveSource(old.source, text)
  for (const id of gone) if (!taken.has(id)) table.delete(id)
  for (const row of rows) table.put(row)

  const headBad = old.bad.filter((row) => row.start < from)
  if (bad.length > 0) {
    const anchor = headBad.at(-1) ?? { start: 0, line: 1 }
    const base = anchor.line + countNewlines(before, anchor.start, from) - 1
    for (let i = 0; i < bad.length; i += 1) bad[i] = { ...bad[i]!, line: bad[i]!.line + base }
  }
  const lines =
    tailBad.length > 0
      ? countNewlines(text, from, until) - countNewlines(before, from, oldUntil)
      : 0
  const moved = (row: BadRow): BadRow => ({
    ...row,
    line: row.line + lines,
    start: row.start + shift,
    ...(row.reach === undefined ? {} : { reach: row.reach + shift }),
  })
  const spans: Span[] = old.spans.filter((span) => span.start < from)
  for (const record of added) if ('fields' in record && record.multiline) spans.push(record)
  for (const span of old.spans) {
    if (span.start >= oldUntil) spans.push({ start: span.start + shift, next: span.next + shift })
  }
  return {
    ...old,
    version,
    text,
    bad: [...headBad, ...bad, ...tailBad.map(moved)],
    spans,
    rowsEnd: rowsAfter ? old.rowsEnd + shift : (rows.at(-1)?.start ?? from - 1) + 1,
  }
}
