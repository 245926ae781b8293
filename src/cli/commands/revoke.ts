import type { Command } from 'commander'
import { revokeTokens } from '../../policies.js'
import { revocationClient, revokeStoredToken } from '../../revocation.js'
import { noticeIfBusy } from '../lease.js'
import {
  CliError,
  EXIT,
  environmentFrom,
  environmentOptions,
  examples,
  globals,
  notFound,
  say,
  tokenById,
  tokenEnvironment,
  usage,
  withStore,
  type EnvironmentOptions,
  passProgress,
  plural,
} from '../shared.js'

interface RevokeOptions extends EnvironmentOptions {
  user?: string
  client?: string
}

/**
 * `tokenkeeper revoke`: revokes at the accounts server, then deletes; each token under its lease,
 * read again first (see `revokeStoredToken`).
 */
export function registerRevoke(program: Command): void {
  environmentOptions(
    program
      .command('revoke [id]')
      .description(
        'revoke tokens at the accounts server, then delete them: one by id, or every token of --user or --client',
      )
      .option('--user <name>', 'every token of this user')
      .option('--client <id>', 'every token of this client id'),
  )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper revoke aB3dE5gH7j --dc US --store sqlite:./zohooauth.db',
        'tokenkeeper revoke --user ada@zylker.example --dc EU --env sandbox',
        'tokenkeeper revoke --client 1000.ABCDEF --accounts-url http://127.0.0.1:4000',
      ),
    )
    .action(async (id: string | undefined, _options: RevokeOptions, command: Command) => {
      const options = globals<RevokeOptions>(command)
      const chosen = [id, options.user, options.client].filter((value) => value !== undefined)
      if (chosen.length !== 1) {
        throw usage('revoke takes exactly one of <id>, --user <name>, --client <id>')
      }
      // Options that name two accounts servers are refused before the store is opened.
      environmentFrom(options, false)
      await withStore(options, async (store) => {
        let revoked: string[]
        let failed: { id: string; code: string }[]
        if (id !== undefined) {
          // Revoked at the accounts server that issued it: a --dc that contradicts it is refused.
          const environment = tokenEnvironment(await tokenById(store, id), options)
          await noticeIfBusy(store, id)
          const { client, log } = revocationClient(environment)
          try {
            // Read again under the lease: the refresh token revoked is the current one.
            const done = await revokeStoredToken(store, id, client, { log })
            if (done.outcome === 'gone') throw notFound(id)
            revoked = [id]
            failed = []
          } catch (err) {
            if (err instanceof CliError) throw err
            revoked = []
            failed = [{ id, code: (err as { code?: string }).code ?? 'UNKNOWN' }]
          }
        } else {
          ;({ revoked, failed } = await revokeTokens(store, {
            environment: environmentFrom(options, true),
            onProgress: passProgress((n) => `revoke: ${n} tokens examined`),
            ...(options.user === undefined ? {} : { userName: options.user }),
            ...(options.client === undefined ? {} : { clientId: options.client }),
          }))
        }
        say(`revoked ${revoked.length}, failed ${failed.length}`)
        for (const done of revoked) say(`  revoked ${done}`)
        for (const failure of failed) say(`  failed  ${failure.id} (${failure.code}); kept`)
        if (failed.length > 0) {
          throw new CliError(
            `${plural(failed.length, 'token')} could not be revoked and ${failed.length === 1 ? 'was' : 'were'} kept (see above): run revoke again once the accounts server answers`,
            EXIT.error,
          )
        }
      })
    })
}
