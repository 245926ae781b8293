import { InvalidArgumentError } from '../errors.js'

/** What {@link Environment} is made of. */
export interface EnvironmentInit {
  /** A name for logs, for example `'US.PRODUCTION'`. */
  readonly name: string
  /** Where the APIs are, for example `https://www.zohoapis.com`. */
  readonly apiDomain: string
  /** The accounts server, for example `https://accounts.zoho.com`. */
  readonly accountsUrl: string
}

function checkUrl(value: unknown, argument: string): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(argument, `${argument} must be a URL string`)
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError(argument, `${argument} is not a valid URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidArgumentError(argument, `${argument} must be an http or https URL`)
  }
  return value.replace(/\/+$/, '')
}

/**
 * Where a token is obtained and used: the accounts server (token endpoint
 * `{accountsUrl}/oauth/v2/token`, revocation `/oauth/v2/token/revoke`, consent `/oauth/v2/auth`)
 * and the API domain. `DataCenter` has Zoho's; make one for a local accounts server, another
 * region or another OAuth 2.0 provider.
 *
 * @example
 * const local = new Environment({ name: 'local', apiDomain: 'http://127.0.0.1:4000', accountsUrl: 'http://127.0.0.1:4000' })
 */
export class Environment {
  readonly name: string
  readonly apiDomain: string
  readonly accountsUrl: string

  constructor(init: EnvironmentInit) {
    if (typeof init !== 'object' || init === null) {
      throw new InvalidArgumentError('init', 'Environment expects { name, apiDomain, accountsUrl }')
    }
    if (typeof init.name !== 'string' || init.name.length === 0) {
      throw new InvalidArgumentError('name', 'Environment name must be a non-empty string')
    }
    this.name = init.name
    this.apiDomain = checkUrl(init.apiDomain, 'apiDomain')
    this.accountsUrl = checkUrl(init.accountsUrl, 'accountsUrl')
    Object.freeze(this)
  }

  /** The token endpoint. */
  get tokenUrl(): string {
    return `${this.accountsUrl}/oauth/v2/token`
  }

  /** The revocation endpoint. */
  get revokeUrl(): string {
    return `${this.accountsUrl}/oauth/v2/token/revoke`
  }

  /** The consent page. */
  get authorizeUrl(): string {
    return `${this.accountsUrl}/oauth/v2/auth`
  }

  toString(): string {
    return `Environment(${this.name})`
  }
}

/** The three environments of a Zoho data center. */
export interface DataCenterEnvironments {
  readonly PRODUCTION: Environment
  readonly SANDBOX: Environment
  readonly DEVELOPER: Environment
}

function region(code: string, tld: string, accountsUrl: string): DataCenterEnvironments {
  const make = (kind: 'PRODUCTION' | 'SANDBOX' | 'DEVELOPER', host: string) =>
    new Environment({
      name: `${code}.${kind}`,
      apiDomain: `https://${host}.zohoapis.${tld}`,
      accountsUrl,
    })
  return Object.freeze({
    PRODUCTION: make('PRODUCTION', 'www'),
    SANDBOX: make('SANDBOX', 'sandbox'),
    DEVELOPER: make('DEVELOPER', 'developer'),
  })
}

/**
 * Zoho's data centers, with the official SDKs' API and accounts URLs.
 *
 * @example
 * DataCenter.EU.PRODUCTION.apiDomain // 'https://www.zohoapis.eu'
 */
export const DataCenter = Object.freeze({
  US: region('US', 'com', 'https://accounts.zoho.com'),
  EU: region('EU', 'eu', 'https://accounts.zoho.eu'),
  IN: region('IN', 'in', 'https://accounts.zoho.in'),
  CN: region('CN', 'com.cn', 'https://accounts.zoho.com.cn'),
  JP: region('JP', 'jp', 'https://accounts.zoho.jp'),
  AU: region('AU', 'com.au', 'https://accounts.zoho.com.au'),
  CA: region('CA', 'ca', 'https://accounts.zohocloud.ca'),
  SA: region('SA', 'sa', 'https://accounts.zoho.sa'),
})

/** A data center's code, for example `'EU'`. */
export type DataCenterCode = keyof typeof DataCenter
