import type { Command } from 'commander'
import { saveOver } from '../../refresh/lease.js'
import { Initializer } from '../../initializer.js'
import { OAuthToken } from '../../token.js'
import { CliError, examples, globals } from '../shared.js'
import { countdown, say } from '../output.js'
import {
  environmentFrom,
  environmentOptions,
  tokenEnvironment,
  type EnvironmentOptions,
} from '../environment.js'
import { tokenById, withStore } from '../store-access.js'
import { noticeIfBusy, underLease } from '../lease.js'

/**
 * `tokenkeeper refresh <id>`: a new access token now, through a session (which refreshes under
 * the token's lease, from the token as stored then; `refresh({ force })`), saved.
 */
export function registerRefresh(program: Command): void {
  environmentOptions(
    program
      .command('refresh <id>')
      .description('refresh one token now at the accounts server and save it'),
  )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper refresh aB3dE5gH7j --dc EU --store sqlite:./zohooauth.db',
        'tokenkeeper refresh aB3dE5gH7j --accounts-url http://127.0.0.1:4000',
      ),
    )
    .action(async (id: string, _options: EnvironmentOptions, command: Command) => {
      const options = globals<EnvironmentOptions>(command)
      // Options that name two accounts servers are refused before the store is opened.
      environmentFrom(options, false)
      await withStore(options, async (store) => {
        const before = await tokenById(store, id)
        // The accounts server that issued the token: a --dc that contradicts it is refused.
        const environment = tokenEnvironment(before, options)
        if (!before.refreshToken || !before.clientId || !before.clientSecret) {
          throw new CliError(
            `token '${id}' cannot be refreshed: it needs a refresh token, a client id and a client secret; ` +
              'sign in again with the app to get a new token',
          )
        }
        // Say so when another refresh holds the token: the session below waits for it silently.
        await noticeIfBusy(store, id)
        const session = await Initializer.initialize({
          environment,
          store,
          token: new OAuthToken({ id }),
        })
        // Loading refreshed a token that was due; one still valid is refreshed now, by force.
        if (session.token.accessToken === before.accessToken) await session.refresh({ force: true })
        // The token's API domain stays as stored. Restored under the lease, on the row as it is
        // now (another refresh may have followed ours), and only while the row still holds it.
        const after = await underLease(store, session.id ?? id, async () => {
          const current = await tokenById(store, session.id ?? id)
          if (current.apiDomain === before.apiDomain) return current
          const restored = current.clone()
          restored.apiDomain = before.apiDomain
          if (!(await saveOver(store, restored, current))) {
            throw new CliError(
              `token '${id}' changed while its API domain was restored; run refresh again`,
            )
          }
          return restored
        })
        const expiry =
          after.expiryTime === undefined
            ? 'an unknown time'
            : `${countdown(after.expiryTime, Date.now())} (${new Date(after.expiryTime).toISOString()})`
        say(`refreshed ${id}: the access token expires ${expiry}`)
      })
    })
}
