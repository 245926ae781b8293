// What a session takes and how it is checked: the options of `Initializer.initialize`, the
// session's config with its defaults, and the official SDKs' rules on a token's fields.
import { InvalidArgumentError, refuseUnknownOptions, MandatoryValueError } from './errors.js'
import type { Logger, SafeLog } from './log.js'
import { CLIENT_DEFAULTS, type AccountsClient } from './oauth/client.js'
import { Environment } from './oauth/environments.js'
import type { TokenStore } from './store.js'
import { OAuthToken, typeName } from './token.js'

/** What `Session.refresh` takes. */
export interface RefreshOptions {
  /** Refresh even while the access token is valid; default `false`: only when it is due. */
  force?: boolean | undefined
}

/** Checks the options of `Session.refresh`. */
export function checkRefreshOptions(options: unknown): { force: boolean } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options',
      'refresh options must be an object such as { force: true }',
    )
  }
  refuseUnknownOptions('refresh', options, ['force'], 'options.')
  const { force = false } = options as RefreshOptions
  if (typeof force !== 'boolean') {
    throw new InvalidArgumentError('options.force', 'refresh force must be true or false')
  }
  return { force }
}

/** How a session behaves; every field has a default. */
export interface SessionConfig {
  /** Refresh when less than this remains of the access token (ms); default 60000. */
  refreshSkewMs: number
  /** Give up on one request after this long (ms); default 30000. */
  requestTimeoutMs: number
  /** Tries again after network failures, timeouts, HTTP 5xx and 429; default 2. */
  retries: number
  /** The first wait before trying again (ms), doubled each time, with jitter; default 250. */
  retryDelayMs: number
  /** After a new token, look the user up (the provider's look-up; Zoho's `/crm/v8/users?type=CurrentUser`) to name the row. */
  findUser: boolean
  /** What precedes the access token in the Authorization header; default the provider's (Zoho's `'Zoho-oauthtoken '`, standard `'Bearer '`). */
  authHeaderPrefix: string
  /** The fetch to use for every request. */
  fetch: typeof globalThis.fetch
  /** The clock, epoch ms. */
  now: () => number
  /** How long a refresh waits for another process's refresh of the same token (ms); default 10000. */
  lockTimeoutMs: number
  /**
   * Record in the store, at most once per this time (ms), that the token was used, for a
   * keeper that keeps only the tokens in use (`TokenKeeperOptions.usedWithinMs`); default 0:
   * never. Written in the background, under the token's lease, where the store keeps health.
   */
  recordUseEveryMs: number
}

const DEFAULTS: SessionConfig = {
  refreshSkewMs: 60_000,
  ...CLIENT_DEFAULTS,
  findUser: false,
  // Replaced by the environment's provider's prefix (see resolveConfig); here for its type.
  authHeaderPrefix: 'Bearer ',
  fetch: (input, init) => globalThis.fetch(input, init),
  now: () => Date.now(),
  lockTimeoutMs: 10_000,
  recordUseEveryMs: 0,
}

/**
 * What to do with a grant code that a stored row already holds (see
 * {@link InitializeOptions.exchange}).
 */
export type GrantExchange = 'always' | 'reuse-stored'

export const GRANT_EXCHANGES: readonly GrantExchange[] = ['always', 'reuse-stored']

/** What `Initializer.initialize` takes. */
export interface InitializeOptions {
  /** The data center and environment, e.g. `DataCenter.US.PRODUCTION`, or your own. */
  environment: Environment
  /** The token details: a grant code, a refresh token, an access token, an id or a user. */
  token: OAuthToken
  /** Where tokens are kept; default `new FileStore()` (`./sdk_tokens.txt`). */
  store?: TokenStore
  /** Any logger with debug/info/warn/error; default: no logging. */
  logger?: Logger
  config?: Partial<SessionConfig>
  /** The PKCE `code_verifier` of the authorization request that gave the grant code. */
  codeVerifier?: string
  /**
   * `'reuse-stored'` (default, as the official SDKs): a grant code that a stored row already
   * holds loads that row and is not exchanged again; for a server-side app whose code comes from
   * its own configuration. `'always'`: the code is always exchanged at the accounts server and
   * never used to find a row, so a code that was already used fails (`invalid_code`) and signs
   * nobody in; the spent code is not stored. Use `'always'` whenever the code arrives from a
   * browser (a web login's callback). It needs a `grantToken`.
   */
  exchange?: GrantExchange
}

/** Every option of {@link InitializeOptions}; the compiler keeps it complete. */
export const INITIALIZE_OPTIONS = {
  environment: true,
  token: true,
  store: true,
  logger: true,
  config: true,
  codeVerifier: true,
  exchange: true,
} as const satisfies Record<keyof InitializeOptions, true>

/** What sessions of one initialization share. */
export interface Context {
  readonly environment: Environment
  readonly store: TokenStore
  readonly logger: Logger | undefined
  readonly log: SafeLog
  readonly config: SessionConfig
  readonly client: AccountsClient
  /** How a grant code is treated, for this initialization and its `switchUser` sessions. */
  readonly exchange: GrantExchange
}

const STORE_METHODS = [
  'findToken',
  'findTokenById',
  'saveToken',
  'deleteToken',
  'getTokens',
  'deleteTokens',
] as const

export function resolveConfig(config: unknown, environment: Environment): SessionConfig {
  const defaults = { ...DEFAULTS, authHeaderPrefix: environment.provider.authHeaderPrefix }
  if (config === undefined) return defaults
  if (typeof config !== 'object' || config === null) {
    throw new InvalidArgumentError('config', 'config must be an object')
  }
  const resolved: Record<string, unknown> = defaults
  refuseUnknownOptions('config', config, Object.keys(DEFAULTS), 'config.')
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue
    const expected = typeof DEFAULTS[key as keyof SessionConfig]
    const ok =
      typeof value === expected &&
      (expected !== 'number' || (Number.isFinite(value) && (value as number) >= 0))
    if (!ok) {
      throw new InvalidArgumentError(
        `config.${key}`,
        `config.${key} must be ${expected === 'number' ? 'a number >= 0' : `a ${expected}`}, got ${typeName(value)}`,
      )
    }
    resolved[key] = value
  }
  return resolved as unknown as SessionConfig
}

export function checkOptions(options: InitializeOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(
      'options',
      'initialize expects { environment, token, store?, logger?, config? }',
    )
  }
  if (!(options.environment instanceof Environment)) {
    throw new InvalidArgumentError(
      'environment',
      'environment must be an Environment, such as DataCenter.US.PRODUCTION',
    )
  }
  if (options.store !== undefined) {
    const missing = STORE_METHODS.filter(
      (m) => typeof (options.store as unknown as Record<string, unknown>)[m] !== 'function',
    )
    if (missing.length > 0) {
      throw new InvalidArgumentError(
        'store',
        `store must implement TokenStore; it lacks ${missing.join(', ')}`,
      )
    }
  }
  checkToken(options.token)
}

/** The combination rule of the official SDKs, checked before anything is sent or stored. */
export function checkToken(token: unknown): asserts token is OAuthToken {
  if (!(token instanceof OAuthToken)) {
    throw new InvalidArgumentError('token', `token must be an OAuthToken, got ${typeName(token)}`)
  }
  if (
    !token.grantToken &&
    !token.refreshToken &&
    !token.accessToken &&
    !token.id &&
    !token.userSignature
  ) {
    throw new MandatoryValueError(
      'the token needs at least one of grantToken, refreshToken, accessToken, id or userSignature',
    )
  }
  if ((token.grantToken || token.refreshToken) && (!token.clientId || !token.clientSecret)) {
    throw new MandatoryValueError(
      'with a grantToken or refreshToken, clientId and clientSecret are required',
    )
  }
}
