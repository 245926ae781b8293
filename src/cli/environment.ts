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
 * Where the options send a stored token: `--accounts-url`'s as given; the data center `--dc`
 * names, which must be the token's own; or without either, the Zoho data center its API domain
 * names. The rule alone: a token it refuses throws `ENVIRONMENT_MISMATCH` or
 * `ENVIRONMENT_UNKNOWN` (see {@link refusal} for the CLI's words).
 */
export function tokenServerOf(options: EnvironmentOptions): (token: OAuthToken) => Environment {
  const given = environmentFrom(options, false)
  // A custom accounts server (a proxy, the emulator) is the user's explicit word: taken as given.
  if (options.accountsUrl !== undefined && given) return () => given
  return (token) => environmentOf(token, given)
}

/** A token {@link tokenServerOf} refused, as a usage error naming the options to give; else `err`. */
export function refusal(err: unknown): unknown {
  if (err instanceof SDKException && err.code === 'ENVIRONMENT_MISMATCH') {
    return usage(`${err.message} (drop --dc/--accounts-url, or name the token's own)`)
  }
  if (err instanceof SDKException && err.code === 'ENVIRONMENT_UNKNOWN') {
    return usage(err.message.replace('the environment option', '--dc or --accounts-url'))
  }
  return err
}

/**
 * The environment a stored token is refreshed or revoked in ({@link tokenServerOf}); a token
 * the options may not send anywhere is a usage error, before anything is sent.
 */
export function tokenEnvironment(token: OAuthToken, options: EnvironmentOptions): Environment {
  try {
    return tokenServerOf(options)(token)
  } catch (err) {
    throw refusal(err)
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------
