import type { Command } from 'commander'
import { revokeMatching } from '../../revoke-tokens.js'
import type { RevokeResult } from '../../revoke-tokens.js'
import type { TokenStore } from '../../store.js'
import type { OAuthToken } from '../../token.js'
import { noticeIfBusy } from '../lease.js'
import { CliError, EXIT, examples, globals, notFound, usage } from '../shared.js'
import {
  environmentFrom,
  environmentOptions,
  refusal,
  tokenEnvironment,
  tokenServerOf,
  type EnvironmentOptions,
} from '../environment.js'
import { say, passProgress, plural } from '../output.js'
import { tokenById, withStore } from '../store-access.js'

interface RevokeOptions extends EnvironmentOptions {
  user?: string
  client?: string
}

/**
 * `tokenkeeper revoke`: revokes at the accounts server, then deletes; each token at the server
 * that issued it, under its lease, read again first (see `revokeStoredToken`).
 */
export function registerRevoke(program: Command): void {
  environmentOptions(
    program
      .command('revoke [id]')
      .description(
        'revoke tokens at the accounts server, then delete them: one by id, or every token of --user or --client; each at its own data center (from its API domain), which --dc may name but not contradict',
      )
      .option('--user <name>', 'every token of this user')
      .option('--client <id>', 'every token of this client id'),
  )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper revoke aB3dE5gH7j --dc US --store sqlite:./zohooauth.db',
        'tokenkeeper revoke --user ada@zylker.example',
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
        const { revoked, failed, kept } =
          id === undefined ? await revokeAllOf(store, options) : await revokeOne(store, id, options)
        say(`revoked ${revoked.length}, failed ${failed.length}`)
        for (const done of revoked) say(`  revoked ${done}`)
        for (const failure of failed) say(`  failed  ${failure.id} (${failure.code}); kept`)
        for (const changed of kept) {
          say(`  kept    ${changed}: it changed meanwhile (another user, client or server)`)
        }
        if (failed.length > 0) {
          throw new CliError(
            `${plural(failed.length, 'token')} could not be revoked and ${failed.length === 1 ? 'was' : 'were'} kept (see above): run revoke again once the accounts server answers`,
            EXIT.error,
          )
        }
      })
    })
}

/**
 * `revoke <id>`: at the accounts server that issued it (a --dc that contradicts it is refused,
 * exit 2), under its lease, read again first.
 */
async function revokeOne(
  store: TokenStore,
  id: string,
  options: RevokeOptions,
): Promise<RevokeResult> {
  const token = await tokenById(store, id)
  tokenEnvironment(token, options)
  await noticeIfBusy(store, id)
  const done = await revokeMatching(store, {
    tokens: [token],
    matches: (now) => now.id === id,
    serverOf: tokenServerOf(options),
  })
  // Deleted since it was read: nothing was sent.
  if (done.revoked.length + done.failed.length + done.kept.length === 0) throw notFound(id)
  return done
}

/**
 * `revoke --user` and `revoke --client`: every matching token at the accounts server that issued
 * it (`revokeMatching`, as `revokeTokens`). All or nothing: a token whose server is unknown, or
 * that a --dc contradicts, stops the command with a usage error before anything is sent or
 * deleted.
 */
async function revokeAllOf(store: TokenStore, options: RevokeOptions): Promise<RevokeResult> {
  const done = await revokeMatching(store, {
    matches: (token: OAuthToken) =>
      options.user !== undefined
        ? token.userSignature?.name === options.user
        : token.clientId === options.client,
    serverOf: tokenServerOf(options),
    allOrNothing: true,
    onProgress: passProgress((n) => `revoke: ${n} tokens examined`),
  })
  if (done.outcome === 'done') return done
  const { refused, matched } = done
  const first = refusal(refused[0]!.error)
  if (!(first instanceof CliError)) throw first
  throw usage(
    `nothing was revoked: ${plural(refused.length, 'token')} of the ${matched} cannot be revoked as asked; ${first.message}` +
      (refused.length > 1 ? ` (and ${refused.length - 1} more)` : ''),
  )
}
