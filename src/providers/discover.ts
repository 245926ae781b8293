// Environment.discover: an environment from a server's own metadata (RFC 8414, OpenID Connect
// Discovery 1.0), trusted only once its issuer is the one asked for and its URLs are safe.
import { isLoopback, type EnvironmentInit, type Environment } from '../oauth/environments.js'
import {
  InvalidArgumentError,
  NetworkError,
  SDKException,
  TimeoutError,
  refuseUnknownOptions,
} from '../errors.js'
import { escapeControl } from '../log.js'
import { discard, readCapped } from '../oauth/response.js'
import {
  CLIENT_AUTH_METHODS,
  oauth2,
  type ClientAuthMethod,
  type Provider,
  type TokenBudgets,
} from './provider.js'

/** What `Environment.discover` takes besides the issuer. */
export interface DiscoverOptions {
  /** A name for logs; default the issuer's host. */
  readonly name?: string | undefined
  /** Where the APIs are; default the issuer. */
  readonly apiDomain?: string | undefined
  /** Other origins the access token may go to (see `EnvironmentInit.allowedApiOrigins`). */
  readonly allowedApiOrigins?: readonly string[] | undefined
  /** Use this client authentication (it must be one the server supports); default: chosen. */
  readonly clientAuth?: ClientAuthMethod | undefined
  /** The server's limits on its token endpoint, when known. */
  readonly budgets?: TokenBudgets | undefined
  /** The fetch to use; default the global one. */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** Give up after this long in all (ms); default 10000. */
  readonly timeoutMs?: number | undefined
}

const OPTIONS = [
  'name',
  'apiDomain',
  'allowedApiOrigins',
  'clientAuth',
  'budgets',
  'fetch',
  'timeoutMs',
] as const satisfies readonly (keyof DiscoverOptions)[]

/** Why discovery failed, for code that branches on it. */
export type DiscoveryFailure =
  | 'not_found'
  | 'http_error'
  | 'redirect'
  | 'invalid_metadata'
  | 'issuer_mismatch'
  | 'insecure_url'
  | 'unsupported_auth'

/**
 * A server's discovery metadata could not be found or trusted. `reason` says which check failed;
 * the message says what was found and what to do. Nothing in it is secret: metadata is public.
 */
export class DiscoveryError extends SDKException {
  static readonly code = 'DISCOVERY_FAILED'
  readonly reason: DiscoveryFailure
  readonly issuer: string
  constructor(reason: DiscoveryFailure, issuer: string, message: string) {
    super(DiscoveryError.code, message)
    this.reason = reason
    this.issuer = issuer
  }
}

/** The most of a metadata document that is read; real ones are a few kilobytes. */
const MAX_METADATA_BYTES = 256 * 1024
/** Redirects followed within the issuer's origin; one to another origin is refused. */
const MAX_REDIRECTS = 3

/** Text the server chose, as a message may show it: one line, at most 200 characters. */
const shown = (text: string): string => escapeControl(text.slice(0, 200))

/** The URL of a metadata document may be https, or http to this machine only. */
function safeTransport(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url))
}

function checkIssuer(issuer: unknown): URL {
  const url = typeof issuer === 'string' && URL.canParse(issuer) ? new URL(issuer) : undefined
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new InvalidArgumentError(
      'issuer',
      'issuer must be an https URL such as https://login.example.com',
    )
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new InvalidArgumentError(
      'issuer',
      'issuer must have no user name, password, query or fragment (RFC 8414 §2)',
    )
  }
  if (!safeTransport(url)) {
    throw new InvalidArgumentError(
      'issuer',
      'issuer must be https; plain http is allowed only to this machine (localhost, 127.0.0.0/8, ::1)',
    )
  }
  return url
}

/** Where the metadata may be: RFC 8414's well-known URL first, then OpenID Connect's. */
function metadataUrls(issuer: URL): URL[] {
  const path = issuer.pathname === '/' ? '' : issuer.pathname.replace(/\/+$/, '')
  return [
    new URL(`${issuer.origin}/.well-known/oauth-authorization-server${path}`),
    new URL(`${issuer.origin}${path}/.well-known/openid-configuration`),
  ]
}

/**
 * Reads and checks an issuer's metadata and makes an environment of it with `make` (the
 * Environment constructor, passed in so this module does not import it).
 */
export async function discoverEnvironment(
  issuer: string,
  options: DiscoverOptions | undefined,
  make: (init: EnvironmentInit) => Environment,
): Promise<Environment> {
  const issuerUrl = checkIssuer(issuer)
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('options', 'discover options must be an object')
  }
  const opts = options ?? {}
  refuseUnknownOptions('Environment.discover', opts, OPTIONS, 'options.')
  const timeoutMs = opts.timeoutMs ?? 10_000
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new InvalidArgumentError('options.timeoutMs', 'timeoutMs must be a number of ms above 0')
  }
  const fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const signal = AbortSignal.timeout(timeoutMs)
  const fail = (reason: DiscoveryFailure, message: string) =>
    new DiscoveryError(reason, issuer, `discovery of ${issuer}: ${message}`)

  let metadata: Record<string, unknown> | undefined
  const tried: string[] = []
  for (const first of metadataUrls(issuerUrl)) {
    tried.push(first.href)
    metadata = await fetchMetadata(first, issuerUrl, fetch, signal, timeoutMs, fail)
    if (metadata !== undefined) break
  }
  if (metadata === undefined) {
    throw fail(
      'not_found',
      `no metadata at ${tried.join(' nor ')} (HTTP 404). Check the issuer URL, or build the environment with new Environment({ provider, endpoints, ... })`,
    )
  }

  if (metadata.issuer !== issuer) {
    const found = typeof metadata.issuer === 'string' ? `'${shown(metadata.issuer)}'` : 'none'
    throw fail(
      'issuer_mismatch',
      `the metadata names issuer ${found}, not '${issuer}'; it must match exactly (RFC 8414 §3.3). If the server is right, pass its issuer exactly as it writes it`,
    )
  }
  const endpoint = (field: string, required: boolean): string | undefined => {
    const value = metadata[field]
    if (value === undefined && !required) return undefined
    if (typeof value !== 'string' || !URL.canParse(value)) {
      throw fail('invalid_metadata', `${field} is ${value === undefined ? 'missing' : 'not a URL'}`)
    }
    const url = new URL(value)
    if (url.username !== '' || url.password !== '' || !safeTransport(url)) {
      throw fail(
        'insecure_url',
        `${field} ${url.origin} is not https (plain http is allowed only to this machine) or holds credentials; secrets are never sent there`,
      )
    }
    return value
  }
  const authorization = endpoint('authorization_endpoint', true)!
  const token = endpoint('token_endpoint', true)!
  const revocation = endpoint('revocation_endpoint', false)
  const userinfo = endpoint('userinfo_endpoint', false)
  const clientAuth = chooseClientAuth(metadata, opts.clientAuth, fail)

  const provider: Provider = Object.freeze({
    ...oauth2,
    currentUser:
      userinfo === undefined
        ? undefined
        : Object.freeze({
            path: userinfo,
            // OpenID Connect's UserInfo: the e-mail when the scope gave it, else the subject.
            name: (body: unknown) => {
              const claims = (body ?? {}) as { email?: unknown; sub?: unknown }
              const name = typeof claims.email === 'string' ? claims.email : claims.sub
              return typeof name === 'string' && name.length > 0 ? name : undefined
            },
          }),
  })
  const origins = [...(opts.allowedApiOrigins ?? [])]
  // The access token is meant for the UserInfo endpoint (OpenID Connect Core §5.3).
  if (userinfo !== undefined) origins.push(new URL(userinfo).origin)
  return make({
    name: opts.name ?? issuerUrl.host,
    apiDomain: opts.apiDomain ?? issuer,
    accountsUrl: issuer,
    allowedApiOrigins: origins,
    provider,
    endpoints: { authorization, token, revocation },
    clientAuth,
    budgets: opts.budgets,
  })
}

/** Basic when the server takes it (RFC 6749 says it must), else post; the choice is checked. */
function chooseClientAuth(
  metadata: Record<string, unknown>,
  wanted: ClientAuthMethod | undefined,
  fail: (reason: DiscoveryFailure, message: string) => DiscoveryError,
): ClientAuthMethod {
  const field = metadata.token_endpoint_auth_methods_supported
  // RFC 8414 §2: absent means client_secret_basic.
  const supported: unknown[] = field === undefined ? ['client_secret_basic'] : (field as unknown[])
  if (!Array.isArray(supported) || supported.some((m) => typeof m !== 'string')) {
    throw fail('invalid_metadata', 'token_endpoint_auth_methods_supported is not a list of names')
  }
  if (wanted !== undefined) {
    if (!CLIENT_AUTH_METHODS.includes(wanted)) {
      throw new InvalidArgumentError(
        'options.clientAuth',
        `clientAuth must be one of ${CLIENT_AUTH_METHODS.join(', ')}`,
      )
    }
    if (supported.includes(wanted)) return wanted
    throw fail(
      'unsupported_auth',
      `the server does not accept ${wanted}; it accepts ${shown(supported.join(', '))}`,
    )
  }
  // One method serves both endpoints: one the revocation endpoint lists too, when it lists any.
  const atRevocation = metadata.revocation_endpoint_auth_methods_supported
  const both = Array.isArray(atRevocation)
    ? CLIENT_AUTH_METHODS.find((m) => supported.includes(m) && atRevocation.includes(m))
    : undefined
  const chosen = both ?? CLIENT_AUTH_METHODS.find((m) => supported.includes(m))
  if (chosen !== undefined) return chosen
  throw fail(
    'unsupported_auth',
    `the token endpoint accepts ${shown(supported.join(', ')) || 'nothing'}, none of which tokenkeeper sends (client_secret_basic, client_secret_post)`,
  )
}

/** The metadata at `start` (following redirects within the issuer's origin), or undefined on 404. */
async function fetchMetadata(
  start: URL,
  issuer: URL,
  fetch: typeof globalThis.fetch,
  signal: AbortSignal,
  timeoutMs: number,
  fail: (reason: DiscoveryFailure, message: string) => DiscoveryError,
): Promise<Record<string, unknown> | undefined> {
  let url = start
  for (let hop = 0; ; hop += 1) {
    let response: Response
    try {
      response = await fetch(url.href, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
        signal,
      })
    } catch (err) {
      const name = (err as { name?: unknown }).name
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new TimeoutError(`discovery of ${issuer.href}: no answer within ${timeoutMs} ms`, {
          cause: err,
        })
      }
      throw new NetworkError(`discovery: cannot reach ${url.origin}`, { cause: err })
    }
    const { status } = response
    if (status === 404 || status === 410) {
      await discard(response)
      return undefined
    }
    if (status >= 300 && status < 400) {
      await discard(response)
      const location = response.headers.get('location')
      const next =
        location !== null && URL.canParse(location, url.href) ? new URL(location, url) : undefined
      // Metadata from another origin would let that origin choose where secrets go.
      if (next === undefined || next.origin !== issuer.origin || hop >= MAX_REDIRECTS) {
        throw fail(
          'redirect',
          `${url.href} redirects (HTTP ${status}) to ${next?.origin ?? 'nowhere usable'}; discovery follows redirects within ${issuer.origin} only (at most ${MAX_REDIRECTS})`,
        )
      }
      url = next
      continue
    }
    if (status !== 200) {
      await discard(response)
      throw fail('http_error', `${url.href} answered HTTP ${status}`)
    }
    let body: string
    try {
      body = await readCapped(response, MAX_METADATA_BYTES)
    } catch (err) {
      if (err instanceof SDKException) throw err
      throw new NetworkError(`discovery: the answer of ${url.origin} broke off`, { cause: err })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      // Not JSON: refused below.
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw fail('invalid_metadata', `${url.href} did not answer with a JSON object`)
    }
    return parsed as Record<string, unknown>
  }
}
