import { appendFileSync, closeSync, openSync } from 'node:fs'
import { InvalidArgumentError } from './errors.js'
import { REDACTED } from './token.js'

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
    const line = `${new Date().toISOString()} ${at.toUpperCase()} ${scrub(message)}\n`
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

/** Token-shaped text: Zoho's `1000.<hex>.<hex>` tokens, and what follows auth headers and fields. */
const PATTERNS: readonly RegExp[] = [
  /\b1000\.[0-9a-f]{16,}\.[0-9a-f]{16,}\b/gi,
  /((?:Zoho-oauthtoken|Bearer)\s+)[^\s"',]+/gi,
  /((?:client_secret|refresh_token|access_token|grant_token)["']?\s*[=:]\s*["']?)[^\s"'&,}]+/gi,
  /([?&]code=)[^&\s"']+/gi,
]

/**
 * Removes secrets from a text: every value in `secrets`, and anything shaped like a token. The
 * second line of defence: nothing should put a secret in a message in the first place.
 */
export function scrub(text: string, secrets: Iterable<string> = []): string {
  let out = text
  for (const secret of secrets) {
    if (secret.length >= 4) out = out.split(secret).join(REDACTED)
  }
  for (const pattern of PATTERNS) {
    out = out.replace(pattern, (match, prefix?: string) =>
      typeof prefix === 'string' && match.startsWith(prefix) ? `${prefix}${REDACTED}` : REDACTED,
    )
  }
  return out
}

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
