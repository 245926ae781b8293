// What the commands of the CLI share: exit codes and errors, opening the store, the accounts
// environment options, and formatting (masking, countdowns, tables).
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError as CommanderArgumentError, Option, type Command } from 'commander'
import { InvalidArgumentError, SDKException } from '../errors.js'
import { DataCenter, Environment } from '../oauth/environments.js'
import { environmentOf } from '../providers/token-environment.js'
import type { TokenStore } from '../store.js'
import { createStore, localStorePath } from '../stores/create.js'
import { withEncryption } from '../stores/encrypted.js'
import { EncryptionError } from '../sealed.js'
import { CONTROL, escapeControl, maskCredentials, scrub } from '../log.js'
import type { OAuthToken } from '../token.js'
import { REDACTED, needsRefresh } from '../token.js'

/** The documented exit codes. */
export const EXIT = { ok: 0, error: 1, usage: 2, notFound: 3, attention: 4 } as const

/** An error the CLI reports in one line, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/** A usage error: exit code 2. */
export const usage = (message: string): CliError => new CliError(message, EXIT.usage)

/** A token that is not in the store: exit code 3. */
export const notFound = (id: string): CliError =>
  new CliError(
    `no token with id '${id}' in the store; tokenkeeper list shows the ids it holds`,
    EXIT.notFound,
  )

/** The options every command has (declared on the program). */
export interface GlobalOptions {
  store?: string
  key?: string[]
  activeKey?: string
  verbose?: boolean
}

/** Commander's collector for a repeatable option. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** The options of the command and of the program, together. */
export function globals<T extends object>(command: Command): T & GlobalOptions {
  return command.optsWithGlobals<T & GlobalOptions>()
}

/** The encryption options from `--key`/`--active-key` or the environment; undefined without keys. */
export function encryptionFrom(
  options: GlobalOptions,
): { keys: Record<string, string>; activeKeyId: string } | undefined {
  const env = process.env
  const given =
    options.key && options.key.length > 0
      ? options.key
      : (env.TOKENKEEPER_KEYS ?? '')
          .split(',')
          .map((part) => part.trim())
          .filter((part) => part.length > 0)
  if (given.length === 0) {
    if (options.activeKey !== undefined)
      throw usage('--active-key needs at least one --key id=base64 (or TOKENKEEPER_KEYS)')
    return undefined
  }
  const keys: Record<string, string> = {}
  for (const entry of given) {
    const at = entry.indexOf('=')
    if (at <= 0) throw usage('a key is given as id=base64 (for example --key k1=<base64>)')
    const id = entry.slice(0, at)
    const value = entry.slice(at + 1)
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw usage('a key id is 1 to 32 letters, digits, _ or -')
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) || Buffer.from(value, 'base64').length !== 32) {
      throw usage(`key '${id}' must be 32 bytes in base64 (a new one: openssl rand -base64 32)`)
    }
    keys[id] = value
  }
  const ids = Object.keys(keys)
  const activeKeyId =
    options.activeKey ?? env.TOKENKEEPER_ACTIVE_KEY ?? (ids.length === 1 ? ids[0] : undefined)
  if (activeKeyId === undefined) {
    throw usage('with several keys, name the one to write with: --active-key <id>')
  }
  if (!Object.hasOwn(keys, activeKeyId)) {
    throw usage(
      `the active key '${activeKeyId}' is not among the keys given: add --key ${activeKeyId}=<base64>`,
    )
  }
  return { keys, activeKeyId }
}

/** The store URL without its password or any other credential, for messages. */
export function safeUrl(url: string): string {
  return maskCredentials(url)
}

/** The store URL of `--store` or `TOKENKEEPER_STORE`. */
export function storeUrl(options: GlobalOptions): string {
  const url = options.store ?? process.env.TOKENKEEPER_STORE
  if (url === undefined || url.length === 0) {
    throw usage(
      'no store: pass --store URL (such as file:./sdk_tokens.txt) or set TOKENKEEPER_STORE',
    )
  }
  return url
}

/** How {@link openStore} opens a store. */
export interface OpenOptions {
  /**
   * The command only reads: a `file:` or `sqlite:` store that does not exist is exit code 3,
   * and nothing is created (opening a SQLite database, or a later write, would create it).
   */
  readonly readOnly?: boolean
  /** The option that gave the URL, for messages (`--store` by default). */
  readonly option?: string
  /** The store as it is, without the keys (doctor reads the rows as stored). */
  readonly plain?: boolean
}

/** `1 token`, `2 tokens`: a count and its noun, singular for one. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

/** Opens the store of a URL, encrypted when keys are given. */
export async function openStore(
  url: string,
  options: GlobalOptions,
  open: OpenOptions = {},
): Promise<TokenStore> {
  const option = open.option ?? '--store'
  const encryption = encryptionFrom(options)
  let store: TokenStore
  try {
    const path = localStorePath(url)
    if (open.readOnly && path !== undefined && !existsSync(path)) {
      const kind = url.slice(0, url.indexOf(':')).toLowerCase()
      throw new CliError(
        `no token store at ${resolve(path)} (${option} ${url}); check the path, or create it ` +
          `by saving a token into it (a session's first sign-in, or tokenkeeper migrate --to ${kind}:${path})`,
        EXIT.notFound,
      )
    }
    store = await createStore(url)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw usage(`${option}: ${err.message}`)
    throw err
  }
  return encryption && !open.plain ? withEncryption(store, encryption) : store
}

/**
 * An error of an encrypted store said for the CLI: without keys, which options give them (the
 * library's message speaks of `{ encryption }`); with keys, how to find out which is wrong.
 */
export function explainEncryption(err: unknown, options: GlobalOptions): unknown {
  if (!(err instanceof SDKException) || err.code !== EncryptionError.code) return err
  if (encryptionFrom(options) === undefined) {
    const which = /^token (\S+) is encrypted/.exec(err.message)?.[1]
    return new CliError(
      `the store is encrypted${which ? ` (token ${which} is sealed)` : ''} and no keys were ` +
        'given: pass them with --key id=base64 (repeatable) or TOKENKEEPER_KEYS; ' +
        'tokenkeeper doctor shows the key ids the rows use',
    )
  }
  return new CliError(
    `${err.message}; check the --key values (or TOKENKEEPER_KEYS): tokenkeeper doctor shows ` +
      'the key ids the rows use and whether each opens',
  )
}

/** Runs `work` with the store of the options, and closes it afterwards. */
export async function withStore<T>(
  options: GlobalOptions,
  work: (store: TokenStore) => Promise<T>,
  url = storeUrl(options),
  open: OpenOptions = {},
): Promise<T> {
  const store = await openStore(url, options, open)
  try {
    return await work(store)
  } catch (err) {
    throw explainEncryption(err, options)
  } finally {
    await store.close?.()
  }
}

/** The token of an id, or exit code 3. */
export async function tokenById(store: TokenStore, id: string): Promise<OAuthToken> {
  let token: OAuthToken | null
  try {
    token = await store.findTokenById(id)
  } catch (err) {
    if (err instanceof SDKException && err.code === InvalidArgumentError.code) throw notFound(id)
    throw err
  }
  if (!token) throw notFound(id)
  return token
}

// ---------------------------------------------------------------------------------------------
// The accounts server
// ---------------------------------------------------------------------------------------------

/** The options that choose the accounts server. */
export interface EnvironmentOptions {
  dc?: string
  env?: string
  accountsUrl?: string
}

const DATA_CENTERS = Object.keys(DataCenter) as (keyof typeof DataCenter)[]
const KINDS = { production: 'PRODUCTION', sandbox: 'SANDBOX', developer: 'DEVELOPER' } as const

/** Adds `--dc`, `--env` and `--accounts-url` to a command. */
export function environmentOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--dc <code>', `Zoho data center: ${DATA_CENTERS.join(', ')}`).argParser(
        (value: string) => {
          const upper = value.toUpperCase()
          if (!(DATA_CENTERS as string[]).includes(upper)) {
            throw new CommanderArgumentError(`Allowed choices are ${DATA_CENTERS.join(', ')}.`)
          }
          return upper
        },
      ),
    )
    .addOption(
      new Option('--env <kind>', 'environment of the data center')
        .choices(Object.keys(KINDS))
        .default('production'),
    )
    .option(
      '--accounts-url <url>',
      'a custom accounts server (such as the emulator) instead of --dc',
    )
}

/** The environment the options name; with `required`, a usage error when none. */
export function environmentFrom(options: EnvironmentOptions, required: true): Environment
export function environmentFrom(
  options: EnvironmentOptions,
  required: false,
): Environment | undefined
export function environmentFrom(
  options: EnvironmentOptions,
  required: boolean,
): Environment | undefined {
  if (options.dc !== undefined && options.accountsUrl !== undefined) {
    throw usage('give either --dc or --accounts-url, not both')
  }
  if (options.accountsUrl !== undefined) {
    try {
      return new Environment({
        name: 'custom',
        apiDomain: options.accountsUrl,
        accountsUrl: options.accountsUrl,
      })
    } catch (err) {
      throw usage(`--accounts-url: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  if (options.dc !== undefined) {
    const kind = KINDS[(options.env ?? 'production') as keyof typeof KINDS]
    return DataCenter[options.dc as keyof typeof DataCenter][kind]
  }
  if (required) {
    throw usage(
      'name the accounts server: --dc US|EU|IN|CN|JP|AU|CA|SA [--env ...] or --accounts-url URL',
    )
  }
  return undefined
}

/**
 * The environment a stored token is refreshed or revoked in: `--accounts-url`'s as given; the
 * data center `--dc` names, which must be the token's own (a usage error otherwise, before
 * anything is sent); or without either, the Zoho data center its API domain names.
 */
export function tokenEnvironment(token: OAuthToken, options: EnvironmentOptions): Environment {
  const given = environmentFrom(options, false)
  // A custom accounts server (a proxy, the emulator) is the user's explicit word: taken as given.
  if (options.accountsUrl !== undefined && given) return given
  try {
    return environmentOf(token, given)
  } catch (err) {
    if (err instanceof SDKException && err.code === 'ENVIRONMENT_MISMATCH') {
      throw usage(`${err.message} (drop --dc/--accounts-url, or name the token's own)`)
    }
    if (err instanceof SDKException && err.code === 'ENVIRONMENT_UNKNOWN') {
      throw usage(err.message.replace('the environment option', '--dc or --accounts-url'))
    }
    throw err
  }
}

/**
 * Whether two environments send to the same accounts server: Zoho's are one object each, and
 * `--accounts-url` makes a new one for every token.
 */
export function sameServer(a: Environment, b: Environment): boolean {
  return a === b || (a.accountsUrl === b.accountsUrl && a.apiDomain === b.apiDomain)
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

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

/** Parses a duration such as `30d`, `12h`, `90m`, `45s`, `1w` into milliseconds. */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/.exec(value.trim())
  if (!match) throw usage(`${option} takes a duration such as 30d, 12h, 90m (got '${value}')`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    match[2] as 'ms' | 's' | 'm' | 'h' | 'd' | 'w'
  ]
  return Number(match[1]) * unit
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

/**
 * Writes one line of an error to stderr: {@link printable}, and scrubbed of anything shaped like
 * a token (a second line of defence: messages should hold none).
 */
export function complain(text: string): void {
  process.stderr.write(`${printable(scrub(text))}\n`)
}

/** A help text's closing example section. */
export function examples(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`
}
