import { open, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { eachToken } from '../../iteration.js'
import { withSealedRows } from '../../sealed.js'
import { type TokenStore } from '../../store.js'
import { isCanonicalId, numericIdValue } from '../../store/ids.js'
import { withEncryption } from '../../stores/encrypted.js'
import type { OAuthToken } from '../../token.js'
import { KeysTally, openingCheck } from './doctor-encryption.js'
import { CliError, examples, globals } from '../shared.js'
import { encryptionFrom, openStore, safeUrl, storeUrl } from '../store-access.js'
import { environmentFrom, environmentOptions, type EnvironmentOptions } from '../environment.js'
import { passProgress, plural, say } from '../output.js'

type Status = 'ok' | 'warn' | 'fail' | 'skip'

export interface Check {
  status: Status
  name: string
  detail: string
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** The first line of a file, or undefined when it is empty. */
async function firstLine(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(4096)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    const text = buffer.subarray(0, bytesRead).toString('utf8')
    const line = text.split(/\r?\n/, 1)[0]
    return line === '' ? undefined : line
  } finally {
    await handle.close()
  }
}

async function schemaCheck(store: TokenStore, kind: string): Promise<Check> {
  const name = 'schema'
  const props = store as unknown as {
    path?: unknown
    table?: unknown
    problems?: { line: number; reason: string }[]
    database?: unknown
  }
  if (kind === 'file' && typeof props.path === 'string') {
    let header: string | undefined
    try {
      header = await firstLine(props.path)
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') {
        return { status: 'warn', name, detail: 'the token file does not exist yet' }
      }
      throw err
    }
    const problems = props.problems ?? []
    if (problems.length > 0) {
      const first = problems[0]!
      return {
        status: 'warn',
        name,
        detail: `${plural(problems.length, 'row')} cannot be read (first: line ${first.line}, ${first.reason}): fix or delete ${problems.length === 1 ? 'that line' : 'those lines'} in the file`,
      }
    }
    return {
      status: 'ok',
      name,
      detail: header ? `header readable (${header.split(',').length} columns)` : 'empty file',
    }
  }
  if (kind === 'sqlite' && typeof props.table === 'string') {
    const db = props.database as {
      prepare(sql: string): { all(): { name: string }[] }
    }
    const columns = db
      .prepare(`PRAGMA table_info("${props.table.replace(/"/g, '""')}")`)
      .all()
      .map((column) => column.name)
    const needed = ['id', 'client_id', 'refresh_token', 'access_token', 'expiry_time']
    const lacking = needed.filter((column) => !columns.includes(column))
    return lacking.length === 0
      ? { status: 'ok', name, detail: `table ${props.table} has ${columns.length} columns` }
      : { status: 'fail', name, detail: `table ${props.table} lacks ${lacking.join(', ')}` }
  }
  return { status: 'ok', name, detail: 'rows decoded' }
}

/**
 * Ids the official SDKs cannot live with: they number new rows `int(max(id)) + 1` (the Python
 * FileStore over every id, the Python DBStore and the reference sample over SQL's `max(id)`),
 * and the sample deletes with an unquoted `where id= <id>`. Fed one id at a time by a pass over
 * the store: it keeps two counts and the first offending id of each kind.
 */
export class IdsTally {
  #words = 0
  #firstWord: string | undefined
  #odd = 0
  #firstOdd: string | undefined

  add(id: string | undefined): void {
    const value = id ?? ''
    if (numericIdValue(value) === undefined) {
      this.#words += 1
      this.#firstWord ??= value
    } else if (!isCanonicalId(value)) {
      this.#odd += 1
      this.#firstOdd ??= value
    }
  }

  check(): Check {
    const name = 'ids'
    if (this.#words === 0 && this.#odd === 0) {
      return { status: 'ok', name, detail: `every id is a number the official SDKs read` }
    }
    const parts: string[] = []
    if (this.#words > 0) {
      parts.push(
        `${plural(this.#words, 'row')} ` +
          `${this.#words === 1 ? 'has an id that is not a number' : 'have ids that are not numbers'}` +
          ` (first: ${this.#firstWord}): the ` +
          "official Python SDK's FileStore cannot add a user to this file (int() fails on every " +
          'save), its DBStore and the reference sample cannot while such an id is the largest, ' +
          "and the sample's unquoted delete fails on them",
      )
    }
    if (this.#odd > 0) {
      parts.push(
        `${plural(this.#odd, 'row')} ${this.#odd === 1 ? 'has a numeric id' : 'have numeric ids'} with a leading zero or over 10 digits (first: ` +
          `${this.#firstOdd}): the sample's unquoted delete misses them in SQLite and also ` +
          'matches the same number without zeros in MySQL',
      )
    }
    parts.push(
      'tokenkeeper and the official TypeScript SDK keep working with them, and new tokens get ' +
        'numbers; a token deleted (tokenkeeper delete <id>) gets one at its next sign-in. See ' +
        'docs/switching.md',
    )
    return { status: 'warn', name, detail: parts.join('; ') }
  }
}

/** {@link IdsTally} over a list of tokens. */
export function idsCheck(tokens: Iterable<OAuthToken>): Check {
  const tally = new IdsTally()
  for (const token of tokens) tally.add(token.id)
  return tally.check()
}

/**
 * The store check (reachable, how many tokens) and the ids check, from one pass over the store
 * a page at a time: what is kept is two counters and an id per kind, whatever the store's size.
 * A store that fails while read gives a failed store check and no ids check.
 */
export async function storeChecks(
  store: TokenStore,
  url: string,
  onProgress?: (seen: number) => void,
  onToken?: (token: OAuthToken) => void,
): Promise<Check[]> {
  const ids = new IdsTally()
  let count = 0
  try {
    for await (const token of eachToken(store, onProgress ? { onProgress } : {})) {
      count += 1
      ids.add(token.id)
      onToken?.(token)
    }
  } catch (err) {
    return [
      {
        status: 'fail',
        name: 'store',
        detail:
          `${safeUrl(url)} cannot be read: ${message(err)}; check the URL, that its server ` +
          'runs, and the credentials',
      },
    ]
  }
  return [
    {
      status: 'ok',
      name: 'store',
      detail: `${safeUrl(url)} reachable, ${plural(count, 'token')}`,
    },
    ids.check(),
  ]
}

async function permissionCheck(store: TokenStore, kind: string): Promise<Check> {
  const name = 'permissions'
  const path = (store as unknown as { path?: unknown }).path
  if ((kind !== 'file' && kind !== 'sqlite') || typeof path !== 'string' || path === ':memory:') {
    return { status: 'skip', name, detail: 'not a local file' }
  }
  let mode: number
  try {
    mode = (await stat(path)).mode & 0o777
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      return { status: 'warn', name, detail: `${path} does not exist yet` }
    }
    throw err
  }
  const octal = mode.toString(8).padStart(4, '0')
  if (mode & 0o077) {
    return {
      status: 'warn',
      name,
      detail: `${path} is readable by group or others (mode ${octal}); run chmod 600 ${path}`,
    }
  }
  return { status: 'ok', name, detail: `${path} mode ${octal}` }
}

async function clockCheck(options: EnvironmentOptions): Promise<Check> {
  const name = 'clock'
  const environment = environmentFrom(options, false)
  if (!environment) {
    return { status: 'skip', name, detail: 'pass --dc or --accounts-url to compare clocks' }
  }
  const sent = Date.now()
  let response: Response
  try {
    response = await fetch(environment.accountsUrl, {
      method: 'HEAD',
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    })
  } catch (err) {
    return {
      status: 'fail',
      name,
      detail: `${environment.accountsUrl} cannot be reached (${message(err)})`,
    }
  }
  const received = Date.now()
  const date = response.headers.get('date')
  const server = date === null ? Number.NaN : Date.parse(date)
  if (Number.isNaN(server)) {
    return { status: 'warn', name, detail: `${environment.accountsUrl} sent no Date header` }
  }
  // The Date header has whole seconds: compare with the middle of the request.
  const skew = Math.round((server + 500 - (sent + received) / 2) / 1000)
  const detail = `skew ${skew >= 0 ? '+' : ''}${skew}s against ${environment.accountsUrl}`
  const abs = Math.abs(skew)
  if (abs <= 30) return { status: 'ok', name, detail }
  if (abs <= 300) return { status: 'warn', name, detail: `${detail}; expiry times may be off` }
  return { status: 'fail', name, detail: `${detail}; tokens will be seen expired or valid wrongly` }
}

/** `tokenkeeper doctor`: store, ids, encryption, schema, permissions, clock; it creates nothing. */
export function registerDoctor(program: Command): void {
  environmentOptions(
    program
      .command('doctor')
      .description(
        'check the store (reachable, ids the official SDKs can number, encryption keys, schema, file permissions) and the clock against the accounts server',
      ),
  )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper doctor --store sqlite:./zohooauth.db --dc US',
        'tokenkeeper doctor --store file:./sdk_tokens.txt --accounts-url http://127.0.0.1:4000',
      ) + '\nEach check prints ok, warn, fail or skip; the exit code is 1 when one fails.\n',
    )
    .action(async (_options: EnvironmentOptions, command: Command) => {
      const options = globals<EnvironmentOptions>(command)
      const url = storeUrl(options)
      const kind = url.slice(0, url.indexOf(':')).toLowerCase()
      const checks: Check[] = []
      const report = (check: Check) => {
        checks.push(check)
        say(`${check.status.padEnd(5)} ${check.name}: ${check.detail}`)
      }
      const encryption = encryptionFrom(options)
      // The rows as stored (sealed values left sealed): the store check and the key ids in use.
      const store = await openStore(url, options, { readOnly: true, plain: true })
      try {
        const keys = new KeysTally(encryption?.activeKeyId)
        const stored = await withSealedRows(() =>
          storeChecks(
            store,
            url,
            passProgress((n) => `doctor: ${n} tokens read`),
            (token) => keys.add(token),
          ),
        )
        for (const check of stored) report(check)
        const reachable = stored[0]?.status === 'ok'
        if (reachable) {
          let check = keys.check(encryption)
          if (encryption && keys.sealed && check.status !== 'fail') {
            const encrypted = withEncryption(store, encryption)
            check = (await openingCheck(encrypted)) ?? check
          }
          report(check)
          try {
            report(await schemaCheck(store, kind))
          } catch (err) {
            report({ status: 'fail', name: 'schema', detail: message(err) })
          }
        } else {
          for (const name of ['encryption', 'schema']) {
            report({ status: 'skip', name, detail: 'the store cannot be read (see above)' })
          }
        }
        try {
          report(await permissionCheck(store, kind))
        } catch (err) {
          report({ status: 'fail', name: 'permissions', detail: message(err) })
        }
        report(await clockCheck(options))
      } finally {
        await store.close?.().catch(() => undefined)
      }
      const failed = checks.filter((check) => check.status === 'fail').length
      if (failed > 0) {
        throw new CliError(`${plural(failed, 'check')} failed: see the fail lines above`)
      }
    })
}
