import type { Command } from 'commander'
import { emit } from '../../events.js'
import { eachToken } from '../../iteration.js'
import type { Environment } from '../../oauth/environments.js'
import { revocationClient, revokeStoredToken } from '../../revocation.js'
import type { TokenStore } from '../../store.js'
import type { OAuthToken } from '../../token.js'
import { noticeIfBusy } from '../lease.js'
import { CliError, EXIT, examples, globals, notFound, usage } from '../shared.js'
import {
  environmentFrom,
  environmentOptions,
  tokenEnvironment,
  sameServer,
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
        let revoked: string[]
        let failed: { id: string; code: string }[]
        let kept: string[] = []
        if (id !== undefined) {
          // Revoked at the accounts server that issued it: a --dc that contradicts it is refused.
          const environment = tokenEnvironment(await tokenById(store, id), options)
          await noticeIfBusy(store, id)
          const { client, log } = revocationClient(environment)
          try {
            // Read again under the lease: the refresh token revoked is the current one.
            const done = await revokeStoredToken(store, id, client, {
              log,
              when: (now) => sameServer(tokenEnvironment(now, options), environment),
            })
            if (done.outcome === 'gone') throw notFound(id)
            revoked = done.outcome === 'revoked' ? [id] : []
            kept = done.outcome === 'kept' ? [id] : []
            failed = []
          } catch (err) {
            if (err instanceof CliError) throw err
            revoked = []
            failed = [{ id, code: (err as { code?: string }).code ?? 'UNKNOWN' }]
          }
        } else {
          ;({ revoked, failed, kept } = await revokeMatching(store, options))
        }
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

/** What a revocation of several tokens did. */
interface Revoked {
  revoked: string[]
  failed: { id: string; code: string }[]
  /** Changed between the two passes (another user, client or accounts server): not revoked. */
  kept: string[]
}

/**
 * `revoke --user` and `revoke --client`: every matching token at the accounts server that issued
 * it. A first pass finds them and each one's server; a token whose server is unknown, or that a
 * --dc contradicts, stops the command with a usage error before anything is sent or deleted.
 * Then each is revoked under its lease, read again: one that no longer matches, or now belongs
 * to another server, is kept.
 */
async function revokeMatching(store: TokenStore, options: RevokeOptions): Promise<Revoked> {
  const matches = (token: OAuthToken): boolean =>
    options.user !== undefined
      ? token.userSignature?.name === options.user
      : token.clientId === options.client
  const targets: { id: string; environment: Environment }[] = []
  const refused: string[] = []
  for await (const token of eachToken(store, {
    onProgress: passProgress((n) => `revoke: ${n} tokens examined`),
  })) {
    if (!token.id || !matches(token)) continue
    try {
      targets.push({ id: token.id, environment: tokenEnvironment(token, options) })
    } catch (err) {
      if (!(err instanceof CliError)) throw err
      refused.push(err.message)
    }
  }
  if (refused.length > 0) {
    throw usage(
      `nothing was revoked: ${plural(refused.length, 'token')} of the ${targets.length + refused.length} cannot be revoked as asked; ${refused[0]!}` +
        (refused.length > 1 ? ` (and ${refused.length - 1} more)` : ''),
    )
  }
  // One client per accounts server (`--accounts-url` gives each token an equal Environment).
  const clients: { environment: Environment; client: ReturnType<typeof revocationClient> }[] = []
  const clientOf = (environment: Environment) => {
    let found = clients.find((c) => sameServer(c.environment, environment))
    if (!found) clients.push((found = { environment, client: revocationClient(environment) }))
    return found.client
  }
  const done: Revoked = { revoked: [], failed: [], kept: [] }
  for (const { id, environment } of targets) {
    const client = clientOf(environment)
    try {
      const outcome = await revokeStoredToken(store, id, client.client, {
        log: client.log,
        when: (now) => matches(now) && sameServer(tokenEnvironment(now, options), environment),
      })
      if (outcome.outcome === 'revoked') done.revoked.push(id)
      if (outcome.outcome === 'kept') done.kept.push(id)
    } catch (err) {
      // A token that now names no server, or another: kept, like any other that changed.
      if (err instanceof CliError) done.kept.push(id)
      else done.failed.push({ id, code: (err as { code?: string }).code ?? 'UNKNOWN' })
    }
  }
  if (done.revoked.length > 0) {
    emit('tokens.purged', { reason: 'revoked', count: done.revoked.length })
  }
  return done
}
