/**
 * The CSV dialect of the official SDKs' token files: comma-separated, a value quoted only when
 * it holds a comma, a double quote, CR or LF (so that plain rows still split on commas), `""`
 * for a quote inside quotes. Reading is lenient where the official writers are sloppy (a
 * quote inside an unquoted value is taken as it is, as Python's csv module does) and strict
 * where data would be lost (an unterminated quote, text after a closing quote).
 */

/** One record read from the file: its values, or why it could not be read. */
export type CsvRecord =
  | {
      readonly line: number
      readonly fields: string[]
      readonly raw: string
      /** Where `raw` begins and ends in the text (its line ending excluded). */
      readonly start: number
      readonly end: number
      /** Where reading goes on: past the record's line ending. */
      readonly next: number
      /** Whether a quoted value holds a line break, so that a line start lies inside. */
      readonly multiline: boolean
    }
  | {
      readonly line: number
      readonly error: string
      readonly raw: string
      readonly start: number
      /** The furthest place reading looked before it gave up (the text's length: its end). */
      readonly reach: number
    }

/** Records parsed since the process started: lets tests count the work a read costs. */
export const parseCount = { records: 0 }

const NEEDS_QUOTES = /[",\r\n]/

/** Writes one value, quoted only when it must be. */
export function formatValue(value: string | null): string {
  if (value === null) return ''
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

/** Writes one record, without its line ending. */
export function formatRecord(values: readonly (string | null)[]): string {
  return values.map(formatValue).join(',')
}

/**
 * Reads the records of a file's text one at a time into itself, so that reading a million
 * rows makes no object per record: a record without quotes is only its place in the text
 * (`plain`), its values sliced by whoever needs them. Line numbers are 1-based. A record that
 * cannot be read costs only its own first line: reading goes on at the next line. Reading may
 * start at any place where a record starts (`from`, its line number `line`).
 */
export class RecordReader {
  /** Where the next record is looked for. */
  pos: number
  /** The line number at `pos`. */
  line: number
  // The next quote at or after `pos`, searched again only once passed: one pass over the text,
  // however many lines come before the first quote (or after the last).
  #quote = -1
  // The record just read.
  kind: 'plain' | 'quoted' | 'error' = 'plain'
  recordLine = 0
  start = 0
  /** Where the record ends (its line ending excluded); for an error, the end of its first line. */
  end = 0
  /** Where reading goes on: past the record's line ending. */
  next = 0
  /** A quoted record's values (a plain one is split by `record()`, or not at all). */
  fields: string[] = []
  /** Whether a quoted value holds a line break, so that a line start lies inside. */
  multiline = false
  error = ''
  /** For an error: the furthest place reading looked before it gave up. */
  reach = 0

  constructor(
    readonly text: string,
    from = 0,
    line = 1,
  ) {
    this.pos = from === 0 && text.charCodeAt(0) === 0xfeff ? 1 : from
    this.line = line
  }

  /**
   * Reads the next record; `false` at the end of the text, or before the first record start
   * that `stop` accepts (empty lines are skipped, but `stop` is asked at each of them too).
   */
  read(stop?: (pos: number) => boolean): boolean {
    const { text } = this
    const length = text.length
    while (this.pos < length) {
      const pos = this.pos
      if (stop?.(pos)) return false
      let end = text.indexOf('\n', pos)
      if (end === -1) end = length
      if (this.#quote !== length && this.#quote < pos) {
        this.#quote = text.indexOf('"', pos)
        if (this.#quote === -1) this.#quote = length
      }
      if (this.#quote >= end) {
        // The common case: no quote on this line, so it is the whole record.
        const lineEnd = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end
        this.pos = end + 1
        this.line += 1
        if (lineEnd === pos) continue
        parseCount.records += 1
        this.kind = 'plain'
        this.recordLine = this.line - 1
        this.start = pos
        this.end = lineEnd
        this.next = Math.min(this.pos, length)
        this.multiline = false
        return true
      }
      parseCount.records += 1
      this.start = pos
      this.recordLine = this.line
      const result = parseQuotedRecord(text, pos)
      if ('error' in result) {
        this.kind = 'error'
        this.error = result.error
        this.reach = result.reach
        this.end = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end
        this.pos = end + 1
        this.line += 1
      } else {
        const lines = countNewlines(text, pos, result.next)
        this.kind = 'quoted'
        this.fields = result.fields
        this.end = result.end
        this.next = result.next
        this.multiline = lines > 1 || (lines === 1 && text.charCodeAt(result.next - 1) !== 10)
        this.line += lines
        this.pos = result.next
      }
      return true
    }
    return false
  }

  /** The record just read, as an object of its own. */
  record(): CsvRecord {
    const { text, start, end } = this
    if (this.kind === 'error') {
      const raw = text.slice(start, end)
      return { line: this.recordLine, error: this.error, raw, start, reach: this.reach }
    }
    const raw = text.slice(start, end)
    return {
      line: this.recordLine,
      fields: this.kind === 'plain' ? raw.split(',') : this.fields,
      raw,
      start,
      end,
      next: this.next,
      multiline: this.multiline,
    }
  }
}

/**
 * Reads every record of a file's text (see {@link RecordReader}), each as an object, stopping
 * before the first record start `stop` accepts.
 */
export function* parseRecords(
  text: string,
  from = 0,
  line = 1,
  stop?: (pos: number) => boolean,
): Generator<CsvRecord> {
  const reader = new RecordReader(text, from, line)
  while (reader.read(stop)) yield reader.record()
}

/** How many line feeds `text` holds from `from` to before `to`. */
export function countNewlines(text: string, from: number, to: number): number {
  let count = 0
  for (let at = text.indexOf('\n', from); at !== -1 && at < to; at = text.indexOf('\n', at + 1)) {
    count += 1
  }
  return count
}

/** Reads one record that has a quote somewhere; `end` excludes, `next` includes the line end. */
function parseQuotedRecord(
  text: string,
  start: number,
): { fields: string[]; end: number; next: number } | { error: string; reach: number } {
  const fields: string[] = []
  let pos = start
  for (;;) {
    let value: string
    if (text[pos] === '"') {
      let out = ''
      let from = pos + 1
      for (;;) {
        const close = text.indexOf('"', from)
        if (close === -1) return { error: 'a quoted value is never closed', reach: text.length }
        out += text.slice(from, close)
        if (text[close + 1] === '"') {
          out += '"'
          from = close + 2
          continue
        }
        pos = close + 1
        break
      }
      value = out
      const next = text[pos]
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
        return { error: 'text follows a closing quote', reach: pos }
      }
    } else {
      let stop = pos
      while (stop < text.length) {
        const c = text.charCodeAt(stop)
        if (c === 44 || c === 10 || c === 13) break
        stop += 1
      }
      value = text.slice(pos, stop)
      pos = stop
    }
    fields.push(value)
    const c = text[pos]
    if (c === ',') {
      pos += 1
      continue
    }
    if (c === undefined) return { fields, end: pos, next: pos }
    if (c === '\r' && text[pos + 1] === '\n') return { fields, end: pos, next: pos + 2 }
    if (c === '\n') return { fields, end: pos, next: pos + 1 }
    return { error: 'a carriage return stands alone outside quotes', reach: pos + 1 }
  }
}
