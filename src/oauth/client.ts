import { setTimeout as sleep } from 'node:timers/promises'
import type { SDKException } from '../errors.js'
import {
  InvalidResponseError,
  NetworkError,
  RateLimitError,
  ServerError,
  TimeoutError,
} from '../errors.js'
import type { SafeLog } from '../log.js'
import { scrub } from '../log.js'
import type { Environment } from './environments.js'
import { parseTokenResponse, type TokenGrant } from './messages.js'
import { discard, readCapped, retryAfterMs } from './response.js'
import { rememberLifetime } from '../token.js'
import { basicCredentials } from '../providers/provider.js'

/** How every accounts client (a session's, maintenance's) talks to the server by default. */
export const CLIENT_DEFAULTS = { requestTimeoutMs: 30_000, retries: 2, retryDelayMs: 250 } as const

/** How the accounts client talks to the server. */
export interface AccountsClientOptions {
  /** The fetch to use; default the global one. */
  readonly fetch: typeof globalThis.fetch
  /** Give up on one request after this long (ms). */
  readonly requestTimeoutMs: number
  /** How many times to try again after a network failure, a timeout, HTTP 5xx or 429. */
  readonly retries: number
  /** The first wait before trying again (ms); it doubles each time, with jitter. */
  readonly retryDelayMs: number
  /** The clock, epoch ms. */
  readonly now: () => number
  readonly log: SafeLog
}

/** What a request to the accounts server is, for logs and errors. */
type Purpose = 'exchange' | 'refresh' | 'revoke'

/** A failure worth another try, and how long the server asked us to wait. */
class Retryable extends Error {
  constructor(
    readonly final: SDKException,
    readonly retryAfterMs?: number,
  ) {
    super(final.message)
  }
}

/** The client credentials of a request, sent as the environment's `clientAuth` says. */
interface Client {
  clientId?: string | undefined
  clientSecret?: string | undefined
}

/**
 * The client of the accounts server: grant exchange (`authorization_code`), refresh and revoke,
 * at the environment's token and revocation endpoints. It sends form-encoded bodies with the
 * client authenticated as the environment says (`client_secret_post` or `client_secret_basic`),
 * reads answers as its provider writes them, times out each request, and tries again with
 * exponential backoff and jitter after network failures, HTTP 5xx and 429 only, never after a
 * definite refusal such as `invalid_code`.
 *
 * The server is trusted no further than it must be: a redirect is never followed (the body
 * carries the client secret and tokens), an answer is read up to 64 KB, a `Retry-After` longer
 * than the request timeout is not waited for, and an `api_domain` the environment does not
 * allow is ignored.
 */
export class AccountsClient {
  readonly #environment: Environment
  readonly #options: AccountsClientOptions

  constructor(environment: Environment, options: AccountsClientOptions) {
    this.#environment = environment
    this.#options = options
  }

  /** Exchanges a grant code for tokens. */
  exchangeGrant(params: {
    clientId: string
    clientSecret: string
    grantToken: string
    redirectUrl?: string | undefined
    codeVerifier?: string | undefined
  }): Promise<TokenGrant> {
    const form: Record<string, string> = {
      grant_type: 'authorization_code',
      code: params.grantToken,
    }
    if (params.redirectUrl) form.redirect_uri = params.redirectUrl
    if (params.codeVerifier) form.code_verifier = params.codeVerifier
    return this.#token('exchange', form, params, [params.grantToken])
  }

  /** Gets a new access token with a refresh token. */
  refresh(params: {
    clientId: string
    clientSecret: string
    refreshToken: string
  }): Promise<TokenGrant> {
    return this.#token(
      'refresh',
      { grant_type: 'refresh_token', refresh_token: params.refreshToken },
      params,
      [params.refreshToken],
    )
  }

  /**
   * Revokes a refresh token (and with it its access tokens) or an access token. An answer of
   * HTTP 200 is success, whatever the body says of an unknown token (RFC 7009).
   */
  async revoke(token: string, credentials?: Client): Promise<void> {
    await this.#send(
      'revoke',
      this.#environment.revokeUrl,
      { token },
      credentials ?? {},
      [token],
      (status, body) => {
        if (status >= 200 && status < 300) return
        // A refusal of the token itself (400) means it is already unusable: the goal is reached.
        if (status === 400 && /invalid_token/.test(body)) return
        throw new InvalidResponseError(
          `the accounts server answered HTTP ${status} to the revocation`,
          status,
        )
      },
    )
  }

  async #token(
    purpose: Purpose,
    form: Record<string, string>,
    client: Client,
    secrets: string[],
  ): Promise<TokenGrant> {
    const { quirks } = this.#environment.provider
    const all = [...secrets, client.clientSecret ?? '']
    const grant = await this.#send(
      purpose,
      this.#environment.endpoints.token,
      form,
      client,
      secrets,
      (status, body) => parseTokenResponse(status, body, this.#options.now(), all, quirks),
    )
    rememberLifetime(grant.accessToken, grant.lifetimeMs)
    const { apiDomain } = grant
    if (apiDomain === undefined || this.#environment.allowsApiOrigin(apiDomain)) return grant
    // Ignored, not refused: the token is good and is used with the API domain it had (or the
    // environment's). Refusing would throw away tokens a spent grant code already paid for.
    this.#options.log.warn(
      'the accounts server named an api_domain the environment does not allow; ignored',
      {
        purpose,
        environment: this.#environment.name,
        origin: URL.canParse(apiDomain) ? new URL(apiDomain).origin : 'not a URL',
      },
    )
    return { ...grant, apiDomain: undefined }
  }

  async #send<T>(
    purpose: Purpose,
    url: string,
    form: Record<string, string>,
    client: Client,
    secrets: string[],
    read: (status: number, body: string) => T,
  ): Promise<T> {
    const { retries, retryDelayMs, log } = this.#options
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    }
    const body = { ...form }
    const { clientId, clientSecret } = client
    if (this.#environment.clientAuth === 'client_secret_basic' && clientId && clientSecret) {
      headers.authorization = `Basic ${basicCredentials(clientId, clientSecret)}`
    } else {
      if (clientId) body.client_id = clientId
      if (clientSecret) body.client_secret = clientSecret
    }
    const request = { headers, body: new URLSearchParams(body).toString() }
    const hidden = [...secrets, clientSecret ?? '']
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.#attempt(purpose, url, request, hidden, read)
      } catch (err) {
        if (!(err instanceof Retryable)) throw err
        if (attempt >= retries) throw err.final
        const backoff = retryDelayMs * 2 ** attempt
        const wait = Math.max(err.retryAfterMs ?? 0, backoff / 2 + Math.random() * (backoff / 2))
        log.warn('accounts request retried', {
          purpose,
          attempt: attempt + 1,
          waitMs: Math.round(wait),
          reason: err.final.code,
        })
        await sleep(wait)
      }
    }
  }

  async #attempt<T>(
    purpose: Purpose,
    url: string,
    request: { headers: Record<string, string>; body: string },
    secrets: string[],
    read: (status: number, body: string) => T,
  ): Promise<T> {
    const { requestTimeoutMs } = this.#options
    let response: Response
    try {
      response = await this.#options.fetch(url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(requestTimeoutMs),
        // A redirect would carry the form (client secret, tokens) wherever it points.
        redirect: 'manual',
      })
    } catch (err) {
      throw this.#unreachable(err, secrets)
    }
    const { status } = response
    if (response.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
      await discard(response)
      throw new InvalidResponseError(
        `the accounts server answered the ${purpose} request with a redirect (HTTP ${status}), which is never followed: ` +
          `the client secret and tokens go to ${this.#environment.accountsUrl} alone. Check the environment's accountsUrl.`,
        status,
      )
    }
    if (status === 429) {
      await discard(response)
      const wait = retryAfterMs(response.headers.get('retry-after'))
      if (wait !== undefined && wait > requestTimeoutMs) {
        // Waiting would hold the token's lock (and the caller) longer than a request may take.
        const until = Number.isFinite(wait)
          ? `; try again after ${new Date(Date.now() + wait).toISOString()}`
          : ''
        throw new RateLimitError(
          `the accounts server limits the rate (HTTP 429) and asks to wait ${Math.ceil(wait / 1000)} s, longer than the request timeout (${requestTimeoutMs} ms): not waiting${until}`,
          wait,
        )
      }
      throw new Retryable(
        new RateLimitError('the accounts server limits the rate (HTTP 429)', wait),
        wait,
      )
    }
    if (status >= 500) {
      await discard(response)
      throw new Retryable(new ServerError(`the accounts server failed with HTTP ${status}`, status))
    }
    let body: string
    try {
      body = await readCapped(response)
    } catch (err) {
      if (err instanceof InvalidResponseError) throw err
      throw this.#unreachable(err, secrets)
    }
    return read(status, body)
  }

  /** A failure to send or to read an answer, as a typed error worth another try. */
  #unreachable(err: unknown, secrets: string[]): Retryable {
    const name = (err as { name?: unknown }).name
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new Retryable(
        new TimeoutError(
          `the accounts server did not answer within ${this.#options.requestTimeoutMs} ms`,
          { cause: err },
        ),
      )
    }
    return new Retryable(
      new NetworkError(
        `cannot reach the accounts server at ${this.#environment.accountsUrl}: ${scrub(describe(err), secrets)}`,
        { cause: err },
      ),
    )
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause
  if (cause && typeof cause.code === 'string') return cause.code
  return err instanceof Error ? err.message : String(err)
}
