/**
 * The file store's snapshot: the token file as last read, parsed into a {@link RowTable} whose
 * rows point into the file's text, so that unchanged rows are written back byte for byte.
 */
import { largestNumericId } from '../../store/ids.js'
import { type Lookup } from '../../store/matching.js'
import { type Column, type StoredRow, type TokenRow } from '../../store/rows.js'
import { type RowLookups } from '../../store/save.js'
import { RecordReader, formatRecord, type CsvRecord } from '../csv.js'
import { RowTable } from '../table.js'
import { DEFAULT_LAYOUT, parseHeader, type Layout, type Reading } from './layout.js'

/** A row of the file that could not be read: kept in the file as it is. */
export interface BadRow {
  readonly line: number
  readonly reason: string
  readonly raw: string
  /** The values a plain comma split finds, to tell when the bad row is the one asked for. */
  readonly naive: readonly string[]
  /** Where it starts in the snapshot's text. */
  readonly start: number
  /** For a record that could not be read: the furthest place its reading looked. */
  readonly reach?: number
  /** For a row whose id an earlier row holds: that id. */
  readonly twice?: string
}

/** A record spanning lines: a line start inside it is not a record start. */
export interface Span {
  readonly start: number
  readonly next: number
}

/** What the store knows of the file as it was when last read or written. */
export interface Snapshot {
  /** Identity of the file version: inode, size, times; `missing` when there is no file. */
  readonly version: string
  readonly table: RowTable
  readonly bad: BadRow[]
  /** The file's text as last read (rows point into it), or '' for a new file. */
  readonly text: string
  /** What the snapshot's {@link TextRow}s read their values from (its text is `text`). */
  readonly source: RowSource
  readonly layout: Layout
  /** Whether the layout must be written out (a 9-column file gains `api_domain`). */
  readonly upgrade: boolean
  /**
   * Whether the rows and bad rows are exactly what reading `text` whole gives, every row
   * pointing into it (see {@link Reading}): only then can a change be applied alone.
   */
  exact: boolean
  /** Where the header record ends (past its line ending). */
  readonly headerNext: number
  /** Records whose quoted values hold line breaks, in file order (see `reloadChanged`). */
  readonly spans: readonly Span[]
  /** No row starts at or after this place in `text`. */
  readonly rowsEnd: number
}

/**
 * A row as the file store keeps it: where its text is in the file as last read (`start` to
 * `end` in the snapshot's `text`), so that unchanged rows are written back as they were. A row
 * saved since has `start` -1 (or none) and is formatted.
 */
export type FileRow = StoredRow & { start?: number; end?: number }

/**
 * The text a snapshot's rows read their values from, and each column's position in a record.
 * Shared by the rows: a reload that moves them into a new text changes it once for all.
 */
export interface RowSource {
  text: string
  readonly at: Readonly<Record<Column, number>>
}

// The values of the row read last: a token is made from a row by reading its columns one after
// the other, and one split serves them all. Cleared when a source's text changes.
let cachedRow: TextRow | undefined
let cachedStart = -1
let cachedValues: string[] = []

/** Gives the source the text its rows now point into (after a reload moved them). */
export function moveSource(source: RowSource, text: string): void {
  source.text = text
  cachedRow = undefined
}

function valueAt(row: TextRow, position: number): string | null {
  if (cachedRow !== row || cachedStart !== row.start) {
    cachedValues = row.source.text.slice(row.start, row.end).split(',')
    cachedRow = row
    cachedStart = row.start
  }
  const value = cachedValues[position]!
  return value.length === 0 ? null : value
}

/**
 * A row of a record without quotes, read from the file and not changed since: only its place
 * and its id are held, its other values are sliced from the text when asked for. Opening a file
 * of a million rows to find one token then makes one small object a row, not eleven.
 */
export class TextRow implements StoredRow {
  constructor(
    readonly source: RowSource,
    public start: number,
    public end: number,
    readonly id: string,
  ) {}
  get user_name(): string | null {
    return valueAt(this, this.source.at.user_name)
  }
  get client_id(): string | null {
    return valueAt(this, this.source.at.client_id)
  }
  get client_secret(): string | null {
    return valueAt(this, this.source.at.client_secret)
  }
  get refresh_token(): string | null {
    return valueAt(this, this.source.at.refresh_token)
  }
  get access_token(): string | null {
    return valueAt(this, this.source.at.access_token)
  }
  get grant_token(): string | null {
    return valueAt(this, this.source.at.grant_token)
  }
  get expiry_time(): string | null {
    return valueAt(this, this.source.at.expiry_time)
  }
  get redirect_url(): string | null {
    return valueAt(this, this.source.at.redirect_url)
  }
  get api_domain(): string | null {
    return valueAt(this, this.source.at.api_domain)
  }
}

/** A source over `text` for rows laid out as `layout` says. */
export function rowSource(text: string, layout: Layout): RowSource {
  const at = {} as Record<Column, number>
  layout.columns.forEach((column, i) => (at[column] = i))
  return { text, at }
}

/** A row with every column absent, built as one literal: rows of the slow path share a shape. */
function emptyRow(): TokenRow & { start: number; end: number } {
  return {
    start: -1,
    end: -1,
    id: null,
    user_name: null,
    client_id: null,
    client_secret: null,
    refresh_token: null,
    access_token: null,
    grant_token: null,
    expiry_time: null,
    redirect_url: null,
    api_domain: null,
  }
}

/** A record as a row of the table, or as a bad row; `seen` tells an id an earlier row holds. */
export function readRecord(
  record: CsvRecord,
  { layout, upgrade }: Reading,
  seen: (id: string) => boolean,
): (FileRow & { start: number; end: number }) | BadRow {
  if (!('fields' in record)) return badRow(record, record.error)
  const { fields } = record
  const { columns } = layout
  const width = columns.length
  if (fields.length !== width && !(upgrade && fields.length === width - 1)) {
    return badRow(record, `expected ${width} values, found ${fields.length}`)
  }
  const row = emptyRow()
  for (let i = 0; i < width; i += 1) {
    const value = fields[i]
    row[columns[i]!] = value === undefined || value.length === 0 ? null : value
  }
  if (row.id === null) return badRow(record, 'the row has no id')
  if (seen(row.id)) return badRow(record, `id ${row.id} appears twice`, row.id)
  if (!upgrade) {
    row.start = record.start
    row.end = record.end
  }
  return row as FileRow & { start: number; end: number }
}

export function badRow(record: CsvRecord, reason: string, twice?: string): BadRow {
  const bad: BadRow = {
    line: record.line,
    reason,
    raw: record.raw,
    naive: record.raw.split(','),
    start: record.start,
  }
  if ('reach' in record) return { ...bad, reach: record.reach }
  return twice === undefined ? bad : { ...bad, twice }
}

/** The snapshot of a file that does not exist or holds nothing. */
export function emptySnapshot(version: string): Snapshot {
  return {
    version,
    table: new RowTable(),
    bad: [],
    text: '',
    source: rowSource('', DEFAULT_LAYOUT),
    layout: DEFAULT_LAYOUT,
    upgrade: false,
    exact: false,
    headerNext: 0,
    spans: [],
    rowsEnd: 0,
  }
}

/**
 * The snapshot of `text`, read whole. `problem` makes the error for a header that cannot be
 * used. Records without quotes (nearly all) become {@link TextRow}s, checked for their number
 * of values and their id without a string made for any other value.
 */
export function readSnapshot(
  text: string,
  version: string,
  problem: (message: string) => Error,
): Snapshot {
  const reader = new RecordReader(text)
  if (!reader.read()) return emptySnapshot(version)
  const header = reader.record()
  if (!('fields' in header)) throw problem(`line 1: the header cannot be read (${header.error})`)
  const reading = parseHeader(header.fields, text, problem)
  const { layout, upgrade } = reading
  const width = layout.columns.length
  const source = rowSource(text, layout)
  const table = new RowTable()
  const bad: BadRow[] = []
  const spans: Span[] = []
  const seen = (id: string): boolean => table.hasId(id)
  let rowsEnd = header.next
  while (reader.read()) {
    const { start, end } = reader
    // An upgraded file's rows are all written anew: they take the slow path, keeping no place.
    if (reader.kind === 'plain' && !upgrade) {
      let comma = text.indexOf(',', start)
      const idEnd = comma === -1 || comma > end ? end : comma
      let values = 1
      for (; comma !== -1 && comma < end; comma = text.indexOf(',', comma + 1)) values += 1
      let reason: string | undefined
      let id: string | undefined
      if (values !== width) reason = `expected ${width} values, found ${values}`
      else if (idEnd === start) reason = 'the row has no id'
      else {
        id = text.slice(start, idEnd)
        if (table.add(new TextRow(source, start, end, id))) {
          rowsEnd = start + 1
          continue
        }
        reason = `id ${id} appears twice`
      }
      bad.push(badRow(reader.record(), reason, id))
      continue
    }
    if (reader.kind === 'quoted' && reader.multiline) spans.push({ start, next: reader.next })
    const read = readRecord(reader.record(), reading, seen)
    if ('line' in read) {
      bad.push(read)
      continue
    }
    table.put(read)
    rowsEnd = start + 1
  }
  return {
    version,
    table,
    bad,
    text,
    source,
    layout,
    upgrade,
    // An upgraded file's rows are all written anew: they keep no place in the text.
    exact: !upgrade,
    headerNext: header.next,
    spans,
    rowsEnd,
  }
}

/**
 * The file's content for the snapshot, in chunks: unchanged rows as the file held them, only
 * changed rows formatted, bad rows as they were. Lines are joined into chunks, not a Buffer each.
 */
export function snapshotBuffers(snapshot: Snapshot): Buffer[] {
  const { layout, text } = snapshot
  const buffers: Buffer[] = [Buffer.from(formatRecord(layout.header) + layout.eol)]
  let chunk: string[] = []
  for (const row of snapshot.table.rows() as IterableIterator<FileRow>) {
    const { start = -1, end = -1 } = row
    chunk.push(
      start >= 0 ? text.slice(start, end) : formatRecord(layout.columns.map((c) => row[c])),
    )
    if (chunk.length === 4096) {
      buffers.push(Buffer.from(chunk.join(layout.eol) + layout.eol))
      chunk = []
    }
  }
  if (chunk.length > 0) buffers.push(Buffer.from(chunk.join(layout.eol) + layout.eol))
  for (const bad of snapshot.bad) buffers.push(Buffer.from(bad.raw + layout.eol))
  return buffers
}

function naiveValue(bad: BadRow, layout: Layout, column: Column): string | undefined {
  return bad.naive[layout.columns.indexOf(column)]
}

/** Whether a bad row may be the one a lookup asks for (its naive values match). */
export function naiveMatches(bad: BadRow, layout: Layout, lookup: Lookup): boolean {
  return naiveValue(bad, layout, lookup.column) === lookup.value
}

/** Whether a bad row may be the row of id `id`. */
export function naiveIdIs(bad: BadRow, layout: Layout, id: string): boolean {
  return naiveValue(bad, layout, 'id') === id
}

/**
 * The snapshot's lookups for a save: its rows, and for a new id every id the file holds, the
 * rows it could not read included (they are written back as they are).
 */
export function numbering(snapshot: Snapshot): RowLookups {
  const { table, bad } = snapshot
  return {
    hasId: (id) => table.hasId(id),
    findId: (lookup) => table.findId(lookup),
    get: (id) => table.get(id),
    largestNumericId: () => {
      const read = table.largestNumericId()
      if (bad.length === 0) return read
      const unread = largestNumericId(bad.map((row) => row.naive[0]?.replace(/^"|"$/g, '') ?? null))
      return read === undefined || unread === undefined ? (read ?? unread) : Math.max(read, unread)
    },
  }
}
