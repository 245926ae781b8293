// Which Zoho accounts server a token or a web login belongs to: a store may hold users of
// several data centers, and each token is refreshed and revoked where it was issued.
import { SDKException, InvalidArgumentError, refuseUnknownOptions } from '../errors.js'
import { DataCenter, Environment } from '../oauth/environments.js'
import {
  ZOHO_LOCATIONS,
  ZOHO_REGIONS,
  zohoLocation,
  zohoRegionOfApiDomain,
  type ZohoKind,
  type ZohoRegion,
} from './zoho.js'

/**
 * A web login's callback named an accounts server or a location that the application does not
 * accept (see {@link CallbackOptions}), or an accounts server that contradicts its `location`.
 * The code was not exchanged and the client secret went nowhere. `accountsServer` is what the callback named (an origin, or
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

/**
 * A data center of your own that a callback may name: its environment, and the `location`
 * Zoho's login sends with it. An accounts emulator's `dataCenters` are these.
 */
export interface CallbackDataCenter {
  /** The callback's `location` for it, such as `'eu'`. */
  readonly location: string
  readonly environment: Environment
}

/** What {@link environmentForCallback} takes besides the callback's parameters. */
export interface CallbackOptions {
  /** The kind of Zoho environment to sign in to; default `'PRODUCTION'`. */
  readonly kind?: ZohoKind | undefined
  /**
   * Accounts servers of your own, such as a local emulator's: `emulator.dataCenters`. One given
   * with its `location` is found by a location alone, and must agree with the callback's; an
   * Environment alone is found by its accounts server only.
   */
  readonly also?: readonly (Environment | CallbackDataCenter)[] | undefined
  /**
   * Which accounts servers the code may go to at all: `'zoho'` (Zoho's data centers only),
   * `'also'` (only those listed in `also`) or `'both'` (the default; without `also`, Zoho's).
   */
  readonly accept?: 'zoho' | 'also' | 'both' | undefined
}

const OPTIONS = ['kind', 'also', 'accept']
const KINDS: readonly ZohoKind[] = ['PRODUCTION', 'SANDBOX', 'DEVELOPER']
type Accept = NonNullable<CallbackOptions['accept']>
const ACCEPTS: readonly Accept[] = ['zoho', 'also', 'both']

/** An accounts server a callback may name: its location when known, and where it leads. */
interface Accepted {
  readonly accountsUrl: string
  readonly location: string | undefined
  readonly environment: Environment
}

/** The accounts servers `options` accept, checked; the app's own first, as they win a tie. */
function acceptedServers(options: CallbackOptions): {
  servers: Accepted[]
  accept: Accept
} {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'environmentForCallback options must be an object')
  }
  refuseUnknownOptions('environmentForCallback', options, OPTIONS)
  const kind = options.kind ?? 'PRODUCTION'
  if (!KINDS.includes(kind)) {
    throw new InvalidArgumentError('kind', 'kind must be PRODUCTION, SANDBOX or DEVELOPER')
  }
  const accept = options.accept ?? 'both'
  if (!ACCEPTS.includes(accept)) {
    throw new InvalidArgumentError('accept', "accept must be 'zoho', 'also' or 'both'")
  }
  const also = options.also ?? []
  if (!Array.isArray(also)) {
    throw new InvalidArgumentError(
      'also',
      "also must be an array of Environments or { location, environment } (an emulator's dataCenters)",
    )
  }
  if (accept === 'also' && also.length === 0) {
    throw new InvalidArgumentError(
      'also',
      "accept: 'also' with no environment listed in 'also' accepts nothing: list your accounts servers (an emulator's dataCenters)",
    )
  }
  if (accept === 'zoho' && also.length > 0) {
    throw new InvalidArgumentError(
      'also',
      "accept: 'zoho' refuses every server listed in 'also': drop one of the two, or say accept: 'both'",
    )
  }
  const servers = also.map((entry, i) => ownServer(entry, `also[${i}]`))
  servers.forEach((server, i) => {
    if (servers.findIndex((s) => s.accountsUrl === server.accountsUrl) !== i) {
      throw new InvalidArgumentError(
        `also[${i}]`,
        `also lists the accounts server ${server.accountsUrl} twice`,
      )
    }
  })
  if (accept === 'also') return { servers, accept }
  const zoho = ZOHO_REGIONS.map((region) => ({
    accountsUrl: region.accountsUrl,
    location: zohoLocation(region),
    environment: environmentOf(region, kind),
  }))
  return { servers: [...servers, ...zoho], accept }
}

function ownServer(entry: unknown, argument: string): Accepted {
  if (entry instanceof Environment) {
    return { accountsUrl: entry.accountsUrl, location: undefined, environment: entry }
  }
  const { location, environment } = (entry ?? {}) as Partial<CallbackDataCenter>
  if (!(environment instanceof Environment)) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be an Environment or { location, environment: Environment }`,
    )
  }
  if (typeof location !== 'string' || location === '') {
    throw new InvalidArgumentError(
      argument,
      `${argument}.location must be a location code such as 'eu'`,
    )
  }
  return { accountsUrl: environment.accountsUrl, location, environment }
}

/**
 * The environment a Zoho web login's code must be exchanged in, from the callback's
 * `location` and `accounts-server` parameters (Zoho's multi-data-center login, as the official
 * SDKs' `DataCenter.get(location)`). That is where the client secret will go, so it is chosen
 * only among the accounts servers the app accepts: Zoho's data centers' exactly, those listed in
 * `options.also`, or both (`options.accept`). An `accounts-server` must be one of them and agree
 * with `location`; a `location` alone must name exactly one of them. Anything else is an
 * {@link UnknownAccountsServerError}, and nothing is sent anywhere.
 *
 * @example
 * const params = new URL(request.url).searchParams // ?code=...&location=eu&accounts-server=https%3A%2F%2Faccounts.zoho.eu
 * const environment = environmentForCallback(params) // DataCenter.EU.PRODUCTION
 * // An app on a local emulator sends nothing to Zoho, even for ?code=...&location=in
 * environmentForCallback(params, { accept: 'also', also: emulator.dataCenters })
 */
export function environmentForCallback(
  params: URLSearchParams | Readonly<Record<string, string | undefined>>,
  options: CallbackOptions = {},
): Environment {
  const { servers, accept } = acceptedServers(options)
  const get = (name: string): string | undefined =>
    params instanceof URLSearchParams ? (params.get(name) ?? undefined) : params[name]
  const location = get('location')
  const server = get('accounts-server')
  const shown = location?.slice(0, 20)
  const notExchanged = 'the code was not exchanged and the client secret was not sent'
  if (location !== undefined && !knownLocation(location, servers)) {
    throw new UnknownAccountsServerError(
      `the callback's location '${shown}' is not a Zoho data center (${ZOHO_LOCATIONS.join(', ')}) nor one listed in 'also'; ${notExchanged}`,
      undefined,
    )
  }
  if (server === undefined) {
    if (location === undefined) {
      throw new InvalidArgumentError(
        'accounts-server',
        "the callback has neither 'location' nor 'accounts-server': pass the callback's query parameters as Zoho sent them",
      )
    }
    return byLocation(location, servers, accept, notExchanged)
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
  const found = bare ? servers.find((s) => s.accountsUrl === origin) : undefined
  if (found === undefined) {
    const zoho = bare && ZOHO_REGIONS.some((r) => r.accountsUrl === origin)
    throw new UnknownAccountsServerError(
      zoho
        ? `the callback's accounts-server ${origin} is Zoho's, which this app does not accept (accept: 'also'), so ${notExchanged}`
        : `the callback's accounts-server ${origin ?? '(not a URL)'} is not ${accept === 'also' ? "one listed in 'also'" : 'a Zoho accounts server'}, so ${notExchanged}. ` +
            "If it is yours (a local accounts server), list its environment in environmentForCallback's 'also' option.",
      origin,
    )
  }
  if (location !== undefined && found.location !== undefined && found.location !== location) {
    throw new UnknownAccountsServerError(
      `the callback's location '${shown}' and accounts-server ${origin} (location '${found.location}') disagree; ${notExchanged}`,
      origin,
    )
  }
  return found.environment
}

/** Whether a location is any Zoho data center's or one of the app's own; any other is refused first. */
function knownLocation(location: string, servers: readonly Accepted[]): boolean {
  return ZOHO_LOCATIONS.includes(location) || servers.some((s) => s.location === location)
}

/** The one accepted accounts server of a location, for a callback that named no server. */
function byLocation(
  location: string,
  servers: readonly Accepted[],
  accept: Accept,
  notExchanged: string,
): Environment {
  const matches = servers.filter((s) => s.location === location)
  const urls = [...new Set(matches.map((s) => s.accountsUrl))]
  if (urls.length === 0) {
    const accepted = [...new Set(servers.flatMap((s) => s.location ?? []))]
    throw new UnknownAccountsServerError(
      `the callback's location '${location}' names no accounts server this app accepts (accept: '${accept}'; locations ${accepted.join(', ') || 'none'}); ${notExchanged}`,
      undefined,
    )
  }
  if (urls.length > 1) {
    throw new UnknownAccountsServerError(
      `the callback's location '${location}' names both ${urls.join(' and ')}, and it has no accounts-server to tell which; ${notExchanged}`,
      undefined,
    )
  }
  return matches[0]!.environment
}
