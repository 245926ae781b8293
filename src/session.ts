import {
  BudgetExceededError,
  InvalidArgumentError,
  refuseUnknownOptions,
  InvalidHeaderError,
  MandatoryValueError,
  NetworkError,
  TimeoutError,
  describeCause,
  SDKException,
  TokenNotFoundError,
} from './errors.js'
import { emit } from './events.js'
import { SafeLog, type Logger } from './log.js'
import { AccountsClient, CLIENT_DEFAULTS } from './oauth/client.js'
import { Environment, originRefusal, requireApiUrl } from './oauth/environments.js'
import { isTokenText } from './oauth/messages.js'
import { refreshStoredToken, who, withGrant } from './refresh/coordinator.js'
import { recordUse } from './usage.js'
import { traced } from './telemetry/tracing.js'
import { takeFromBudget } from './budget.js'
import { revokeStoredToken } from './revocation.js'
import type { TokenStore } from './store.js'
import { FileStore } from './stores/file.js'
import { OAuthToken, UserSignature, needsRefresh, refreshDueAt, typeName } from './token.js'

/** What {@link Session.refresh} takes. */
export interface RefreshOptions {
  /** Refresh even while the access token is valid; default `false`: only when it is due. */
  force?: boolean | undefined
}

/** Checks the options of {@link Session.refresh}. */
function checkRefreshOptions(options: unknown): { force: boolean } {
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

const GRANT_EXCHANGES: readonly GrantExchange[] = ['always', 'reuse-stored']

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
const INITIALIZE_OPTIONS = {
  environment: true,
  token: true,
  store: true,
  logger: true,
  config: true,
  codeVerifier: true,
  exchange: true,
} as const satisfies Record<keyof InitializeOptions, true>

/** What sessions of one initialization share. */
interface Context {
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

function resolveConfig(config: unknown, environment: Environment): SessionConfig {
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

function checkOptions(options: InitializeOptions): void {
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
function checkToken(token: unknown): asserts token is OAuthToken {
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

/**
 * Starts sessions: the official SDKs' `Initializer`, without the global singleton. Each call
 * gives an independent {@link Session}; many users live side by side in one process.
 *
 * @example
 * const session = await Initializer.initialize({
 *   environment: DataCenter.US.PRODUCTION,
 *   token: new OAuthToken({ clientId, clientSecret, grantToken: code, redirectUrl }),
 *   store: new SQLiteStore(),
 * })
 * const leads = await session.fetch('/crm/v8/Leads')
 */
export const Initializer = Object.freeze({
  /**
   * Loads or obtains the token at once: finds it in the store (by id when given), exchanges a
   * grant code, or refreshes; saves what changed; and gives a session for it.
   */
  async initialize(options: InitializeOptions): Promise<Session> {
    checkOptions(options)
    // A misspelt option (say `alwaysExchange`) must not silently leave the default in force.
    refuseUnknownOptions('initialize', options, Object.keys(INITIALIZE_OPTIONS))
    const exchange = options.exchange ?? 'reuse-stored'
    if (!GRANT_EXCHANGES.includes(exchange)) {
      throw new InvalidArgumentError(
        'exchange',
        // The value is not echoed: a misplaced argument could be a secret.
        `exchange must be 'always' or 'reuse-stored', got another ${typeName(exchange)}`,
      )
    }
    if (exchange === 'always' && !options.token.grantToken) {
      throw new MandatoryValueError(
        "exchange: 'always' needs a grantToken: the code to exchange at the accounts server",
      )
    }
    const config = resolveConfig(options.config, options.environment)
    const log = new SafeLog(options.logger)
    const context: Context = {
      environment: options.environment,
      store: options.store ?? new FileStore(),
      logger: options.logger,
      log,
      config,
      client: new AccountsClient(options.environment, {
        fetch: config.fetch,
        requestTimeoutMs: config.requestTimeoutMs,
        retries: config.retries,
        retryDelayMs: config.retryDelayMs,
        now: config.now,
        log,
      }),
      exchange,
    }
    if (
      options.codeVerifier !== undefined &&
      (typeof options.codeVerifier !== 'string' || options.codeVerifier.length < 43)
    ) {
      throw new InvalidArgumentError(
        'codeVerifier',
        'codeVerifier must be the PKCE verifier string (43 to 128 characters)',
      )
    }
    return Session.start(context, options.token, options.codeVerifier)
  },
})

/**
 * One user's token in use: an access token on demand, refreshed ahead of expiry and saved;
 * requests with the token; revocation. Valid tokens are served from memory, without touching
 * the store.
 */
export class Session {
  readonly #context: Context
  #token: OAuthToken
  #ended = false
  /** When the token in memory is due for a refresh (see `refreshDueAt`), epoch ms. */
  #dueAt: number
  /** The token in memory is newer than the stored one: its last save failed. */
  #unsaved = false
  /** When this session last set out to record a use (see `recordUseEveryMs`), epoch ms. */
  #useNotedAt = -Infinity

  private constructor(context: Context, token: OAuthToken) {
    this.#context = context
    this.#token = token
    this.#dueAt = refreshDueAt(token, context.config.refreshSkewMs)
    context.log.forget(token.clientSecret, token.grantToken, token.refreshToken, token.accessToken)
  }

  /** @internal Used by {@link Initializer.initialize}. */
  static async start(context: Context, given: OAuthToken, codeVerifier?: string): Promise<Session> {
    const session = new Session(context, given.clone())
    await session.#load(given, codeVerifier)
    return session
  }

  /** The environment the session works in. */
  get environment(): Environment {
    return this.#context.environment
  }

  /** The store the session keeps its token in. */
  get store(): TokenStore {
    return this.#context.store
  }

  /** A copy of the current token (its secrets show redacted when printed). */
  get token(): OAuthToken {
    return this.#token.clone()
  }

  /** The stored token's id. */
  get id(): string | undefined {
    return this.#token.id
  }

  /** The user's name, when known. */
  get userName(): string | undefined {
    return this.#token.userSignature?.name
  }

  /**
   * A valid access token: from memory while it has more than `refreshSkewMs` left, otherwise
   * refreshed (one refresh for all concurrent callers) and saved before it is returned.
   */
  async getAccessToken(): Promise<string> {
    const token = this.#token
    if (this.#context.config.now() < this.#dueAt && !this.#ended) {
      this.#noteUse()
      return token.accessToken!
    }
    this.#assertActive()
    if (token.accessToken !== undefined && token.expiryTime === undefined && !token.refreshToken) {
      // An access token alone, of unknown lifetime: used until the server refuses it.
      return token.accessToken
    }
    const accessToken = (await this.#refresh(false, undefined)).accessToken!
    this.#noteUse()
    return accessToken
  }

  /**
   * Records in the background that the token is in use, at most once per `recordUseEveryMs`;
   * the caller never waits for it, and a failure only logs.
   */
  #noteUse(): void {
    const { config, store, log } = this.#context
    const id = this.#token.id
    const at = config.now()
    if (config.recordUseEveryMs === 0 || id === undefined) return
    if (at - this.#useNotedAt < config.recordUseEveryMs) return
    this.#useNotedAt = at
    recordUse(store, id, at).then(
      (recorded) => {
        if (recorded) emit('token.use_recorded', { id, at })
      },
      (err: unknown) => {
        log.warn('the use of the token could not be recorded', {
          id,
          code: (err as { code?: string }).code ?? 'UNKNOWN',
        })
      },
    )
  }

  /**
   * Refreshes the token now, under the same single-flight and cross-process coordination as any
   * refresh, and resolves to a copy of the token then held. Without `force`, only a token due
   * for a refresh (see `needsRefresh`) is refreshed, as `getAccessToken` would. With `force`,
   * the access token this session holds is replaced even while it is valid (after a change of
   * scopes, or when it is suspected leaked); a refresh that replaced it meanwhile, by another
   * caller or process, answers instead of a second one.
   *
   * @example
   * const token = await session.refresh({ force: true })
   */
  async refresh(options: RefreshOptions = {}): Promise<OAuthToken> {
    const { force } = checkRefreshOptions(options)
    this.#assertActive()
    if (!force) {
      await this.getAccessToken()
      return this.token
    }
    return (await this.#refresh(true, this.#token.accessToken)).clone()
  }

  /**
   * A request to the API with the access token: `path` is relative to the token's API domain.
   * On HTTP 401 the token is refreshed once and the request sent once more.
   *
   * @example
   * const response = await session.fetch('/crm/v8/Leads')
   * const { data } = await response.json()
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    this.#assertActive()
    const url = this.#url(path)
    const { config } = this.#context
    const send = (accessToken: string): Promise<Response> => {
      const headers = this.#headers(init.headers, accessToken)
      const timeout = AbortSignal.timeout(config.requestTimeoutMs)
      const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout
      return config.fetch(url, { ...init, headers, signal }).catch((err: unknown) => {
        // The caller's own abort stays theirs; anything else becomes a typed error.
        if (init.signal?.aborted) throw err
        const name = (err as { name?: unknown }).name
        if (name === 'TimeoutError' || name === 'AbortError') {
          throw new TimeoutError(
            `${url.origin} did not answer within ${config.requestTimeoutMs} ms`,
            { cause: err },
          )
        }
        throw new NetworkError(`cannot reach ${url.origin}: ${describeCause(err)}`, { cause: err })
      })
    }
    const first = await this.getAccessToken()
    const response = await send(first)
    if (response.status !== 401) return response
    await response.body?.cancel()
    this.#context.log.info('request refused with 401, refreshing once', who(this.#token))
    const fresh = await this.#refresh(true, first)
    return send(fresh.accessToken!)
  }

  /** A session for another user, with this one's environment, store, logger and config. */
  switchUser(token: OAuthToken): Promise<Session> {
    checkToken(token)
    return Session.start(this.#context, token)
  }

  /**
   * Revokes the token at the accounts server (the refresh token, and with it every access
   * token), then deletes its row. The session cannot be used afterwards.
   */
  async revoke(): Promise<void> {
    this.#assertActive()
    const token = this.#token
    const { store, client, log, config } = this.#context
    // Under the token's lease, the stored token (another process may have rotated it) and this
    // session's own are revoked, then the row deleted.
    await revokeStoredToken(store, token.id, client, {
      known: token,
      log,
      lockTimeoutMs: config.lockTimeoutMs,
    })
    this.#ended = true
    log.info('token revoked', who(token))
  }

  /** Deletes the token's row, without revoking it. The session cannot be used afterwards. */
  async remove(): Promise<void> {
    this.#assertActive()
    if (this.#token.id) await this.#context.store.deleteToken(this.#token.id)
    this.#ended = true
    this.#context.log.info('token removed', who(this.#token))
  }

  toString(): string {
    return `Session(${this.#context.environment.name}, ${this.#token.toString()})`
  }

  toJSON(): Record<string, unknown> {
    return { environment: this.#context.environment.name, token: this.#token.toJSON() }
  }

  #assertActive(): void {
    if (this.#ended) {
      throw new SDKException(
        'SESSION_ENDED',
        'this session was revoked or removed; initialize a new one',
      )
    }
  }

  /**
   * Where a request goes: `path` against the token's API domain. The token's `api_domain` and
   * the final URL must both be origins the environment allows: a row pointed elsewhere by
   * someone with write access to the store (an UntrustedOriginError), or a path leading to
   * another host (an InvalidArgumentError), sends nothing.
   */
  #url(path: string): URL {
    if (typeof path !== 'string' || path.length === 0) {
      throw new InvalidArgumentError(
        'path',
        'path must be a non-empty string such as /crm/v8/Leads',
      )
    }
    const { environment } = this.#context
    const base = requireApiUrl(
      environment,
      this.#token.apiDomain ?? environment.apiDomain,
      "the token's api_domain",
    )
    const url = URL.canParse(path, base.href) ? new URL(path, base) : undefined
    if (url === undefined || !environment.allowsApiOrigin(url)) {
      throw new InvalidArgumentError('path', originRefusal(environment, url, 'path'))
    }
    return url
  }

  /**
   * The request's headers with the access token. A value `Headers` refuses (a control or
   * non-Latin-1 character) is a typed error that never shows the value: the raw TypeError
   * would quote it, token included.
   */
  #headers(given: RequestInit['headers'], accessToken: string): Headers {
    let headers: Headers
    try {
      headers = new Headers(given)
    } catch {
      throw new InvalidHeaderError(
        'init.headers',
        'a header in init.headers holds characters HTTP forbids (a control character, a line break or a character beyond Latin-1); nothing was sent',
      )
    }
    const prefix = this.#context.config.authHeaderPrefix
    if (!isTokenText(accessToken) || !isTokenText(prefix)) {
      throw new InvalidHeaderError(
        'authorization',
        `the ${isTokenText(prefix) ? 'access token' : 'authHeaderPrefix'} holds characters other than visible ASCII (a control character, a line break or a non-ASCII character) and cannot be sent; nothing was sent. ` +
          'A stored token like this was changed outside tokenkeeper: refresh it or sign in again.',
      )
    }
    headers.set('authorization', `${prefix}${accessToken}`)
    return headers
  }

  /** Finds, exchanges or refreshes the token, and saves what changed. */
  async #load(given: OAuthToken, codeVerifier: string | undefined): Promise<void> {
    const { store, log, client, config } = this.#context
    // With exchange 'always' nothing is looked up before the exchange: a row is never found by
    // a code, and whose row it is comes from the new tokens (or the user look-up) afterwards.
    const always = this.#context.exchange === 'always' && given.grantToken !== undefined
    const found = always
      ? null
      : given.id
        ? await store.findTokenById(given.id)
        : await store.findToken(given)
    if (given.id && !found && !given.grantToken && !given.refreshToken && !given.accessToken) {
      throw new TokenNotFoundError(`the store has no token with id ${given.id}`)
    }
    let token: OAuthToken
    if (found && !(given.grantToken && given.grantToken !== found.grantToken)) {
      // The same grant code again, or no code: the stored token answers, the code is not spent.
      token = found
      token.clientId ??= given.clientId
      token.clientSecret ??= given.clientSecret
      token.redirectUrl ??= given.redirectUrl
      log.info('token found in the store', who(token))
      this.#adopt(token)
      if (needsRefresh(token, config.now(), config.refreshSkewMs) && token.refreshToken) {
        await this.#refresh(false, undefined)
      }
      return
    }
    if (given.grantToken) {
      const started = performance.now()
      const grantToken = given.grantToken
      await this.#takeExchangeBudget(given.clientId!)
      const grant = await traced('exchange', 'tokenkeeper.exchange', {}, () =>
        client.exchangeGrant({
          clientId: given.clientId!,
          clientSecret: given.clientSecret!,
          grantToken,
          redirectUrl: given.redirectUrl,
          codeVerifier,
        }),
      )
      token = withGrant(given, grant)
      if (found) token.id = found.id
      // A spent code has no use in a web login's row, and it travels in URLs and logs; without
      // it the save matches the row by user name or by the new tokens, never by the code.
      if (always) token.grantToken = undefined
      log.info('grant code exchanged', who(token))
      emit('token.exchanged', {
        ...who(token),
        durationMs: Math.round(performance.now() - started),
      })
    } else if (given.refreshToken) {
      token = withGrant(
        given,
        await client.refresh({
          clientId: given.clientId!,
          clientSecret: given.clientSecret!,
          refreshToken: given.refreshToken,
        }),
      )
      log.info('token refreshed', who(token))
    } else {
      token = given.clone()
    }
    token.apiDomain ??= this.#context.environment.apiDomain
    this.#adopt(token)
    if (config.findUser && !token.userSignature) await this.#findUser()
    await this.#save(this.#token)
  }

  /**
   * Takes one grant exchange from the client's budget (the provider's limit, counted in the
   * store for every process sharing it); a spent budget is a `BudgetExceededError`, and the
   * code is not sent (it stays usable until it expires).
   */
  async #takeExchangeBudget(clientId: string): Promise<void> {
    const { store, environment, config } = this.#context
    const budget = environment.budgets.grantExchangesPerClient
    const answer = await takeFromBudget(store, 'exchange', clientId, budget, config.now())
    if (!budget || !answer || answer.granted) return
    throw new BudgetExceededError(
      `the client has exchanged ${budget.limit} grant codes in ${Math.round(budget.windowMs / 1000)} s, the provider's limit; the code was not sent: try again in ${Math.ceil(answer.retryAfterMs / 1000)} s`,
      answer.retryAfterMs,
    )
  }

  /** Looks up who the token belongs to (the provider's look-up), as the official SDKs do, to name its row. */
  async #findUser(): Promise<void> {
    const { provider } = this.#context.environment
    const lookup = provider.currentUser
    if (lookup === undefined) {
      throw new SDKException(
        'USER_LOOKUP_FAILED',
        `provider ${provider.name} has no current-user look-up: give the token a userSignature, or leave config.findUser off`,
      )
    }
    const response = await this.fetch(lookup.path)
    if (!response.ok) {
      throw new SDKException(
        'USER_LOOKUP_FAILED',
        `looking up the current user failed with HTTP ${response.status}`,
      )
    }
    const name = lookup.name(await response.json())
    if (name === undefined) {
      throw new SDKException('USER_LOOKUP_FAILED', 'the current user lookup gave no user name')
    }
    this.#token.userSignature = new UserSignature(name)
  }

  #adopt(token: OAuthToken): void {
    this.#token = token
    this.#dueAt = refreshDueAt(token, this.#context.config.refreshSkewMs)
    this.#context.log.forget(
      token.clientSecret,
      token.grantToken,
      token.refreshToken,
      token.accessToken,
    )
  }

  /** Saves a token this session obtained or was given (a refresh saves through its own rule). */
  async #save(token: OAuthToken): Promise<void> {
    await this.#context.store.saveToken(token)
    this.#context.log.debug('token saved', who(token))
    emit('token.saved', who(token))
  }

  /**
   * Refreshes through the one refresh coordination (see `refreshStoredToken`), shared with every
   * caller of this token in the process and, through the store's lease, across processes.
   * `force` refreshes even a token the clock thinks valid (after a 401), unless someone already
   * replaced `staleAccessToken`. The new token is held as soon as the server gives it, so a
   * failed save does not lose a rotated refresh token: the next refresh starts from it.
   */
  async #refresh(force: boolean, staleAccessToken: string | undefined): Promise<OAuthToken> {
    const { store, client, log, config } = this.#context
    const outcome = await refreshStoredToken(
      {
        store,
        client,
        log,
        now: config.now,
        refreshSkewMs: config.refreshSkewMs,
        lockTimeoutMs: config.lockTimeoutMs,
        budget: this.#context.environment.budgets.accessTokensPerRefreshToken,
      },
      {
        held: this.#token,
        force,
        staleAccessToken,
        heldIsNewer: this.#unsaved,
        onObtained: (token) => {
          this.#adopt(token)
          this.#unsaved = true
        },
      },
    )
    if (outcome.status === 'busy') throw new Error('unreachable: a session waits for the lease')
    this.#unsaved = false
    this.#adopt(outcome.token.clone())
    return outcome.token
  }
}
