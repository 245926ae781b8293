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
 * Reads every record of a file's text, line numbers 1-based. A record that cannot be read
 * costs only its own first line: reading goes on at the next line. Reading may start at any
 * place where a record starts (`from`, its line number `line`) and stops before the first
 * record start `stop` accepts.
 */
export function* parseRecords(
  text: string,
  from = 0,
  line = 1,
  stop?: (pos: number) => boolean,
): Generator<CsvRecord> {
  let pos = from === 0 && text.charCodeAt(0) === 0xfeff ? 1 : from
  const length = text.length
  // The next quote at or after `pos`, searched again only once passed: one pass over the text,
  // however many lines come before the first quote (or after the last).
  let quote = -1
  while (pos < length) {
    if (stop?.(pos)) return
    let end = text.indexOf('\n', pos)
    if (end === -1) end = length
    if (quote !== length && quote < pos) {
      quote = text.indexOf('"', pos)
      if (quote === -1) quote = length
    }
    if (quote >= end) {
      // The common case: no quote on this line, so it is the whole record.
      const lineEnd = end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end
      const raw = text.slice(pos, lineEnd)
      const start = pos
      pos = end + 1
      line += 1
      if (raw.length > 0) {
        parseCount.records += 1
        yield {
          line: line - 1,
          fields: raw.split(','),
          raw,
          start,
          end: lineEnd,
          next: Math.min(pos, length),
          multiline: false,
        }
      }
      continue
    }
    parseCount.records += 1
    const result = parseQuotedRecord(text, pos)
    if ('error' in result) {
      const raw = text.slice(pos, end > pos && text.charCodeAt(end - 1) === 13 ? end - 1 : end)
      yield { line, error: result.error, raw, start: pos, reach: result.reach }
      pos = end + 1
      line += 1
    } else {
      const lines = countNewlines(text, pos, result.next)
      yield {
        line,
        fields: result.fields,
        raw: text.slice(pos, result.end),
        start: pos,
        end: result.end,
        next: result.next,
        multiline: lines > 1 || (lines === 1 && text.charCodeAt(result.next - 1) !== 10),
      }
      line += lines
      pos = result.next
    }
  }
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
