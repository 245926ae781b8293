import type { Command } from 'commander'
import { TokenKeeper, type KeeperPassSummary } from '../../keeper/keeper.js'
import { createLogger } from '../../log.js'
import { CliError, EXIT, examples, globals, parseDuration, usage } from '../shared.js'
import { environmentFrom, environmentOptions, type EnvironmentOptions } from '../environment.js'
import { say, sayJson } from '../output.js'
import { withStore } from '../store-access.js'

interface KeepOptions extends EnvironmentOptions {
  interval?: string
  ahead?: string
  concurrency?: string
  once?: boolean
  json?: boolean
  usedWithin?: string
  refreshIdleAfter?: string
}

/** One pass as a line: counts that are not zero, and how long it took. */
function passLine(pass: number, s: KeeperPassSummary): string {
  const parts = [
    `${s.due} due`,
    `${s.refreshed} refreshed`,
    ...(s.fresh ? [`${s.fresh} already fresh`] : []),
    ...(s.busy ? [`${s.busy} held by another keeper`] : []),
    ...(s.failed ? [`${s.failed} failed`] : []),
    ...(s.reauthRequired ? [`${s.reauthRequired} need the user to sign in again`] : []),
    ...(s.deferred ? [`${s.deferred} failing, tried again later`] : []),
    ...(s.limited ? [`${s.limited} over the provider's budget, tried again later`] : []),
    ...(s.skipped ? [`${s.skipped} left for later (stopping)`] : []),
    ...(s.idle ? [`${s.idle} not in use, left to their next use`] : []),
    ...(s.keptAlive ? [`${s.keptAlive} refreshed to keep them alive`] : []),
  ]
  return `keep: pass ${pass}: ${parts.join(', ')} (${s.durationMs} ms)`
}

function count(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw usage(`${option} must be a whole number from 1 to 1000`)
  }
  return n
}

/**
 * `tokenkeeper keep`: the keeper in the foreground. A pass at once and then one every
 * `--interval`, each reported on stdout (a JSON object per line with `--json`); warnings on
 * stderr. SIGTERM or SIGINT stop it cleanly: no new refresh starts, those in flight are saved.
 */
export function registerKeep(program: Command): void {
  environmentOptions(
    program
      .command('keep')
      .description('keep every stored token fresh: refresh each before it expires, until stopped')
      .option('--interval <duration>', 'time between passes (30s, 5m)', '60s')
      .option('--ahead <duration>', 'refresh when less than this is left of a token', '5m')
      .option('--concurrency <n>', 'refreshes at once', '4')
      .option(
        '--used-within <duration>',
        'keep only tokens a session used within this time (7d); the others refresh on their next use',
      )
      .option(
        '--refresh-idle-after <duration>',
        'with --used-within: refresh a token not in use once it has been expired this long (30d)',
      )
      .option('--once', 'one pass, then exit (exit code 4 when a token failed)')
      .option('--json', 'one JSON object per pass'),
  )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper keep --store sqlite:./zohooauth.db',
        'tokenkeeper keep --once --json --store postgres://app@db/tokens',
        'tokenkeeper keep --accounts-url http://127.0.0.1:4000 --interval 10s --ahead 1m',
      ),
    )
    .action(async (_options: KeepOptions, command: Command) => {
      const options = globals<KeepOptions>(command)
      const intervalMs = parseDuration(options.interval ?? '60s', '--interval')
      const refreshAheadMs = parseDuration(options.ahead ?? '5m', '--ahead')
      if (intervalMs < 1000) throw usage('--interval must be at least 1s')
      const concurrency = count(options.concurrency, '--concurrency', 4)
      const usedWithinMs =
        options.usedWithin === undefined
          ? undefined
          : parseDuration(options.usedWithin, '--used-within')
      const refreshIdleAfterMs =
        options.refreshIdleAfter === undefined
          ? undefined
          : parseDuration(options.refreshIdleAfter, '--refresh-idle-after')
      if (refreshIdleAfterMs !== undefined && usedWithinMs === undefined) {
        throw usage('--refresh-idle-after needs --used-within: without it every token is kept')
      }
      // Without --dc or --accounts-url each token goes to the data center its API domain names.
      const environment = environmentFrom(options, false)
      const logger = createLogger({ level: options.verbose ? 'debug' : 'warn' })
      await withStore(options, async (store) => {
        let passes = 0
        let trouble = false
        const report = (summary: KeeperPassSummary): void => {
          passes += 1
          trouble ||= summary.failed + summary.reauthRequired > 0
          if (options.json) sayJson({ pass: passes, ...summary })
          else say(passLine(passes, summary))
        }
        const keeper = new TokenKeeper({
          store,
          environment,
          refreshAheadMs,
          intervalMs,
          concurrency,
          usedWithinMs,
          refreshIdleAfterMs,
          logger,
          onPass: report,
          keepAlive: true,
        })
        if (options.once) {
          await keeper.runOnce()
          if (trouble) {
            throw new CliError(
              'keep: some tokens could not be refreshed (see above)',
              EXIT.attention,
            )
          }
          return
        }
        await new Promise<void>((resolve) => {
          const stop = (signal: string): void => {
            process.stderr.write(`keep: ${signal}: finishing the refreshes in flight\n`)
            void keeper.stop().then(resolve)
          }
          process.once('SIGTERM', () => stop('SIGTERM'))
          process.once('SIGINT', () => stop('SIGINT'))
          keeper.start()
        })
        say(`keep: stopped after ${passes} pass${passes === 1 ? '' : 'es'}`)
      })
      process.exitCode = EXIT.ok
    })
}
