import type { Command } from 'commander'
import type { TokenStore } from '../../store.js'
import type { OAuthToken } from '../../token.js'
import { CliError, examples, globals, openStore, safeUrl, say, storeUrl, usage } from '../shared.js'

interface MigrateOptions {
  from?: string
  to: string
  quiet?: boolean
  progressEvery: string
  batch: string
}

/** Every value of a token, for comparing a copy with its original (empty counts as absent). */
function valuesOf(token: OAuthToken): string {
  return JSON.stringify(
    [
      token.id,
      token.userSignature?.name,
      token.clientId,
      token.clientSecret,
      token.refreshToken,
      token.accessToken,
      token.grantToken,
      token.expiryTime,
      token.redirectUrl,
      token.apiDomain,
    ].map((value) => (value === '' || value === undefined ? null : value)),
  )
}

function positive(value: string, option: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw usage(`${option} must be a whole number >= 1`)
  return Number(value)
}

/** Progress on stderr: a bar on a terminal, a plain line every `every` tokens otherwise. */
class Progress {
  readonly #tty = process.stderr.isTTY === true
  #lastLine = 0
  #lastDraw = 0

  constructor(
    readonly total: number,
    readonly every: number,
    readonly quiet: boolean,
  ) {}

  update(done: number): void {
    if (this.quiet || this.total === 0) return
    if (this.#tty) {
      const now = Date.now()
      if (done < this.total && now - this.#lastDraw < 100) return
      this.#lastDraw = now
      const width = 30
      const filled = Math.round((done / this.total) * width)
      const percent = Math.floor((done / this.total) * 100)
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ${percent}%`,
      )
      if (done >= this.total) process.stderr.write('\n')
      return
    }
    if (
      Math.floor(done / this.every) > Math.floor(this.#lastLine / this.every) ||
      done >= this.total
    ) {
      if (done !== this.#lastLine) process.stderr.write(`migrate: copied ${done}/${this.total}\n`)
      this.#lastLine = done
    }
  }
}

async function migrate(source: TokenStore, target: TokenStore, options: MigrateOptions) {
  const every = positive(options.progressEvery, '--progress-every')
  const batch = positive(options.batch, '--batch')
  const tokens = (await source.getTokens()).filter((token) => token.id !== undefined)
  const present = new Map((await target.getTokens()).map((token) => [token.id, valuesOf(token)]))
  const todo = tokens.filter((token) => present.get(token.id) !== valuesOf(token))
  const skipped = tokens.length - todo.length
  if (!options.quiet) {
    say(`migrate: ${tokens.length} tokens in the source, ${skipped} already in the target`)
  }
  const progress = new Progress(todo.length, every, options.quiet === true)
  const failed: { id: string; reason: string }[] = []
  let done = 0
  for (let start = 0; start < todo.length; start += batch) {
    const chunk = todo.slice(start, start + batch)
    // Concurrent saves: a FileStore writes them in one batch, server stores share a pool.
    const results = await Promise.allSettled(chunk.map((token) => target.saveToken(token.clone())))
    results.forEach((result, index) => {
      if (result.status === 'rejected') {
        const reason = result.reason instanceof Error ? result.reason.message : 'unknown error'
        failed.push({ id: chunk[index]!.id!, reason })
      }
    })
    done += chunk.length
    progress.update(done)
  }

  // Verification: every source id in the target, with equal values.
  const after = new Map((await target.getTokens()).map((token) => [token.id, valuesOf(token)]))
  const missing = tokens.filter((token) => !after.has(token.id))
  const different = tokens.filter(
    (token) => after.has(token.id) && after.get(token.id) !== valuesOf(token),
  )
  return { tokens, skipped, copied: todo.length - failed.length, failed, after, missing, different }
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
    .option('--progress-every <n>', 'without a terminal, a progress line every n tokens', '1000')
    .option('--batch <n>', 'tokens saved concurrently', '500')
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
      if (from === options.to) throw usage('--from and --to name the same store')
      const source = await openStore(from, options)
      let target: TokenStore | undefined
      try {
        target = await openStore(options.to, options)
        const started = Date.now()
        const result = await migrate(source, target, options)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        const ok =
          result.failed.length === 0 && result.missing.length === 0 && result.different.length === 0
        if (!options.quiet || !ok) {
          say(
            `migrated ${safeUrl(from)} -> ${safeUrl(options.to)} in ${seconds}s: ` +
              `${result.copied} copied, ${result.skipped} skipped (identical), ${result.failed.length} failed`,
          )
          say(
            `verify: source ${result.tokens.length} tokens, target ${result.after.size} tokens; ` +
              `${result.missing.length} missing, ${result.different.length} different` +
              (ok ? ' - ok' : ''),
          )
          for (const failure of result.failed.slice(0, 20)) {
            say(`  failed ${failure.id}: ${failure.reason}`)
          }
        }
        if (!ok) {
          throw new CliError(
            `migration incomplete: ${result.failed.length} failed, ${result.missing.length} missing, ${result.different.length} different in the target; run it again to resume`,
          )
        }
      } finally {
        await target?.close?.()
        await source.close?.()
      }
    })
}
