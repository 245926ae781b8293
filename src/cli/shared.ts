// What every command of the CLI shares: the exit codes and their error, the global options,
// durations and help examples. Opening the store is in store-access.ts, the accounts
// environment in environment.ts, what is printed in output.ts.
import type { Command } from 'commander'
import { scrub } from '../log.js'
import { printable } from './output.js'

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
