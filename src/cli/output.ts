// What the CLI prints: masked secrets, countdowns, tables, JSON lines, progress, all through
// one writer that escapes control characters.
import { once } from 'node:events'
import { CONTROL, escapeControl, maskCredentials } from '../log.js'
import { type OAuthToken, REDACTED, needsRefresh } from '../token.js'

/** `1 token`, `2 tokens`: a count and its noun, singular for one. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

/** A client id partly masked: `1000.AB…XY`. */
export function maskClientId(clientId: string | undefined): string {
  if (!clientId) return '-'
  const dot = clientId.indexOf('.')
  const prefix = dot >= 0 && dot <= 6 ? clientId.slice(0, dot + 1) : ''
  const rest = clientId.slice(prefix.length)
  if (rest.length <= 6) return `${prefix}…`
  return `${prefix}${rest.slice(0, 2)}…${rest.slice(-2)}`
}

/** A secret as shown: redacted unless revealed. */
export function secret(value: string | undefined, reveal: boolean): string {
  if (value === undefined) return '-'
  return reveal ? value : REDACTED
}

/** A span of time in its largest sensible unit: `42s`, `42m`, `3h`, `12d`. */
export function span(ms: number): string {
  const seconds = Math.floor(Math.abs(ms) / 1000)
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours}h`
  return `${Math.floor(hours / 24)}d`
}

/** The expiry as a countdown: `in 42m`, `expired 3h ago`, `-` when unknown. */
export function countdown(expiryTime: number | undefined, now: number): string {
  if (expiryTime === undefined) return '-'
  return expiryTime > now ? `in ${span(expiryTime - now)}` : `expired ${span(now - expiryTime)} ago`
}

/**
 * What a token can do now. Expired is the session's rule with no margin (`needsRefresh`); an
 * access token of unknown lifetime counts as valid, as a session uses it until it is refused.
 */
export function tokenState(token: OAuthToken, now: number): string {
  if (!token.accessToken && !token.refreshToken && token.grantToken) return 'grant only'
  if (!token.accessToken) return 'no access token'
  if (token.expiryTime !== undefined && needsRefresh(token, now, 0)) return 'expired'
  return 'valid'
}

/** The width of each column: its title's or its widest cell's ({@link printable} cells). */
export function columnWidths(header: readonly string[], cells: readonly string[][]): number[] {
  return header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => (row[column] ?? '').length)),
  )
}

/** One line of a table: each cell padded to its column's width, two spaces between. */
export function tableLine(row: readonly string[], widths: readonly number[]): string {
  return row
    .map((cell, column) => cell.padEnd(widths[column] ?? 0))
    .join('  ')
    .trimEnd()
}

/**
 * Rows as the lines of a table with a header, columns padded to their widest cell. Each cell is
 * made {@link printable} first, so that no value can break a row or shift a column.
 */
export function table(header: string[], rows: string[][]): string[] {
  const cells = rows.map((row) => row.map(printable))
  const widths = columnWidths(header, cells)
  return [tableLine(header, widths), ...cells.map((row) => tableLine(row, widths))]
}

/**
 * What every text the CLI prints goes through: the credentials of URLs and parameters masked
 * (`user:password@`, `?password=`, `&pass=`, `?auth=`, `sslpassword=`, encoded or not), and
 * control characters escaped (newlines, carriage returns, tabs, ESC and the other C0 and C1
 * codes, U+2028/U+2029, bidirectional overrides), so that the text is one line and a stored
 * value can neither forge a row nor recolour the terminal.
 */
export function printable(text: string): string {
  return escapeControl(maskCredentials(text))
}

/** The text of a line as {@link say} writes it. */
export function sayText(text = ''): string {
  return `${printable(text)}\n`
}

/** Writes one line to stdout, {@link printable}. */
export function say(text = ''): void {
  process.stdout.write(sayText(text))
}

/**
 * A value as indented JSON, as {@link sayJson} writes it (without the final newline). JSON
 * escapes C0 controls itself; the rest of what {@link printable} escapes (DEL, C1,
 * U+2028/U+2029, bidirectional overrides) is written as `\uXXXX`, which reads back as the same
 * value. URL credentials are masked.
 */
export function jsonText(value: unknown): string {
  // Credentials are masked in each string value, not in the text: a value ending in
  // `password=` would otherwise swallow the JSON that follows it. Below U+0020 only the layout's
  // own newlines are left: JSON escaped the rest in strings.
  const masked = JSON.stringify(
    value,
    (_key, item: unknown) => (typeof item === 'string' ? maskCredentials(item) : item),
    2,
  )
  return masked.replace(CONTROL, (char) => {
    const code = char.charCodeAt(0)
    return code < 0x20 ? char : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** Writes a value to stdout as indented JSON ({@link jsonText}). */
export function sayJson(value: unknown): void {
  process.stdout.write(`${jsonText(value)}\n`)
}

/**
 * A JSON array written an item at a time, with the text {@link sayJson} gives the whole array:
 * `JSON.stringify` lays an array out as `[`, each item indented by two spaces (its strings hold
 * no raw newline), `,` between items and `]`; values are masked one by one either way.
 */
export class JsonArrayText {
  #items = 0

  /** The text of the next item. */
  item(value: unknown): string {
    const text = jsonText(value).replace(/\n/g, '\n  ')
    return `${this.#items++ === 0 ? '[\n' : ',\n'}  ${text}`
  }

  /** The text that closes the array, with the final newline. */
  end(): string {
    return this.#items === 0 ? '[]\n' : '\n]\n'
  }
}

/**
 * Writes to stdout, and waits when the stream asks to (a slow pipe or terminal), so that a long
 * listing holds about one page in memory rather than the whole output in the stream's buffer.
 */
export async function writeOut(text: string): Promise<void> {
  if (text.length > 0 && !process.stdout.write(text)) await once(process.stdout, 'drain')
}

/** How often a long pass reports its progress, in tokens. */
export const PROGRESS_EVERY = 10_000

/**
 * The progress of a long pass over the tokens, for `eachToken`'s `onProgress`: one line on
 * stderr (never stdout, so never in a listing or in JSON) each time the count passes a multiple
 * of `every`, such as `purge: 120000 tokens examined`. It shows counts only, never a value.
 */
export function passProgress(
  line: (seen: number) => string,
  every: number = PROGRESS_EVERY,
): (seen: number) => void {
  let shown = 0
  return (seen) => {
    if (Math.floor(seen / every) > Math.floor(shown / every)) {
      process.stderr.write(sayText(line(seen)))
    }
    shown = Math.max(shown, seen)
  }
}
