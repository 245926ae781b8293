import { appendFileSync, closeSync, openSync } from 'node:fs'
import { InvalidArgumentError } from './errors.js'
import { REDACTED } from './token.js'
import { zoho } from './providers/zoho.js'

/** Any logger with these four methods works: pino, winston, console, or {@link createLogger}'s. */
export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

/** The levels, least severe first. */
export const LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type Level = (typeof LEVELS)[number]

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The least severe level written; default `'info'`. `'off'` writes nothing. */
  level?: Level | 'off'
  /** Append to this file (created with mode 0600) instead of standard error. */
  filePath?: string
}

/**
 * The default logger: one line per event, `time LEVEL message`, to standard error or a file.
 *
 * @example
 * const logger = createLogger({ level: 'info', filePath: './logs.txt' })
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', filePath } = options
  if (level !== 'off' && !LEVELS.includes(level)) {
    throw new InvalidArgumentError('level', `level must be one of ${LEVELS.join(', ')}, off`)
  }
  if (filePath !== undefined) {
    if (typeof filePath !== 'string' || filePath.length === 0) {
      throw new InvalidArgumentError('filePath', 'filePath must be a non-empty string')
    }
    closeSync(openSync(filePath, 'a', 0o600))
  }
  const threshold = level === 'off' ? LEVELS.length : LEVELS.indexOf(level)
  const write = (at: Level, message: string): void => {
    if (LEVELS.indexOf(at) < threshold) return
    const line = `${new Date().toISOString()} ${at.toUpperCase()} ${escapeControl(scrub(message))}\n`
    if (filePath === undefined) process.stderr.write(line)
    else appendFileSync(filePath, line, { mode: 0o600 })
  }
  return {
    debug: (message) => write('debug', message),
    info: (message) => write('info', message),
    warn: (message) => write('warn', message),
    error: (message) => write('error', message),
  }
}

// What a secret looks like in text: a quote around a value (raw, escaped inside a JSON string at
// any depth, or percent-encoded once or more), the separator after a name (`=`, `:`, raw or
// encoded, with spaces around it raw or encoded: `%3A%20` and `%3A+` are how URLs carry
// `{'refresh_token': 'x'}`), and the value itself (quoted up to the same quote, or bare up to a
// space, a quote or a separator).
const QUOTE = String.raw`(?:\\*["']|%(?:25)*2[27])`
const SPACE = String.raw`(?:\s|%(?:25)*20|\+)`
const SEPARATOR = String.raw`${SPACE}*(?:[=:]|%(?:25)*3[ADad])${SPACE}*`
const VALUE =
  String.raw`(?:\[redacted\]` +
  String.raw`|"(?:[^"\\]|\\[\s\S])*"?|'(?:[^'\\]|\\[\s\S])*'?` +
  String.raw`|(?<escapes>\\+)(?<quote>["'])(?:(?!\k<escapes>\k<quote>)[\s\S])*(?:\k<escapes>\k<quote>)?` +
  String.raw`|%(?:25)*22(?:(?!%(?:25)*22)[\s\S])*(?:%(?:25)*22)?` +
  String.raw`|%(?:25)*27(?:(?!%(?:25)*27)[\s\S])*(?:%(?:25)*27)?` +
  String.raw`|(?:[^\s"'&,;}\]<>%\\]|\\(?!\\*["'])|%(?!(?:25)*(?:2[0267Cc]|3[Bb]|7[Dd]|0[AaDd]))[0-9A-Fa-f]{2})+)`
/** Names whose value is a secret, in snake_case, camelCase or kebab-case. */
const SECRET_NAME = String.raw`(?:client[_-]?secret|(?:refresh|access|grant|id)[_-]?token|code[_-]?verifier|[a-z]*pass(?:word|wd)|pass|pwd|secret|auth|api[_-]?key)`
/** The schemes of an Authorization header. */
const AUTH_SCHEME = String.raw`(?:Bearer|Zoho-oauthtoken|Basic)`

/**
 * Token-shaped text. Each pattern's first group is kept (a name and its separator); the value
 * after it becomes {@link REDACTED}, quotes around it kept.
 */
const PATTERNS: readonly RegExp[] = [
  // `Bearer x`, `Zoho-oauthtoken "x"`, `Basic x` (also `Bearer%20x` and `Bearer+x` in a URL).
  new RegExp(String.raw`(\b${AUTH_SCHEME}(?:\s+|%20|\+))${VALUE}`, 'gi'),
  // `Authorization: x` without a scheme.
  new RegExp(
    String.raw`(\bauthorization${QUOTE}?${SEPARATOR})(?!${QUOTE}?${AUTH_SCHEME}(?:\s|%20|\+))${VALUE}`,
    'gi',
  ),
  // `client_secret=x`, `"refreshToken": "x"`, `password%3Dx`, `'accessToken' => 'x'`...
  new RegExp(String.raw`((?<![A-Za-z])${SECRET_NAME}${QUOTE}?${SEPARATOR})${VALUE}`, 'gi'),
  // Form and query fields: `code=x`, `token=x` (not JSON's `"code":"TOKEN_STORE"`).
  new RegExp(String.raw`((?<![A-Za-z_])(?:code|token)(?:=|%(?:25)*3[Dd]))${VALUE}`, 'gi'),
]

/**
 * Token patterns of the providers in use: Zoho's from the start, and each {@link Environment}
 * adds its provider's, so that a provider defined in a file of its own is redacted like the
 * built-in one. Only ever grows, and only adds redaction.
 */
const providerPatterns = new Map<string, RegExp>()

/** Redacts text matching these patterns (global RegExps matching a whole token) from now on. */
export function redactTokenPatterns(patterns: readonly RegExp[]): void {
  for (const p of patterns)
    providerPatterns.set(String(p), new RegExp(`()(?:${p.source})`, p.flags))
}

// Zoho's `1000.<hex>.<hex>` tokens and codes, wherever they are, from the start: the default
// provider's tokens are redacted before any environment exists.
redactTokenPatterns(zoho.tokenPatterns)

/** The quote a value starts with, when it is quoted (no letters in it, so no case to fold). */
const OPENING = new RegExp(`^${QUOTE}`)

/** A value replaced by the marker, its quotes kept: `"x"` becomes `"[redacted]"`. */
function redactValue(value: string): string {
  const quote = OPENING.exec(value)?.[0]
  if (quote === undefined) return REDACTED
  // Quotes are `"`, `'`, backslashes and `%(25)*2[27]`: no letters, so no case to fold.
  const closed = value.length >= 2 * quote.length && value.endsWith(quote)
  return `${quote}${REDACTED}${closed ? quote : ''}`
}

/** Whether a query or form parameter of this name (decoded) carries a credential. */
const CREDENTIAL_PARAMETER = /pass|pwd|secret|^auth|api_?key|credential|token$|^code$/i

/**
 * Masks the credentials in the URLs and parameters of a text: the password of `user:password@`
 * (`redis://:password@` too), and the value of every parameter whose name says it is one
 * (`?password=`, `&pass=`, `?auth=`, `sslpassword=`, `%70assword=`...). Everything else is kept.
 *
 * @example
 * maskCredentials('mysql://root:pw@db:3306/x?ssl=on&password=pw') // 'mysql://root:[redacted]@db:3306/x?ssl=on&password=[redacted]'
 */
export function maskCredentials(text: string): string {
  return (
    text
      // The authority ends at the first `/`, `?` or space; its last `@` ends the user info.
      .replace(
        /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)([^\s/?'"<>@]*(?:@[^\s/?'"<>@]*)*)@/gi,
        (match, scheme: string, userinfo: string) => {
          const colon = userinfo.indexOf(':')
          return colon === -1 ? match : `${scheme}${userinfo.slice(0, colon)}:${REDACTED}@`
        },
      )
      .replace(
        // A name may hold `%` escapes, well-formed or not (a malformed one is judged as written).
        /(^|[?&;\s])([A-Za-z0-9_.~%-]+)=("[^"]*"?|'[^']*'?|[^&\s'"]*)/g,
        (match, lead: string, name: string) => {
          let decoded = name
          try {
            decoded = decodeURIComponent(name)
          } catch {
            // A malformed escape: judge the name as written.
          }
          return CREDENTIAL_PARAMETER.test(decoded) ? `${lead}${name}=${REDACTED}` : match
        },
      )
  )
}

/**
 * Removes secrets from a text: every value in `secrets`, the credentials of URLs
 * ({@link maskCredentials}), and anything shaped like a token: Zoho's `1000.…` tokens, what
 * follows `Bearer`, `Zoho-oauthtoken`, `Basic` and `Authorization`, and the value of every field
 * named like a secret (`client_secret`, `clientSecret`, `refresh_token`, `accessToken`,
 * `grant_token`, `password`, `code=`, `token=`...) whether it is written as a form field, JSON,
 * quoted or percent-encoded. Only the fixed marker `[redacted]` is left in their place. The
 * second line of defence: nothing should put a secret in a message in the first place.
 *
 * @example
 * scrub('{"refreshToken":"1000.abc"} Bearer "xyz"') // '{"refreshToken":"[redacted]"} Bearer "[redacted]"'
 */
export function scrub(text: string, secrets: Iterable<string> = []): string {
  let out = text
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED)
  }
  out = maskCredentials(out)
  // Providers' token shapes first: a token is redacted wherever it is, named or not.
  for (const patterns of [providerPatterns.values(), PATTERNS]) {
    for (const pattern of patterns) {
      out = out.replace(
        pattern,
        (match, prefix: string) => prefix + redactValue(match.slice(prefix.length)),
      )
    }
  }
  return out
}

// Driver messages quote values in known places. The patterns below find those places; a value
// is whatever sits between the quote and the text the driver writes after it.
const DRIVER_VALUES: readonly RegExp[] = [
  // MySQL: Incorrect string value: '\xCE\xA9-SEC...' for column `db`.`t`.`c` at row 1
  /(\bvalue: ')([\s\S]*?)(?=' for column\b)/gi,
  // MySQL: Duplicate entry '…' for key '…'
  /(\bentry ')([\s\S]*?)(?=' for key\b)/gi,
  // MySQL: ... near '…' at line 1
  /(\bnear ')([\s\S]*?)(?=' at line \d)/gi,
  // MySQL: Truncated incorrect … value: '…' / Invalid … character string: '…'
  /(\b(?:value|string): ')([\s\S]*)(?='$)/gi,
  // MySQL: Variable '…' can't be set to the value of '…'
  /(\bthe value of ')([\s\S]*)(?='$)/gi,
  // PostgreSQL: Key (user_name)=(…) already exists / is not present / conflicts
  /(\)=\()([\s\S]*?)(?=\) (?:already exists|is not present|conflicts|is still referenced))/gi,
  // PostgreSQL: Failing row contains (…).
  /(Failing row contains \()([\s\S]*)(?=\))/gi,
  // PostgreSQL: invalid input syntax for type integer: "…" / value "…" is out of range
  /(: ")([\s\S]*)(?="$)/g,
  /(\bvalue ")([\s\S]*?)(?=" is out of range)/gi,
  // PostgreSQL: CONTEXT: unnamed portal parameter $1 = '…'
  /(\bparameter \$\d+ = ')([\s\S]*?)(?='(?:,|$))/gi,
  // Redis: unknown command 'x', with args beginning with: 'a' 'b'
  /(\bwith args beginning with: ?)([\s\S]*)/gi,
  // Bytes of a value: PostgreSQL's `0xce 0xa9`, MySQL's `\xCE\xA9` outside quotes.
  /()((?:\b0x[0-9a-f]{2}\b ?)+|(?:\\x[0-9a-f]{2})+)/gi,
]

/** Words after which a quoted name is an identifier (a column, a key, a table), not a value. */
const IDENTIFIER_BEFORE =
  /\b(?:column|columns|key|constraint|relation|table|database|schema|index|encoding|type|role|user|function|field|variable|command|subcommand|savepoint|extension|sequence|view|trigger|operator|collation)\s*$/i

/**
 * Removes the values a database driver's message quotes (MySQL's `Incorrect string value`,
 * `Duplicate entry`, PostgreSQL's `DETAIL: Key (…)=(…)` and `Failing row contains (…)`, bytes such
 * as `0x00`, Redis's echoed arguments, any other quoted literal that is not a name) and then
 * token-shaped text ({@link scrub}). Column, key and table names and the kind of problem stay.
 * Each value removed is added to `removed`, so that a message built from the raw text can be
 * cleaned of them too.
 *
 * @example
 * scrubDriverText("Duplicate entry 'ada' for key 'user_name'") // "Duplicate entry '[redacted]' for key 'user_name'"
 */
export function scrubDriverText(text: string, removed?: Set<string>): string {
  let out = text
  const take = (value: string): string => {
    if (value !== REDACTED && value.length > 0) removed?.add(value)
    return value.length > 0 ? REDACTED : value
  }
  for (const pattern of DRIVER_VALUES) {
    out = out.replace(pattern, (_match, before: string, value: string) => `${before}${take(value)}`)
  }
  // Any other quoted literal is a value unless a word naming an identifier precedes it. A quote
  // between two letters is an apostrophe (can't), not the start of a literal.
  out = out.replace(
    /(?<![A-Za-z])(['"])((?:(?!\1)[^\n])*)\1/g,
    (match, quote: string, value: string, at: number, whole: string) => {
      // The marker and an empty literal come out as they are: take() leaves them.
      if (IDENTIFIER_BEFORE.test(whole.slice(Math.max(0, at - 40), at))) return match
      return `${quote}${take(value)}${quote}`
    },
  )
  return scrub(out)
}

/**
 * Makes a text safe for one line of a terminal or a log: control characters (C0, DEL, C1), the
 * line and paragraph separators U+2028/U+2029 and the bidirectional overrides and isolates are
 * written as escapes (`\n`, `\r`, `\t`, `\x1b`, `\u202e`), so that a stored value cannot start a
 * new line, forge a row or recolour the terminal.
 *
 * @example
 * escapeControl('ada\n1 | forged \x1b[31m') // 'ada\\n1 | forged \\x1b[31m'
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, (char) => {
    const named = NAMED_ESCAPES[char]
    if (named !== undefined) return named
    const code = char.charCodeAt(0)
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** What {@link escapeControl} escapes. */
export const CONTROL =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** Structured details of an event: ids and user names, never secrets. */
export type LogFields = Record<string, string | number | boolean | undefined>

/**
 * What sessions log through: formats events with their fields, scrubs every line of the secrets
 * it has been told about and of token-shaped text, and never lets a logger's failure escape.
 */
export class SafeLog {
  readonly #logger: Logger | undefined
  readonly #secrets = new Set<string>()

  constructor(logger: Logger | undefined) {
    if (logger !== undefined) {
      for (const level of LEVELS) {
        if (typeof (logger as unknown as Record<string, unknown>)[level] !== 'function') {
          throw new InvalidArgumentError(
            'logger',
            `logger must have debug, info, warn and error methods`,
          )
        }
      }
    }
    this.#logger = logger
  }

  /** Values to remove from every line from now on. */
  forget(...values: (string | undefined)[]): void {
    for (const value of values) if (value) this.#secrets.add(value)
  }

  debug(event: string, fields?: LogFields): void {
    this.#write('debug', event, fields)
  }
  info(event: string, fields?: LogFields): void {
    this.#write('info', event, fields)
  }
  warn(event: string, fields?: LogFields): void {
    this.#write('warn', event, fields)
  }
  error(event: string, fields?: LogFields): void {
    this.#write('error', event, fields)
  }

  #write(level: Level, event: string, fields: LogFields | undefined): void {
    if (!this.#logger) return
    const shown = fields
      ? Object.entries(fields)
          .filter(([, value]) => value !== undefined)
          .map(
            ([key, value]) =>
              `${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
          )
          .join(' ')
      : ''
    const line = scrub(shown ? `${event} ${shown}` : event, this.#secrets)
    try {
      this.#logger[level](line)
    } catch {
      // A broken logger must not break token handling.
    }
  }
}

/** The fields a log line or event names a token by: never a secret. */
export function who(token: {
  readonly id?: string | undefined
  readonly userSignature?: { readonly name?: string | undefined } | undefined
}): { id: string | undefined; user: string | undefined } {
  return { id: token.id, user: token.userSignature?.name }
}
