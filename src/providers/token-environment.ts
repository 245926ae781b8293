import type { Environment } from '../oauth/environments.js'
import { dataCenterOf } from './zoho-accounts.js'
import type { OAuthToken } from '../token.js'
import { SDKException } from '../errors.js'

/**
 * The environment whose accounts server issued a token, known from its API domain (each Zoho
 * data center's APIs live on its own hosts): a token is refreshed and revoked only where it
 * came from, and its secrets go nowhere else. `fixed`, when given, is the only environment
 * allowed: a token whose API domain belongs elsewhere is refused.
 */
export function environmentOf(token: OAuthToken, fixed: Environment | undefined): Environment {
  const apiDomain = token.apiDomain
  if (fixed) {
    if (apiDomain === undefined || fixed.allowsApiOrigin(apiDomain)) return fixed
    throw new SDKException(
      'ENVIRONMENT_MISMATCH',
      `token ${token.id ?? '(no id)'} belongs to another environment than ${fixed.name} (its API domain is ${originOf(apiDomain)}); ` +
        'it is left alone: keep it with the environment that issued it',
    )
  }
  const found = dataCenterOf(token)
  if (found) return found
  throw new SDKException(
    'ENVIRONMENT_UNKNOWN',
    `token ${token.id ?? '(no id)'} has ${apiDomain === undefined ? 'no API domain' : `the API domain ${originOf(apiDomain)}, which is no Zoho data center's`}; ` +
      'give the keeper the environment that issued it (the environment option)',
  )
}

/**
 * Whether two environments send to the same accounts server: Zoho's are one object each, but
 * two environments made from the same URLs (the CLI's `--accounts-url`) are equal too.
 */
export function sameServer(a: Environment, b: Environment): boolean {
  return a === b || (a.accountsUrl === b.accountsUrl && a.apiDomain === b.apiDomain)
}

/** The origin of a stored API domain, for a message: never more than scheme, host and port. */
function originOf(apiDomain: string): string {
  return URL.canParse(apiDomain) ? new URL(apiDomain).origin : 'not a URL'
}
