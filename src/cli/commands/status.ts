import type { Command } from 'commander'
import { TOKEN_STATES } from '../../health.js'
import { storeStatus } from '../../keeper/status.js'
import { countdown, plural, printable, say, sayJson, table } from '../output.js'
import { examples, globals } from '../shared.js'
import { storeUrl, withStore } from '../store-access.js'

interface StatusOptions {
  json?: boolean
}

/** `tokenkeeper status`: counts by state, the next expiries, the failing and refused tokens. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('how the stored tokens are: counts by state, next expiries, tokens in trouble')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples('tokenkeeper status --store sqlite:./zohooauth.db', 'tokenkeeper status --json'),
    )
    .action(async (_options: StatusOptions, command: Command) => {
      const options = globals<StatusOptions>(command)
      const now = Date.now()
      const status = await withStore(
        options,
        (store) => storeStatus(store, now),
        storeUrl(options),
        {
          readOnly: true,
        },
      )
      if (options.json) {
        sayJson(status)
        return
      }
      say(
        `${plural(status.tokens, 'token')}: ` +
          TOKEN_STATES.map((state) => `${status.states[state]} ${state}`).join(', '),
      )
      if (status.nextExpiries.length > 0) {
        say('\nnext to expire:')
        for (const line of table(
          ['ID', 'USER', 'EXPIRES'],
          status.nextExpiries.map((e) =>
            [e.id, e.user ?? '-', countdown(e.expiryTime, now)].map(printable),
          ),
        ))
          say(line)
      }
      if (status.attention.length > 0) {
        say('\nneeding attention:')
        for (const line of table(
          ['ID', 'USER', 'STATE', 'ATTEMPTS', 'LAST ERROR', 'SINCE'],
          status.attention.map((t) =>
            [
              t.id,
              t.user ?? '-',
              t.state,
              String(t.attempts),
              t.lastErrorCode ?? '-',
              new Date(t.since).toISOString(),
            ].map(printable),
          ),
        ))
          say(line)
        if (status.states.reauth_required > 0) {
          say('\nreauth_required tokens need their user to sign in again (a new grant).')
        }
      }
    })
}
