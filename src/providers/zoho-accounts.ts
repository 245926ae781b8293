// Which Zoho accounts server a token or a web login belongs to: a store may hold users of
// several data centers, and each token is refreshed and revoked where it was issued.
import { SDKException, InvalidArgumentError } from '../errors.js'
import { DataCenter, type Environment } from '../oauth/environments.js'
import {
  ZOHO_REGIONS,
  zohoRegionOfApiDomain,
  zohoRegionOfLocation,
  type ZohoKind,
  type ZohoRegion,
} from './zoho.js'

/**
 * A web login's callback named an accounts server that is not one of Zoho's (nor one the
 * application listed), or one that contradicts its `location`. The code was not exchanged and
 * the client secret went nowhere. `accountsServer` is what the callback named (an origin, or
 * undefined when it was not a URL); it is public, not a secret.
 */
export class UnknownAccountsServerError extends SDKException {
  static readonly code = 'UNKNOWN_ACCOUNTS_SERVER'
  readonly accountsServer: string | undefined
  constructor(message: string, accountsServer: string | undefined) {
    super(UnknownAccountsServerError.code, message)
    this.accountsServer = accountsServer
  }
}

/**
 * The Zoho environment a token belongs to, from its API domain (`https://www.zohoapis.eu` is
 * `DataCenter.EU.PRODUCTION`), or undefined when the token names no Zoho API host.
 *
 * @example
 * dataCenterOf({ apiDomain: 'https://sandbox.zohoapis.in' }) === DataCenter.IN.SANDBOX // true
 */
export function dataCenterOf(token: {
  readonly apiDomain?: string | undefined
}): Environment | undefined {
  const found = token.apiDomain === undefined ? undefined : zohoRegionOfApiDomain(token.apiDomain)
  return found === undefined ? undefined : environmentOf(found.region, found.kind)
}

function environmentOf(region: ZohoRegion, kind: ZohoKind): Environment {
  return DataCenter[region.code as keyof typeof DataCenter][kind]
}

/** What {@link environmentForCallback} takes besides the callback's parameters. */
export interface CallbackOptions {
  /** The kind of environment to sign in to; default `'PRODUCTION'`. */
  readonly kind?: ZohoKind | undefined
  /** Accounts servers of your own accepted beside Zoho's, such as a local emulator's. */
  readonly also?: readonly Environment[] | undefined
}

/**
 * The environment a Zoho web login's code must be exchanged in, from the callback's
 * `location` and `accounts-server` parameters (Zoho's multi-data-center login, as the official
 * SDKs' `DataCenter.get(location)`). The `accounts-server` is where the client secret will go,
 * so it is accepted only when it is exactly a Zoho data center's accounts server (or one in
 * `options.also`) and agrees with `location`; anything else is an
 * {@link UnknownAccountsServerError}, and nothing is sent anywhere.
 *
 * @example
 * const params = new URL(request.url).searchParams // ?code=...&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu
 * const environment = environmentForCallback(params) // DataCenter.EU.PRODUCTION
 */
export function environmentForCallback(
  params: URLSearchParams | Readonly<Record<string, string | undefined>>,
  options: CallbackOptions = {},
): Environment {
  const get = (name: string): string | undefined =>
    params instanceof URLSearchParams ? (params.get(name) ?? undefined) : params[name]
  const kind = options.kind ?? 'PRODUCTION'
  if (!['PRODUCTION', 'SANDBOX', 'DEVELOPER'].includes(kind)) {
    throw new InvalidArgumentError('kind', 'kind must be PRODUCTION, SANDBOX or DEVELOPER')
  }
  const location = get('location')
  const server = get('accounts-server')
  const byLocation = location === undefined ? undefined : zohoRegionOfLocation(location)
  if (location !== undefined && byLocation === undefined) {
    throw new UnknownAccountsServerError(
      `the callback's location '${location.slice(0, 20)}' is not a Zoho data center (${ZOHO_REGIONS.map((r) => r.code.toLowerCase()).join(', ')}); the code was not exchanged`,
      undefined,
    )
  }
  if (server === undefined) {
    if (byLocation !== undefined) return environmentOf(byLocation, kind)
    throw new InvalidArgumentError(
      'accounts-server',
      "the callback has neither 'location' nor 'accounts-server': pass the callback's query parameters as Zoho sent them",
    )
  }
  const url = URL.canParse(server) ? new URL(server) : undefined
  const origin = url === undefined || url.origin === 'null' ? undefined : url.origin
  // An accounts server is an origin: a path, query or credentials make it something else.
  const bare =
    url !== undefined &&
    (url.pathname === '/' || url.pathname === '') &&
    url.search === '' &&
    url.username === '' &&
    url.password === ''
  const region = bare ? ZOHO_REGIONS.find((r) => r.accountsUrl === origin) : undefined
  const own = bare ? options.also?.find((e) => e.accountsUrl === origin) : undefined
  if (region === undefined && own === undefined) {
    throw new UnknownAccountsServerError(
      `the callback's accounts-server ${origin ?? '(not a URL)'} is not a Zoho accounts server, so the code was not exchanged and the client secret was not sent. ` +
        "If it is yours (a local accounts server), list its environment in environmentForCallback's 'also' option.",
      origin,
    )
  }
  if (region !== undefined && byLocation !== undefined && byLocation !== region) {
    throw new UnknownAccountsServerError(
      `the callback's location '${location}' (${byLocation.accountsUrl}) and accounts-server ${origin} disagree; the code was not exchanged`,
      origin,
    )
  }
  return own ?? environmentOf(region!, kind)
}
