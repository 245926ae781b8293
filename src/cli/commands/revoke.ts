import type { Command } from 'commander'
import { SafeLog } from '../../log.js'
import { AccountsClient } from '../../oauth/client.js'
import { revokeTokens } from '../../policies.js'
import {
  CliError,
  EXIT,
  environmentFrom,
  environmentOptions,
  examples,
  globals,
  say,
  tokenById,
  usage,
  withStore,
  type EnvironmentOptions,
} from '../shared.js'

interface RevokeOptions extends EnvironmentOptions {
  user?: string
  client?: string
}

/** `tokenkeeper revoke`: revokes at the accounts server, then deletes. */
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
      const environment = environmentFrom(options, true)
      await withStore(options, async (store) => {
        let revoked: string[]
        let failed: { id: string; code: string }[]
        if (id !== undefined) {
          const token = await tokenById(store, id)
          const client = new AccountsClient(environment, {
            fetch: (input, init) => globalThis.fetch(input, init),
            requestTimeoutMs: 30_000,
            retries: 2,
            retryDelayMs: 250,
            now: () => Date.now(),
            log: new SafeLog(undefined),
          })
          const target = token.refreshToken ?? token.accessToken
          try {
            if (target) {
              await client.revoke(target, {
                clientId: token.clientId,
                clientSecret: token.clientSecret,
              })
            }
            await store.deleteToken(id)
            revoked = [id]
            failed = []
          } catch (err) {
            revoked = []
            failed = [{ id, code: (err as { code?: string }).code ?? 'UNKNOWN' }]
          }
        } else {
          ;({ revoked, failed } = await revokeTokens(store, {
            environment,
            ...(options.user === undefined ? {} : { userName: options.user }),
            ...(options.client === undefined ? {} : { clientId: options.client }),
          }))
        }
        say(`revoked ${revoked.length}, failed ${failed.length}`)
        for (const done of revoked) say(`  revoked ${done}`)
        for (const failure of failed) say(`  failed  ${failure.id} (${failure.code}); kept`)
        if (failed.length > 0) {
          throw new CliError(
            `${failed.length} token${failed.length === 1 ? '' : 's'} could not be revoked`,
            EXIT.error,
          )
        }
      })
    })
}
