import { InvalidArgumentError, refuseUnknownOptions, UntrustedOriginError } from '../errors.js'
import { redactTokenPatterns } from '../log.js'
import { discoverEnvironment, type DiscoverOptions } from '../providers/discover.js'
import {
  checkBudgets,
  checkClientAuth,
  checkProvider,
  type ClientAuthMethod,
  type Endpoints,
  type Provider,
  type TokenBudgets,
} from '../providers/provider.js'
import {
  ZOHO_REGIONS,
  zoho,
  zohoApiDomain,
  zohoApiOrigins,
  type ZohoKind,
} from '../providers/zoho.js'

/** What {@link Environment} is made of. */
export interface EnvironmentInit {
  /** A name for logs, for example `'US.PRODUCTION'`. */
  readonly name: string
  /** Where the APIs are, for example `https://www.zohoapis.com`. */
  readonly apiDomain: string
  /** The accounts server, for example `https://accounts.zoho.com`. */
  readonly accountsUrl: string
  /**
   * Other origins (`https://host[:port]`) the session may send the access token to, besides
   * `apiDomain`'s: where a token's stored `api_domain` or an absolute `fetch` URL may point.
   */
  readonly allowedApiOrigins?: readonly string[] | undefined
  /** Whose accounts server it is; default Zoho's (`zoho`), `oauth2` for a standard one. */
  readonly provider?: Provider | undefined
  /** Endpoints that differ from the provider's (all of them, for a provider without paths). */
  readonly endpoints?: Partial<Endpoints> | undefined
  /** How the client authenticates, when not as the provider does. */
  readonly clientAuth?: ClientAuthMethod | undefined
  /** Limits on the token endpoint that differ from the provider's, each replacing its own. */
  readonly budgets?: TokenBudgets | undefined
}

const INIT_KEYS: ReadonlySet<string> = new Set([
  'name',
  'apiDomain',
  'accountsUrl',
  'allowedApiOrigins',
  'provider',
  'endpoints',
  'clientAuth',
  'budgets',
])

/**
 * Whether a URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`. Plain http is
 * allowed to these alone, since nothing on the path between can read it.
 */
export function isLoopback(url: URL): boolean {
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Why a URL may not carry a secret, or undefined when it may. */
function unsafeTransport(url: URL): string | undefined {
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:') {
    return isLoopback(url)
      ? undefined
      : 'plain http is allowed only to this machine (localhost, 127.0.0.0/8, ::1); use https'
  }
  return 'only https (or http to this machine) is allowed'
}

function parseUrl(value: unknown, argument: string): URL {
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
  if (url.username !== '' || url.password !== '') {
    throw new InvalidArgumentError(argument, `${argument} must not hold a user name or password`)
  }
  const unsafe = unsafeTransport(url)
  if (unsafe !== undefined) throw new InvalidArgumentError(argument, `${argument}: ${unsafe}`)
  return url
}

function checkUrl(value: unknown, argument: string): string {
  parseUrl(value, argument)
  return (value as string).replace(/\/+$/, '')
}

function checkOrigins(value: unknown): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      'allowedApiOrigins',
      'allowedApiOrigins must be an array of origins such as https://api.example.com',
    )
  }
  return value.map((entry: unknown, i) => {
    const argument = `allowedApiOrigins[${i}]`
    const url = parseUrl(entry, argument)
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      throw new InvalidArgumentError(
        argument,
        `${argument} must be an origin (scheme, host and port) without a path, such as ${url.origin}`,
      )
    }
    return url.origin
  })
}

function checkEndpoints(value: unknown, provider: Provider, accountsUrl: string): Endpoints {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new InvalidArgumentError(
      'endpoints',
      'endpoints must be { authorization, token, revocation? }',
    )
  }
  const given = (value ?? {}) as Partial<Endpoints>
  refuseUnknownOptions('endpoints', given, ['authorization', 'token', 'revocation'], 'endpoints.')
  const own = provider.endpoints?.(accountsUrl)
  const pick = (key: keyof Endpoints): string | undefined => {
    const url = given[key] ?? own?.[key]
    return url === undefined ? undefined : checkUrl(url, `endpoints.${key}`)
  }
  const authorization = pick('authorization')
  const token = pick('token')
  if (authorization === undefined || token === undefined) {
    throw new InvalidArgumentError(
      'endpoints',
      `provider ${provider.name} has no endpoint paths of its own: give endpoints { authorization, token, revocation? }, or use Environment.discover(issuer)`,
    )
  }
  return Object.freeze({ authorization, token, revocation: pick('revocation') })
}

/**
 * Where a token is obtained and used: the accounts server, its endpoints and its provider's ways
 * (Zoho's by default: token endpoint `{accountsUrl}/oauth/v2/token`, revocation
 * `/oauth/v2/token/revoke`, consent `/oauth/v2/auth`), and the API domain. `DataCenter` has
 * Zoho's; make one for a local accounts server or another region, give a `provider` for another
 * OAuth 2.0 provider, or let {@link Environment.discover} read a server's metadata.
 *
 * Secrets go only where the environment says: the client secret and refresh token to
 * `accountsUrl`, the access token to `apiDomain`'s origin and `allowedApiOrigins`. Every one of
 * them must be https, or plain http to this machine (localhost, 127.0.0.0/8, ::1).
 *
 * @example
 * const local = new Environment({ name: 'local', apiDomain: 'http://127.0.0.1:4000', accountsUrl: 'http://127.0.0.1:4000' })
 */
export class Environment {
  readonly name: string
  readonly apiDomain: string
  readonly accountsUrl: string
  /** Every origin the access token may be sent to, `apiDomain`'s first. */
  readonly allowedApiOrigins: readonly string[]
  /** The provider: how to authenticate, read answers, call APIs and look the user up. */
  readonly provider: Provider
  /** Where the consent page, token and revocation endpoints are. */
  readonly endpoints: Endpoints
  /** How the client authenticates at the token and revocation endpoints. */
  readonly clientAuth: ClientAuthMethod
  /** The provider's limits on its token endpoint, as this environment has them. */
  readonly budgets: TokenBudgets

  /**
   * An environment for any OAuth 2.0 server that publishes RFC 8414 or OpenID Connect discovery
   * metadata: its endpoints and the client authentication it supports, checked (the issuer
   * must match exactly, every URL be https or loopback http).
   *
   * @example
   * const env = await Environment.discover('https://login.example.com')
   */
  static discover(issuer: string, options?: DiscoverOptions): Promise<Environment> {
    return discoverEnvironment(issuer, options, (init) => new Environment(init))
  }

  constructor(init: EnvironmentInit) {
    if (typeof init !== 'object' || init === null) {
      throw new InvalidArgumentError('init', 'Environment expects { name, apiDomain, accountsUrl }')
    }
    refuseUnknownOptions('Environment', init, INIT_KEYS)
    if (typeof init.name !== 'string' || init.name.length === 0) {
      throw new InvalidArgumentError('name', 'Environment name must be a non-empty string')
    }
    this.name = init.name
    this.apiDomain = checkUrl(init.apiDomain, 'apiDomain')
    this.accountsUrl = checkUrl(init.accountsUrl, 'accountsUrl')
    const own = new URL(this.apiDomain).origin
    this.allowedApiOrigins = Object.freeze([
      ...new Set([own, ...checkOrigins(init.allowedApiOrigins)]),
    ])
    this.provider = checkProvider(init.provider, zoho)
    this.endpoints = checkEndpoints(init.endpoints, this.provider, this.accountsUrl)
    this.clientAuth = checkClientAuth(init.clientAuth, this.provider)
    this.budgets = checkBudgets(init.budgets, this.provider)
    redactTokenPatterns(this.provider.tokenPatterns)
    Object.freeze(this)
  }

  /** The token endpoint. */
  get tokenUrl(): string {
    return this.endpoints.token
  }

  /**
   * The revocation endpoint. An environment without one (see `endpoints.revocation`) throws an
   * {@link InvalidArgumentError} that says so.
   */
  get revokeUrl(): string {
    if (this.endpoints.revocation !== undefined) return this.endpoints.revocation
    throw new InvalidArgumentError(
      'environment',
      `environment ${this.name} has no revocation endpoint, so a token cannot be revoked there; delete it from the store, and revoke it in the provider's console if it must stop working now`,
    )
  }

  /** The consent page. */
  get authorizeUrl(): string {
    return this.endpoints.authorization
  }

  /**
   * Whether the access token may be sent to this URL: its origin is one of
   * {@link allowedApiOrigins} and it holds no user name or password. A string that is not a
   * URL is not allowed.
   *
   * @example
   * DataCenter.US.PRODUCTION.allowsApiOrigin('https://www.zohoapis.com/crm/v8/Leads') // true
   * DataCenter.US.PRODUCTION.allowsApiOrigin('https://www.zohoapis.eu') // false
   */
  allowsApiOrigin(url: string | URL): boolean {
    let parsed: URL
    try {
      parsed = typeof url === 'string' ? new URL(url) : url
    } catch {
      return false
    }
    // Credentials in the URL would go along (and show in fetch's errors): never allowed.
    if (parsed.username !== '' || parsed.password !== '') return false
    return this.allowedApiOrigins.includes(parsed.origin)
  }

  toString(): string {
    return `Environment(${this.name})`
  }
}

/**
 * Why the access token may not go to `url` (undefined: not a URL), naming the origin, what is
 * allowed and how to allow more. `what` says where the URL came from. Only the origin is shown,
 * never a path or query.
 */
export function originRefusal(
  environment: Environment,
  url: URL | undefined,
  what: string,
): string {
  if (url === undefined) return `${what} is not a URL; the access token was not sent`
  const origin = url.origin === 'null' ? `a ${url.protocol} URL` : url.origin
  const transport = unsafeTransport(url)
  return (
    `${what} points at ${origin}, which environment ${environment.name} does not allow` +
    `${transport === undefined ? '' : ` (${transport})`}, so the access token was not sent. ` +
    `Allowed: ${environment.allowedApiOrigins.join(', ')}. If that origin is yours, list it in ` +
    'new Environment({ ..., allowedApiOrigins }); if not, the value was changed outside tokenkeeper.'
  )
}

/**
 * The URL a request with the access token may go to (`value` against `base`), or an
 * {@link UntrustedOriginError} that says which origin was refused and how to allow it.
 */
export function requireApiUrl(
  environment: Environment,
  value: string,
  what: string,
  base?: URL,
): URL {
  const url = URL.canParse(value, base?.href) ? new URL(value, base) : undefined
  if (url !== undefined && environment.allowsApiOrigin(url)) return url
  throw new UntrustedOriginError(originRefusal(environment, url, what), {
    origin: url === undefined || url.origin === 'null' ? undefined : url.origin,
    environment: environment.name,
  })
}

/** The three environments of a Zoho data center. */
export interface DataCenterEnvironments {
  readonly PRODUCTION: Environment
  readonly SANDBOX: Environment
  readonly DEVELOPER: Environment
}

function region(code: (typeof ZOHO_REGIONS)[number]['code']): DataCenterEnvironments {
  const zone = ZOHO_REGIONS.find((r) => r.code === code)!
  const make = (kind: ZohoKind) =>
    new Environment({
      name: `${code}.${kind}`,
      apiDomain: zohoApiDomain(zone, kind),
      accountsUrl: zone.accountsUrl,
      allowedApiOrigins: zohoApiOrigins(zone),
      provider: zoho,
    })
  return Object.freeze({
    PRODUCTION: make('PRODUCTION'),
    SANDBOX: make('SANDBOX'),
    DEVELOPER: make('DEVELOPER'),
  })
}

/**
 * Zoho's data centers, with the official SDKs' API and accounts URLs. Each environment sends
 * the access token only to its own data center's API hosts (`https://www.zohoapis.eu`,
 * `https://sandbox.zohoapis.eu`, ... for EU).
 *
 * @example
 * DataCenter.EU.PRODUCTION.apiDomain // 'https://www.zohoapis.eu'
 */
export const DataCenter = Object.freeze({
  US: region('US'),
  EU: region('EU'),
  IN: region('IN'),
  CN: region('CN'),
  JP: region('JP'),
  AU: region('AU'),
  CA: region('CA'),
  SA: region('SA'),
})

/** A data center's code, for example `'EU'`. */
export type DataCenterCode = keyof typeof DataCenter
