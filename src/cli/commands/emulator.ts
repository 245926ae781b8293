import { Option, type Command } from 'commander'
import { startAccountsEmulator, type AccountsEmulatorOptions } from '../../testing/emulator.js'
import {
  DEFAULT_ACCESS_TOKEN_LIMIT,
  DEFAULT_CLIENT,
  DEFAULT_EXCHANGE_LIMIT,
  DEFAULT_HOST,
  LOCATIONS,
  MAIN_DATA_CENTER,
} from '../../testing/emulator/settings.js'
import { CliError, EXIT, collect, examples, usage } from '../shared.js'
import { say } from '../output.js'

/** The options as commander gives them (every one has a default, so none is absent). */
interface EmulatorOptions {
  host: string
  port: string
  autoApprove: boolean
  latencyMs: string
  rotateRefreshTokens: boolean
  /** False with `--no-limit`. */
  limit: boolean
  exchangeLimit: boolean
  accessTokenLifetimeSec?: string
  grantCodeLifetimeSec?: string
  secondMs?: string
  errorStyle: 'zoho' | 'oauth2'
  clientId: string
  clientSecret: string
  redirectUri?: string[]
  user?: string[]
  dataCenter?: string[]
  expiresInStyle: 'seconds' | 'milliseconds'
}

// setTimeout's largest delay: a longer one would fire at once.
const MAX_LATENCY_MS = 2 ** 31 - 1
const { count, windowMs } = DEFAULT_ACCESS_TOKEN_LIMIT
const LIMIT = `${count} access tokens per refresh token per ${windowMs / 60_000} minutes`
const EXCHANGE_LIMIT = `${DEFAULT_EXCHANGE_LIMIT.count} grant code exchanges per client per ${
  DEFAULT_EXCHANGE_LIMIT.windowMs / 60_000
} minutes`
// A day: longer lifetimes test nothing more, and stay far from setTimeout's and Date's limits.
const MAX_LIFETIME_SEC = 86_400

/** A whole number from `min` to `max` given to `--name`, or a usage error that says so. */
function wholeNumber(value: string, name: string, max: number, what: string, min = 0): number {
  if (!/^\d+$/.test(value) || Number(value) > max || Number(value) < min) {
    throw usage(`--${name} must be ${what} (${min} to ${max})`)
  }
  return Number(value)
}

/** `{ [key]: n }` for a whole number option given, from 1 to `max`; `{}` when not given. */
function optional(
  value: string | undefined,
  key: keyof AccountsEmulatorOptions,
  name: string,
  max: number,
  what: string,
): Partial<AccountsEmulatorOptions> {
  return value === undefined ? {} : { [key]: wholeNumber(value, name, max, what, 1) }
}

/** The emulator's options from the command line's, checked; a usage error on a bad one. */
export function emulatorSettings(options: EmulatorOptions): AccountsEmulatorOptions {
  if (options.host === '') throw usage('--host must name an interface, such as 127.0.0.1')
  for (const [name, value] of [
    ['client-id', options.clientId],
    ['client-secret', options.clientSecret],
  ] as const) {
    if (value === '') throw usage(`--${name} must not be empty`)
  }
  const dataCenters = (options.dataCenter ?? []).map((text) => {
    const match = /^([a-z]+)(?::(\d+))?$/.exec(text)
    if (!match || !LOCATIONS.includes(match[1]!)) {
      throw usage(
        `--data-center must be a Zoho location code, with a port if wanted, such as eu or eu:4001 (one of ${LOCATIONS.join(', ')}; got '${text}')`,
      )
    }
    const port =
      match[2] === undefined ? 0 : wholeNumber(match[2], 'data-center', 65535, 'a port number')
    return { location: match[1]!, port }
  })
  const served = [MAIN_DATA_CENTER, ...dataCenters.map((d) => d.location)]
  const users = (options.user ?? []).map((text) => {
    const [email = '', dataCenter] = text.split('=')
    if (!/^[^@\s=]+@[^@\s=]+$/.test(email)) {
      throw usage(`--user must be an e-mail address, such as grace@zylker.example (got '${text}')`)
    }
    if (dataCenter !== undefined && !served.includes(dataCenter)) {
      throw usage(
        `--user ${email}=${dataCenter}: the emulator serves ${served.join(', ')}; add --data-center ${dataCenter}`,
      )
    }
    return dataCenter === undefined ? { email } : { email, dataCenter }
  })
  for (const uri of options.redirectUri ?? []) {
    if (!URL.canParse(uri)) {
      throw usage(
        `--redirect-uri must be an absolute URL, such as http://127.0.0.1:3000/callback (got '${uri}')`,
      )
    }
  }
  return {
    host: options.host,
    port: wholeNumber(options.port, 'port', 65535, 'a port number'),
    ...optional(
      options.accessTokenLifetimeSec,
      'accessTokenLifetimeSec',
      'access-token-lifetime-sec',
      MAX_LIFETIME_SEC,
      'a whole number of seconds',
    ),
    ...optional(
      options.grantCodeLifetimeSec,
      'grantCodeLifetimeSec',
      'grant-code-lifetime-sec',
      MAX_LIFETIME_SEC,
      'a whole number of seconds',
    ),
    ...optional(options.secondMs, 'secondMs', 'second-ms', 1000, 'a whole number of milliseconds'),
    autoApprove: options.autoApprove,
    latencyMs: wholeNumber(
      options.latencyMs,
      'latency-ms',
      MAX_LATENCY_MS,
      'a whole number of milliseconds',
    ),
    rotateRefreshTokens: options.rotateRefreshTokens,
    ...(options.limit ? {} : { accessTokenLimit: false }),
    ...(options.exchangeLimit ? { exchangeLimit: true } : {}),
    errorStyle: options.errorStyle,
    expiresInStyle: options.expiresInStyle,
    ...(users.length === 0 ? {} : { users }),
    ...(dataCenters.length === 0 ? {} : { dataCenters }),
    clients: [
      {
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        ...(options.redirectUri === undefined ? {} : { redirectUris: options.redirectUri }),
      },
    ],
  }
}

/** A listen error in words, with what to do about it. */
function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EADDRINUSE') {
    return new CliError(
      `port ${port} on ${host} is taken: give another --port, or --port 0 for a free one`,
      EXIT.error,
    )
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new CliError(
      `cannot listen on --host ${host} (${code}): give an address of this machine, such as 127.0.0.1`,
      EXIT.error,
    )
  }
  if (code === 'EACCES') {
    return new CliError(
      `not allowed to listen on port ${port}: give a port above 1023, or --port 0`,
      EXIT.error,
    )
  }
  return err
}

/** `tokenkeeper emulator` (also `npm run emulator`): the accounts emulator, until Ctrl-C. */
export function registerEmulator(program: Command): void {
  program
    .command('emulator')
    .description('run the local accounts emulator (Zoho Accounts and a small CRM API) until Ctrl-C')
    .addOption(new Option('--host <host>', 'interface to listen on').default(DEFAULT_HOST))
    .addOption(
      new Option('--port <port>', 'port to listen on').default(
        '0',
        'a random free port, another one on every start: give one to keep the URL',
      ),
    )
    .addOption(
      new Option(
        '--auto-approve',
        'approve the consent page at once, for the login_hint user or the first one',
      ).default(false, 'off, the page asks'),
    )
    .addOption(
      new Option('--latency-ms <ms>', 'delay added before every response').default('0', '0, none'),
    )
    .addOption(
      new Option(
        '--rotate-refresh-tokens',
        'return a new refresh token on every refresh (a reused one revokes its grant)',
      ).default(false, 'off, as Zoho'),
    )
    // Commander shows no default for a --no- option or an absent one: the text says it.
    .option('--no-limit', `lift the limit of ${LIMIT} (default: the limit applies)`)
    .addOption(
      new Option('--exchange-limit', `enforce Zoho's limit of ${EXCHANGE_LIMIT}`).default(
        false,
        'off, any number of exchanges',
      ),
    )
    .option(
      '--access-token-lifetime-sec <sec>',
      'how long access tokens live, in emulator seconds (default: 3600, as Zoho)',
    )
    .option(
      '--grant-code-lifetime-sec <sec>',
      'how long grant codes live, in emulator seconds (default: 180, as Zoho)',
    )
    .option(
      '--second-ms <ms>',
      'compressed clock: real milliseconds one emulator second lasts, for lifetimes and limit windows (default: 1000, real time)',
    )
    .addOption(
      new Option(
        '--error-style <style>',
        'token errors as Zoho (HTTP 200 {"error"}) or OAuth 2.0 (HTTP 400/401)',
      )
        .choices(['zoho', 'oauth2'])
        .default('zoho'),
    )
    .addOption(new Option('--client-id <id>', 'the client id').default(DEFAULT_CLIENT.clientId))
    .addOption(
      new Option('--client-secret <secret>', 'the client secret').default(
        DEFAULT_CLIENT.clientSecret,
        `${DEFAULT_CLIENT.clientSecret}, a fixed test value`,
      ),
    )
    .option(
      '--redirect-uri <uri>',
      'a registered redirect URI, repeatable (default: any redirect URI is accepted)',
      collect,
    )
    .option(
      '--user <email[=location]>',
      'a user who can consent, of the main data center (us) or of one given by --data-center, repeatable (default: ada@zylker.example)',
      collect,
    )
    .option(
      '--data-center <location[:port]>',
      "another Zoho data center on a listener of its own (its own origin), repeatable: its users' codes are exchanged, refreshed and revoked there",
      collect,
    )
    .addOption(
      new Option(
        '--expires-in-style <style>',
        'expiry in token answers: expires_in in seconds, or in milliseconds beside expires_in_sec as older Zoho servers',
      )
        .choices(['seconds', 'milliseconds'])
        .default('seconds'),
    )
    .addHelpText(
      'after',
      examples(
        'tokenkeeper emulator --port 4000 --auto-approve',
        'npm run emulator -- --port 4000 --error-style oauth2 --no-limit',
        'tokenkeeper emulator --port 4000 --auto-approve --rotate-refresh-tokens --exchange-limit --access-token-lifetime-sec 300 --second-ms 10',
        'tokenkeeper emulator --port 4000 --data-center eu:4001 --user ada@zylker.example --user lise@zylker.example=eu',
      ),
    )
    .action(async (options: EmulatorOptions) => {
      const settings = emulatorSettings(options)
      const emulator = await startAccountsEmulator(settings).catch((err: unknown) => {
        throw listenError(err, options.host, settings.port ?? 0)
      })
      const given = options.clientSecret !== DEFAULT_CLIENT.clientSecret
      const { environment } = emulator
      say(`accounts emulator listening on ${emulator.url}`)
      say(`  client id:     ${options.clientId}`)
      // A secret the user chose is theirs: not echoed. The default is a published test value.
      const secret = given
        ? 'the one given by --client-secret'
        : `${DEFAULT_CLIENT.clientSecret} (a fixed test value of the emulator)`
      say(`  client secret: ${secret}`)
      say(`  consent page:  ${environment.authorizeUrl}`)
      say(`  token URL:     ${environment.tokenUrl}`)
      say(`  use it with:   --accounts-url ${emulator.url}`)
      for (const dataCenter of emulator.dataCenters.slice(1)) {
        say(`  data center ${dataCenter.location}: ${dataCenter.url} (its accounts server and API)`)
      }
      say(
        `  admin:         GET ${emulator.url}/emulator/counts, POST ${emulator.url}/emulator/revoke`,
      )
      say('                 (HTTP Basic: client id and secret; see docs/emulator.md)')
      say('press Ctrl-C to stop')
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          done()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      await emulator.close()
      say('accounts emulator stopped')
    })
}
