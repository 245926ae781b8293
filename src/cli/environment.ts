// Which accounts server a command talks to: --dc/--env/--accounts-url, and each token's own
// data center, known from its API domain.
import { InvalidArgumentError as CommanderArgumentError, Option, type Command } from 'commander'
import { SDKException } from '../errors.js'
import { DataCenter, Environment } from '../oauth/environments.js'
import { environmentOf } from '../providers/token-environment.js'
import type { OAuthToken } from '../token.js'
import { usage } from './shared.js'

/** The options that choose the accounts server. */
export interface EnvironmentOptions {
  dc?: string
  env?: string
  accountsUrl?: string
}

const DATA_CENTERS = Object.keys(DataCenter) as (keyof typeof DataCenter)[]

const KINDS = { production: 'PRODUCTION', sandbox: 'SANDBOX', developer: 'DEVELOPER' } as const

/** Adds `--dc`, `--env` and `--accounts-url` to a command. */
export function environmentOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--dc <code>', `Zoho data center: ${DATA_CENTERS.join(', ')}`).argParser(
        (value: string) => {
          const upper = value.toUpperCase()
          if (!(DATA_CENTERS as string[]).includes(upper)) {
            throw new CommanderArgumentError(`Allowed choices are ${DATA_CENTERS.join(', ')}.`)
          }
          return upper
        },
      ),
    )
    .addOption(
      new Option('--env <kind>', 'environment of the data center')
        .choices(Object.keys(KINDS))
        .default('production'),
    )
    .option(
      '--accounts-url <url>',
      'a custom accounts server (such as the emulator) instead of --dc',
    )
}

/** The environment the options name; with `required`, a usage error when none. */
export function environmentFrom(options: EnvironmentOptions, required: true): Environment
export function environmentFrom(
  options: EnvironmentOptions,
  required: false,
): Environment | undefined
export function environmentFrom(
  options: EnvironmentOptions,
  required: boolean,
): Environment | undefined {
  if (options.dc !== undefined && options.accountsUrl !== undefined) {
    throw usage('give either --dc or --accounts-url, not both')
  }
  if (options.accountsUrl !== undefined) {
    try {
      return new Environment({
        name: 'custom',
        apiDomain: options.accountsUrl,
        accountsUrl: options.accountsUrl,
      })
    } catch (err) {
      throw usage(`--accounts-url: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  if (options.dc !== undefined) {
    const kind = KINDS[(options.env ?? 'production') as keyof typeof KINDS]
    return DataCenter[options.dc as keyof typeof DataCenter][kind]
  }
  if (required) {
    throw usage(
      'name the accounts server: --dc US|EU|IN|CN|JP|AU|CA|SA [--env ...] or --accounts-url URL',
    )
  }
  return undefined
}

/**
 * The environment a stored token is refreshed or revoked in: `--accounts-url`'s as given; the
 * data center `--dc` names, which must be the token's own (a usage error otherwise, before
 * anything is sent); or without either, the Zoho data center its API domain names.
 */
export function tokenEnvironment(token: OAuthToken, options: EnvironmentOptions): Environment {
  const given = environmentFrom(options, false)
  // A custom accounts server (a proxy, the emulator) is the user's explicit word: taken as given.
  if (options.accountsUrl !== undefined && given) return given
  try {
    return environmentOf(token, given)
  } catch (err) {
    if (err instanceof SDKException && err.code === 'ENVIRONMENT_MISMATCH') {
      throw usage(`${err.message} (drop --dc/--accounts-url, or name the token's own)`)
    }
    if (err instanceof SDKException && err.code === 'ENVIRONMENT_UNKNOWN') {
      throw usage(err.message.replace('the environment option', '--dc or --accounts-url'))
    }
    throw err
  }
}

/**
 * Whether two environments send to the same accounts server: Zoho's are one object each, and
 * `--accounts-url` makes a new one for every token.
 */
export function sameServer(a: Environment, b: Environment): boolean {
  return a === b || (a.accountsUrl === b.accountsUrl && a.apiDomain === b.apiDomain)
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------
