import { Option, type Command } from 'commander'
import { healthOf, TOKEN_STATES, type TokenState } from '../../health.js'
import { eachToken } from '../../iteration.js'
import type { TokenStore } from '../../store.js'
import type { OAuthToken } from '../../token.js'
import {
  columnWidths,
  countdown,
  JsonArrayText,
  maskClientId,
  passProgress,
  plural,
  printable,
  sayText,
  tableLine,
  tokenState,
  writeOut,
} from '../output.js'
import { examples, globals } from '../shared.js'
import { storeUrl, withStore } from '../store-access.js'

/** A token's last recorded use, when a session recorded one (see `recordUseEveryMs`). */
const lastUsed = (at: number | undefined): { lastUsedAt?: string } =>
  at === undefined ? {} : { lastUsedAt: new Date(at).toISOString() }

interface ListOptions {
  json?: boolean
  state?: string
}

/** Tokens read and printed at a time: the memory of a listing. */
export const LIST_PAGE = 500

const HEADER = ['ID', 'USER', 'CLIENT ID', 'EXPIRES', 'STATE']

/**
 * The least widths of the columns of a table of several pages, wide enough for every canonical
 * id (10 digits, the official `varchar(10)`), masked client id (`100000.AB…XY`) and countdown
 * (`expired 999d ago`); the user column is as wide as the first page needs.
 */
const LEAST_WIDTHS = [10, 0, 12, 16, 0]

/** How {@link listTokens} prints. */
export interface ListOutput {
  /** JSON (an array, secrets redacted) instead of a table. */
  readonly json: boolean
  /** The clock for countdowns and states, epoch ms. */
  readonly now: number
  /** Where the text goes (stdout in the CLI); awaited, so a slow reader slows the pass. */
  readonly write: (text: string) => Promise<void>
  /** Progress of the pass (`eachToken`'s). */
  readonly onProgress?: (seen: number) => void
  /** Only the tokens in this health state (see `TokenState`). */
  readonly state?: TokenState | undefined
}

/** The cells of a token's row in the table, {@link printable}. */
function cellsOf(token: OAuthToken, now: number): string[] {
  return [
    token.id ?? '-',
    token.userSignature?.name ?? '-',
    maskClientId(token.clientId),
    countdown(token.expiryTime, now),
    tokenState(token, now),
  ].map(printable)
}

/**
 * Prints every token of a store, a page at a time: the pass holds one page of tokens and one
 * page of text. JSON is one array, written item by item, with the text `sayJson` gives the
 * whole array. A table of one page ({@link LIST_PAGE} tokens or fewer) is the table of all its
 * rows, as before. A longer one takes its column widths from its first page, at least
 * {@link LEAST_WIDTHS}, and keeps them: a later cell wider than its column (a long user name)
 * pushes only the rest of its own row, and no value is cut. Returns the number of tokens printed.
 */
export async function listTokens(store: TokenStore, output: ListOutput): Promise<number> {
  const { json, now, write } = output
  const pass = eachToken(store, {
    pageSize: LIST_PAGE,
    ...(output.onProgress ? { onProgress: output.onProgress } : {}),
  })
  const array = new JsonArrayText()
  let widths: number[] | undefined
  let page: OAuthToken[] = []
  let count = 0
  const flush = async (last: boolean): Promise<void> => {
    const health = await healthOf(store, page)
    if (output.state !== undefined) page = page.filter((t) => health.get(t)!.state === output.state)
    if (json) {
      await write(
        page
          .map((token) =>
            // The client id masked as in the table: --json shows no more than the text.
            array.item({
              ...token.toJSON(),
              clientId: token.clientId ? maskClientId(token.clientId) : token.clientId,
              state: tokenState(token, now),
              health: health.get(token)!.state,
              ...lastUsed(health.get(token)!.lastUsedAt),
            }),
          )
          .join(''),
      )
    } else if (page.length > 0) {
      const rows = page.map((token) => cellsOf(token, now))
      let text = ''
      if (widths === undefined) {
        widths = columnWidths(HEADER, rows)
        if (!last) widths = widths.map((width, column) => Math.max(width, LEAST_WIDTHS[column]!))
        text += sayText(tableLine(HEADER, widths))
      }
      for (const row of rows) text += sayText(tableLine(row, widths))
      await write(text)
    }
    count += page.length
    page = []
  }
  for await (const token of pass) {
    // A full page is printed once the next token shows that it is not the last.
    if (page.length === LIST_PAGE) await flush(false)
    page.push(token)
  }
  await flush(true)
  if (json) await write(array.end())
  else if (count === 0) {
    await write(sayText(output.state === undefined ? 'no tokens' : `no ${output.state} tokens`))
  }
  return count
}

/** `tokenkeeper list`: every token, secrets never shown. */
export function registerList(program: Command): void {
  program
    .command('list')
    .description('list the tokens in the store (secrets are never shown)')
    .option('--json', 'print JSON (secrets redacted, client id masked as in the table)')
    .addOption(
      new Option('--state <state>', 'only the tokens in this health state').choices(TOKEN_STATES),
    )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper list --store sqlite:./zohooauth.db',
        'TOKENKEEPER_STORE=file:./sdk_tokens.txt tokenkeeper list --json',
      ) +
        '\nThe tokens are printed a page at a time. Written to a file or a pipe, a long list ' +
        'reports its progress on stderr.\n',
    )
    .action(async (_options: ListOptions, command: Command) => {
      const options = globals<ListOptions>(command)
      const list = async (store: TokenStore) => {
        await listTokens(store, {
          json: options.json === true,
          now: Date.now(),
          state: options.state as TokenState | undefined,
          write: writeOut,
          // On a terminal the listing itself shows how far it got.
          ...(process.stdout.isTTY
            ? {}
            : { onProgress: passProgress((n) => `list: ${plural(n, 'token')} listed`) }),
        })
      }
      await withStore(options, list, storeUrl(options), { readOnly: true })
    })
}
