import type { Command } from 'commander'
import type { TokenStore } from '../../store.js'
import { countdown, maskClientId, say, sayJson, secret, tokenState } from '../output.js'
import { examples, globals } from '../shared.js'
import { storeUrl, tokenById, withStore } from '../store-access.js'

interface ShowOptions {
  reveal?: boolean
  json?: boolean
}

/** `tokenkeeper show <id>`: one token, masked unless `--reveal` (JSON too). */
export function registerShow(program: Command): void {
  program
    .command('show <id>')
    .description('show one token; secrets are masked unless --reveal')
    .option('--reveal', 'show the client secret and the grant, refresh and access tokens')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      examples(
        'tokenkeeper show aB3dE5gH7j --store sqlite:./zohooauth.db',
        'tokenkeeper show aB3dE5gH7j --reveal --json',
      ),
    )
    .action(async (id: string, _options: ShowOptions, command: Command) => {
      const options = globals<ShowOptions>(command)
      const reveal = options.reveal === true
      const work = async (store: TokenStore) => {
        const token = await tokenById(store, id)
        const now = Date.now()
        if (options.json) {
          const shown = reveal
            ? { ...token.fields(), userSignature: undefined, userName: token.userSignature?.name }
            : {
                ...token.toJSON(),
                clientId: token.clientId ? maskClientId(token.clientId) : token.clientId,
              }
          sayJson({ ...shown, state: tokenState(token, now) })
          return
        }
        const expiry =
          token.expiryTime === undefined
            ? '-'
            : `${countdown(token.expiryTime, now)} (${new Date(token.expiryTime).toISOString()})`
        const rows: [string, string][] = [
          ['id', token.id ?? '-'],
          ['user', token.userSignature?.name ?? '-'],
          ['client id', reveal ? (token.clientId ?? '-') : maskClientId(token.clientId)],
          ['client secret', secret(token.clientSecret, reveal)],
          ['grant token', secret(token.grantToken, reveal)],
          ['refresh token', secret(token.refreshToken, reveal)],
          ['access token', secret(token.accessToken, reveal)],
          ['expires', expiry],
          ['state', tokenState(token, now)],
          ['redirect url', token.redirectUrl ?? '-'],
          ['api domain', token.apiDomain ?? '-'],
        ]
        for (const [name, value] of rows) say(`${`${name}:`.padEnd(15)}${value}`)
      }
      await withStore(options, work, storeUrl(options), { readOnly: true })
    })
}
