import type { Command } from 'commander'
import {
  countdown,
  examples,
  globals,
  maskClientId,
  say,
  sayJson,
  table,
  tokenState,
  withStore,
} from '../shared.js'

interface ListOptions {
  json?: boolean
}

/** `tokenkeeper list`: every token, secrets never shown. */
export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the tokens in the store (secrets are never shown)')
    .option('--json', 'print JSON (secrets redacted)')
    .addHelpText(
      'after',
      examples(
        'tokenkeeper list --store sqlite:./zohooauth.db',
        'TOKENKEEPER_STORE=file:./sdk_tokens.txt tokenkeeper list --json',
      ),
    )
    .action(async (_options: ListOptions, command: Command) => {
      const options = globals<ListOptions>(command)
      await withStore(options, async (store) => {
        const tokens = await store.getTokens()
        const now = Date.now()
        if (options.json) {
          const shown = tokens.map((token) => ({
            ...token.toJSON(),
            state: tokenState(token, now),
          }))
          sayJson(shown)
          return
        }
        if (tokens.length === 0) {
          say('no tokens')
          return
        }
        const rows = tokens.map((token) => [
          token.id ?? '-',
          token.userSignature?.name ?? '-',
          maskClientId(token.clientId),
          countdown(token.expiryTime, now),
          tokenState(token, now),
        ])
        for (const line of table(['ID', 'USER', 'CLIENT ID', 'EXPIRES', 'STATE'], rows)) say(line)
      })
    })
}
