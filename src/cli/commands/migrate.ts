import type { Command } from 'commander'
import { IdCollisionError } from '../../errors.js'
import { migrateTokens } from '../../migration.js'
import type { TokenStore } from '../../store.js'
import { CliError, examples, globals, usage } from '../shared.js'
import { explainEncryption, openStore, safeUrl, storeUrl } from '../store-access.js'
import { passProgress, plural, say } from '../output.js'

interface MigrateOptions {
  from?: string
  to: string
  quiet?: boolean
  progressEvery: string
  batch: string
}

function positive(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw usage(`${option} must be a whole number >= 1`)
  return Number(value)
}

/** Progress lines on stderr without a terminal: a line every `every` tokens, and at the end. */
class Progress {
  #lastLine = 0

  constructor(
    readonly verb: string,
    readonly total: number,
    readonly every: number,
  ) {}

  update(done: number): void {
    if (this.total === 0) return
    if (
      Math.floor(done / this.every) > Math.floor(this.#lastLine / this.every) ||
      done >= this.total
    ) {
      if (done !== this.#lastLine) {
        process.stderr.write(`migrate: ${this.verb} ${done}/${this.total}\n`)
      }
      this.#lastLine = done
    }
  }
}

/**
 * The copy pass on a terminal: one line on stderr with both counters (the copy pass saves the
 * new tokens of a chunk, then checks the chunk under the leases, so the two move together),
 * drawn again at most every 100 ms, and ended before anything else is printed.
 */
class StatusLine {
  readonly #parts = { copied: '', checked: '' }
  #lastDraw = 0
  #width = 0

  update(part: 'copied' | 'checked', done: number, total: number): void {
    this.#parts[part] = `${done}/${total}`
    const now = Date.now()
    if (done < total && now - this.#lastDraw < 100) return
    this.#lastDraw = now
    const { copied, checked } = this.#parts
    const shown = [copied && `copied ${copied}`, checked && `checked under lease ${checked}`]
    const text = `migrate: ${shown.filter(Boolean).join(', ')}`
    process.stderr.write(`\r${text.padEnd(this.#width)}`)
    this.#width = text.length
  }

  end(): void {
    if (this.#width > 0) process.stderr.write('\n')
    this.#width = 0
  }
}

/**
 * Where the migration stands, on stderr: a line every n tokens of the passes that only read
 * (the comparison before anything is written, the verification); during the copy pass, a
 * status line on a terminal, else a line every n tokens copied and every n checked.
 */
function progressOf(options: MigrateOptions): {
  onStart: (tokens: number, identical: number) => void
  onCopied: (done: number, total: number) => void
  onChecked: (done: number, total: number) => void
  onPass: (pass: 'compared' | 'verified', done: number) => void
  end: () => void
} {
  const every = positive(options.progressEvery, '--progress-every')
  const quiet = options.quiet === true
  const status = process.stderr.isTTY === true ? new StatusLine() : undefined
  let copied: Progress | undefined
  let checked: Progress | undefined
  const passes = {
    compared: passProgress((n) => `migrate: ${plural(n, 'token')} compared with the target`, every),
    verified: passProgress((n) => `migrate: ${plural(n, 'token')} verified`, every),
  }
  return {
    onPass: (pass, done) => {
      if (quiet) return
      status?.end()
      passes[pass](done)
    },
    onStart: (tokens, identical) => {
      if (!quiet) {
        say(`migrate: ${plural(tokens, 'token')} in the source, ${identical} already in the target`)
      }
    },
    onCopied: (done, total) => {
      if (quiet) return
      if (status) return status.update('copied', done, total)
      copied ??= new Progress('copied', total, every)
      copied.update(done)
    },
    onChecked: (done, total) => {
      if (quiet) return
      if (status) return status.update('checked', done, total)
      checked ??= new Progress('checked under lease', total, every)
      checked.update(done)
    },
    end: () => status?.end(),
  }
}

/**
 * The first failure that is a user-name conflict (the target holds the token's user under
 * another id: a store keeps one row per user), which running migrate again cannot resolve.
 */
function userConflict(
  failed: readonly { id: string; reason: string }[],
): { id: string; owner: string } | undefined {
  for (const { id, reason } of failed) {
    const owner = /user name of this token is already stored under id (\S+?);/.exec(reason)?.[1]
    if (owner !== undefined) return { id, owner }
  }
  return undefined
}

/** `tokenkeeper migrate --from URL --to URL`: copies every token, resumable and verified. */
export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'copy every token (with its id) from one store to another; resumable, verified, the source is never written',
    )
    .option('--from <url>', 'the source store (default: --store or TOKENKEEPER_STORE)')
    .requiredOption('--to <url>', 'the target store')
    .option('--quiet', 'no progress and no summary unless something failed')
    .option(
      '--progress-every <n>',
      'a progress line every n tokens (the bars on a terminal aside)',
      '1000',
    )
    .option(
      '--batch <n>',
      'tokens handled at a time (read, looked up, the new ones saved concurrently)',
      '500',
    )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper migrate --from file:./sdk_tokens.txt --to sqlite:./zohooauth.db',
        'tokenkeeper migrate --from sqlite:./zohooauth.db --to mysql://root@127.0.0.1:3306/zohooauth',
      ) + '\nThe --key/--active-key options (or TOKENKEEPER_KEYS) apply to both stores.\n',
    )
    .action(async (_options: MigrateOptions, command: Command) => {
      const options = globals<MigrateOptions>(command)
      const from = options.from ?? storeUrl(options)
      if (from === options.to)
        throw usage('--from and --to name the same store: give --to another store')
      // The source is only read: a mistyped path is not created (exit 3).
      const fromOption = options.from === undefined ? '--store' : '--from'
      const source = await openStore(from, options, { readOnly: true, option: fromOption })
      let target: TokenStore | undefined
      try {
        target = await openStore(options.to, options, { option: '--to' })
        const started = Date.now()
        const batch = positive(options.batch, '--batch')
        const { end, ...progress } = progressOf(options)
        const result = await migrateTokens(source, target, { batch, ...progress })
          .catch((err: unknown) => {
            if (err instanceof IdCollisionError) throw new CliError(`migrate: ${err.message}`)
            throw explainEncryption(err, options)
          })
          .finally(end)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        const ok =
          result.failed.length === 0 && result.missing.length === 0 && result.different.length === 0
        if (!options.quiet || !ok) {
          say(
            `migrated ${safeUrl(from)} -> ${safeUrl(options.to)} in ${seconds}s: ` +
              `${result.copied} copied, ${result.skipped} skipped (identical), ${result.failed.length} failed`,
          )
          if (result.changed.length > 0) {
            say(
              `  ${result.changed.length} changed in the source while migrating (refreshed): copied in their newest form`,
            )
          }
          if (result.gone.length > 0) {
            say(
              `  ${result.gone.length} deleted from the source while migrating: not copied (${result.gone.slice(0, 5).join(', ')})`,
            )
          }
          say(
            `verify: source ${plural(result.tokens, 'token')}, target ${plural(result.target, 'token')}; ` +
              `${result.missing.length} missing, ${result.different.length} different` +
              (ok ? ' - ok' : ''),
          )
          for (const failure of result.failed.slice(0, 20)) {
            say(`  failed ${failure.id}: ${failure.reason}`)
          }
        }
        if (!ok) {
          const counts = `${result.failed.length} failed, ${result.missing.length} missing, ${result.different.length} different in the target`
          const conflict = userConflict(result.failed)
          throw new CliError(
            conflict === undefined
              ? `migration incomplete: ${counts}; run it again to resume`
              : `migration incomplete: ${counts}. Token ${conflict.id} cannot be copied: its ` +
                  `user name is already in the target under id ${conflict.owner}, and running ` +
                  'migrate again will not change that. Keep one of the two: if the source holds ' +
                  `that user twice, delete the stale row (tokenkeeper delete ${conflict.id} ` +
                  `--store ${safeUrl(from)}); otherwise delete the target's row ` +
                  `(tokenkeeper delete ${conflict.owner} --store ${safeUrl(options.to)}); ` +
                  'then run migrate again',
          )
        }
      } finally {
        await target?.close?.()
        await source.close?.()
      }
    })
}
