#!/usr/bin/env node
// The tokenkeeper command-line tool: one file per command in src/cli/commands/.
import { Command, CommanderError } from 'commander'
import { registerDelete } from './commands/delete.js'
import { registerDoctor } from './commands/doctor.js'
import { registerEmulator } from './commands/emulator.js'
import { registerKeep } from './commands/keep.js'
import { registerStatus } from './commands/status.js'
import { registerList } from './commands/list.js'
import { registerMigrate } from './commands/migrate.js'
import { registerPurge } from './commands/purge.js'
import { registerRefresh } from './commands/refresh.js'
import { registerRekey } from './commands/rekey.js'
import { registerRevoke } from './commands/revoke.js'
import { registerShow } from './commands/show.js'
import { CliError, EXIT, collect, complain } from './shared.js'
import { printable } from './output.js'

const MAIN_HELP = `
Stores are URLs: file:./sdk_tokens.txt (or file:///abs/path), sqlite:./zohooauth.db
(or sqlite:///abs/path, sqlite::memory:), memory:, list:,
mysql://root@127.0.0.1:3306/zohooauth (or mariadb://), postgres://... (or postgresql://),
redis://... (or rediss://); ?table= (SQL) or ?prefix= (Redis). See docs/cli.md.
list, show and doctor never create a store: a file: or sqlite: path that does not exist is
exit code 3.

Environment:
  TOKENKEEPER_STORE       the store URL when --store is not given
  TOKENKEEPER_KEYS        encryption keys, id=base64,id=base64 (instead of --key)
  TOKENKEEPER_ACTIVE_KEY  the key new values are written with (instead of --active-key)

Secrets (client secret, grant, refresh and access tokens) are never printed,
except by 'show --reveal'.

Exit codes:
  0  success
  1  error (the store, the accounts server, a failed check)
  2  usage error (unknown command or option, bad or missing argument)
  3  not found (no token with that id, or no store at that path)

Examples:
  $ tokenkeeper list --store sqlite:./zohooauth.db
  $ tokenkeeper show aB3dE5gH7j --store file:./sdk_tokens.txt
  $ tokenkeeper purge --idle 30d --grant-only
  $ tokenkeeper migrate --from file:./sdk_tokens.txt --to sqlite:./zohooauth.db
`

/** The program with every command. */
export function buildProgram(): Command {
  const program = new Command('tokenkeeper')
    .description('See and manage the OAuth tokens kept by tokenkeeper stores')
    .version('0.1.0')
    .option('--store <url>', 'the token store (default: $TOKENKEEPER_STORE)')
    .option('--key <id=base64>', 'an encryption key, 32 bytes in base64 (repeatable)', collect)
    .option('--active-key <id>', 'the key new values are written with')
    .option('--verbose', 'show the stack of an error')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander quotes what was typed (a URL, a value): masked and escaped like all output.
      outputError: (text, write) =>
        write(
          `tokenkeeper: ${text
            .replace(/^error: /, '')
            .trimEnd()
            .split('\n')
            .map(printable)
            .join('\n')}\n`,
        ),
    })
    .addHelpText('after', MAIN_HELP)
  // Registered after exitOverride and configureOutput, so that the commands inherit both.
  for (const register of [
    registerList,
    registerShow,
    registerDelete,
    registerPurge,
    registerRefresh,
    registerKeep,
    registerStatus,
    registerRevoke,
    registerMigrate,
    registerRekey,
    registerDoctor,
    registerEmulator,
  ]) {
    register(program)
  }
  return program
}

/** Reports an error in one line (with its stack under --verbose) and gives the exit code. */
function report(err: unknown, verbose: boolean): number {
  if (err instanceof CommanderError) {
    // Commander printed its message already; help and version end in 0.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
  const exitCode = err instanceof CliError ? err.exitCode : EXIT.error
  const text = err instanceof Error ? err.message : String(err)
  complain(`tokenkeeper: ${text.replace(/\s*\n\s*/g, ' ')}`)
  if (verbose && err instanceof Error) {
    let current: unknown = err
    let prefix = ''
    for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
      for (const line of `${prefix}${current.stack ?? current.message}`.split('\n')) complain(line)
      prefix = 'caused by: '
      current = current.cause
    }
  }
  return exitCode
}

// Output piped into a reader that stopped early (`| head`): end quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok)
    throw err
  })
}

const program = buildProgram()
try {
  await program.parseAsync(process.argv)
} catch (err) {
  const verbose = program.opts<{ verbose?: boolean }>().verbose === true
  process.exitCode = report(err, verbose || process.argv.includes('--verbose'))
}
