import {
  BudgetExceededError,
  InvalidArgumentError,
  InvalidHeaderError,
  NetworkError,
  TimeoutError,
  describeCause,
  SDKException,
  TokenNotFoundError,
} from './errors.js'
import { emit } from './events.js'
import type { Environment } from './oauth/environments.js'
import { originRefusal, requireApiUrl } from './oauth/environments.js'
import { isTokenText } from './oauth/messages.js'
import { refreshStoredToken, withGrant } from './refresh/coordinator.js'
import { who } from './log.js'
import { recordUse } from './usage.js'
import { traced } from './telemetry/tracing.js'
import { takeFromBudget } from './budget.js'
import { revokeStoredToken } from './revocation.js'
import type { TokenStore } from './store.js'
import type { OAuthToken } from './token.js'
import { UserSignature, needsRefresh, refreshDueAt } from './token.js'

import {
  checkRefreshOptions,
  checkToken,
  type Context,
  type RefreshOptions,
} from './session-options.js'

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
    // The hot path of getAccessToken: nothing more than this check while recording is off.
    if (config.recordUseEveryMs === 0 || id === undefined) return
    const at = config.now()
    if (at - this.#useNotedAt < config.recordUseEveryMs) return
    this.#useNotedAt = at
    recordUse(store, id, at).then(
      (recorded) => {
        if (recorded) emit('token.use_recorded', { id, at })
      },
      (err: unknown) => {
        log.warn('the use of the token could not be recorded', {
          id,
          errorCode: (err as { code?: string }).code ?? 'UNKNOWN',
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
