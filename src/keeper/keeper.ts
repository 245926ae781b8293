import {
  BudgetExceededError,
  InvalidArgumentError,
  RateLimitError,
  ReauthRequiredError,
} from '../errors.js'
import { healthOf } from '../health.js'
import { emit } from '../events.js'
import { SafeLog, type Logger } from '../log.js'
import { AccountsClient, CLIENT_DEFAULTS } from '../oauth/client.js'
import { Environment } from '../oauth/environments.js'
import {
  refreshStoredToken,
  who,
  type HealthChange,
  type RefreshContext,
} from '../refresh/coordinator.js'
import type { TokenStore } from '../store.js'
import { checkOptions, flag, number, shaped } from '../store-kit/options.js'
import { needsRefresh, type OAuthToken } from '../token.js'
import { dueTokenPages } from './due-tokens.js'
import { WebhookSender, type WebhookSenderOptions } from './webhook.js'
import type { WebhookEventType } from './webhook-signature.js'
import { environmentOf } from '../providers/token-environment.js'

/** What {@link TokenKeeper} takes. */
export interface TokenKeeperOptions {
  /** The store whose tokens are kept. */
  store: TokenStore
  /**
   * The only environment whose tokens are kept. Default: each token's own, known from its API
   * domain (any Zoho data center); a token of an unknown one fails and is left alone.
   */
  environment?: Environment | undefined
  /** Refresh a token when less than this is left of its access token (ms); default 300000. */
  refreshAheadMs?: number | undefined
  /** Time between two passes (ms); default 60000, each varied by `jitter`. */
  intervalMs?: number | undefined
  /** How much each interval varies, as a share of it (0 to 1); default 0.2. */
  jitter?: number | undefined
  /** Refreshes at once; default 4. */
  concurrency?: number | undefined
  /** Due tokens read from the store at a time; default 500. */
  pageSize?: number | undefined
  /** Any logger with debug/info/warn/error; default: no logging. */
  logger?: Logger | undefined
  /** The fetch for requests to the accounts server. */
  fetch?: typeof globalThis.fetch | undefined
  /** Give up on one request after this long (ms); default 30000. */
  requestTimeoutMs?: number | undefined
  /** Tries again after network failures, timeouts, HTTP 5xx and 429; default 2. */
  retries?: number | undefined
  /** The first wait before trying again (ms), doubled each time; default 250. */
  retryDelayMs?: number | undefined
  /** The clock, epoch ms. */
  now?: (() => number) | undefined
  /**
   * Where to POST each change of a token's state (`token.failing`, `token.recovered`,
   * `token.reauthRequired`), signed (see docs/keeper.md).
   */
  webhook?: WebhookSenderOptions | undefined
  /** Called with the summary of each pass (a started keeper's too), for progress reports. */
  onPass?: ((summary: KeeperPassSummary) => void) | undefined
  /** Whether a started keeper's timer keeps the process alive; default false. */
  keepAlive?: boolean | undefined
}

/** What one pass did. */
export interface KeeperPassSummary {
  /** Tokens found due (less than `refreshAheadMs` left). */
  readonly due: number
  /** Refreshed by this keeper and saved. */
  readonly refreshed: number
  /** Already refreshed by someone else when this keeper came to them. */
  readonly fresh: number
  /** Held by another keeper or session (its lease): left to it. */
  readonly busy: number
  /** Failed for a reason that may pass (network, server, rate limit, store). */
  readonly failed: number
  /**
   * Refused for good by the accounts server, in this pass or before: the user must consent
   * again. Those refused before are not sent to the server again.
   */
  readonly reauthRequired: number
  /** Failing, and not yet due for another try (their backoff runs). */
  readonly deferred: number
  /** Over the provider's budget of access tokens for their refresh token: tried again later. */
  readonly limited: number
  /** Not tried: the pass was stopping. */
  readonly skipped: number
  /** When the pass started (epoch ms) and how long it took (ms). */
  readonly startedAt: number
  readonly durationMs: number
}

const isStore = (v: unknown): v is TokenStore =>
  typeof v === 'object' &&
  v !== null &&
  ['findTokenById', 'saveToken', 'getTokens'].every(
    (m) => typeof (v as Record<string, unknown>)[m] === 'function',
  )
const isFunction = <T>(v: unknown): v is T => typeof v === 'function'

const SPEC = {
  store: shaped('a TokenStore', isStore),
  environment: shaped('an Environment', (v): v is Environment => v instanceof Environment),
  refreshAheadMs: number({ min: 0 }).or(300_000),
  intervalMs: number({ above: 0 }).or(60_000),
  jitter: number({ min: 0, max: 1 }).or(0.2),
  concurrency: number({ min: 1, max: 1000, integer: true }).or(4),
  pageSize: number({ min: 1, max: 100_000, integer: true }).or(500),
  logger: shaped('a logger', (v): v is Logger => typeof v === 'object' && v !== null),
  fetch: shaped('a fetch function', isFunction<typeof globalThis.fetch>).or((input, init) =>
    globalThis.fetch(input, init),
  ),
  requestTimeoutMs: number({ above: 0 }).or(CLIENT_DEFAULTS.requestTimeoutMs),
  retries: number({ min: 0, max: 10, integer: true }).or(CLIENT_DEFAULTS.retries),
  retryDelayMs: number({ min: 0 }).or(CLIENT_DEFAULTS.retryDelayMs),
  now: shaped('a clock function', isFunction<() => number>).or(() => Date.now()),
  onPass: shaped('a function', isFunction<(summary: KeeperPassSummary) => void>),
  keepAlive: flag().or(false),
  webhook: shaped(
    'webhook options { url, secret, ... }',
    (v): v is WebhookSenderOptions => typeof v === 'object' && v !== null,
  ),
}

/** The webhook of each change of state. */
const WEBHOOK_TYPES: Record<HealthChange['health']['state'], WebhookEventType> = {
  active: 'token.recovered',
  failing: 'token.failing',
  reauth_required: 'token.reauthRequired',
}

/** How long `stop()` lets webhooks in flight finish before giving up their retries (ms). */
const WEBHOOK_GRACE_MS = 5000

type Checked = ReturnType<typeof checkOptions<typeof SPEC>>

/**
 * Keeps every stored token fresh in the background: each pass finds the tokens whose access
 * token has less than `refreshAheadMs` left (by the store's expiry index where it has one) and
 * refreshes them, a few at a time, through the same coordination as every session, so callers
 * never wait on a refresh. Keepers on several machines sharing one store split the work: a
 * keeper takes a token's lease only if it is free at once, and leaves a token another holds.
 *
 * @example
 * const keeper = new TokenKeeper({ store: new SQLiteStore() })
 * keeper.start()
 * process.once('SIGTERM', () => void keeper.stop())
 */
export class TokenKeeper {
  readonly #options: Checked
  readonly #store: TokenStore
  readonly #log: SafeLog
  readonly #clients = new Map<Environment, AccountsClient>()
  readonly #webhook: WebhookSender | undefined
  readonly #deliveries = new Set<Promise<unknown>>()
  #timer: NodeJS.Timeout | undefined
  #pass: Promise<KeeperPassSummary> | undefined
  #running = false
  #stopping = false

  constructor(options: TokenKeeperOptions) {
    const checked = checkOptions('TokenKeeper', options, SPEC)
    if (checked.store === undefined) {
      throw new InvalidArgumentError('store', 'TokenKeeper needs { store }: the store to keep')
    }
    this.#options = checked
    this.#store = checked.store
    this.#log = new SafeLog(this.#options.logger)
    this.#webhook = checked.webhook && new WebhookSender(checked.webhook)
  }

  /** Whether `start()` was called and `stop()` not yet. */
  get running(): boolean {
    return this.#running
  }

  /**
   * One pass: refreshes the tokens due now and resolves to what it did. Concurrent calls share
   * the pass in progress.
   */
  runOnce(): Promise<KeeperPassSummary> {
    this.#pass ??= this.#runPass().finally(() => {
      this.#pass = undefined
    })
    return this.#pass
  }

  /** Runs a pass now and then one every `intervalMs` (jittered), until {@link stop}. */
  start(): void {
    if (this.#running) return
    this.#running = true
    this.#stopping = false
    this.#schedule(0)
  }

  /**
   * Stops: no new pass and no new refresh starts; the refreshes in flight finish and are
   * saved, and their leases are released, before it resolves.
   */
  async stop(): Promise<void> {
    this.#running = false
    this.#stopping = true
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#pass?.catch(() => undefined)
    if (this.#webhook) {
      const pending = Promise.allSettled(this.#deliveries)
      await Promise.race([pending, new Promise((resolve) => setTimeout(resolve, WEBHOOK_GRACE_MS))])
      this.#webhook.close()
      await pending
    }
  }

  toString(): string {
    return `TokenKeeper(${this.#running ? 'running' : 'stopped'})`
  }

  toJSON(): Record<string, unknown> {
    return { running: this.#running }
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return
    this.#timer = setTimeout(() => {
      this.runOnce()
        .catch((err: unknown) => {
          this.#log.error('a keeper pass failed', {
            code: (err as { code?: string }).code ?? 'UNKNOWN',
          })
        })
        .finally(() => this.#schedule(this.#nextDelay()))
    }, delayMs)
    if (!this.#options.keepAlive) this.#timer.unref()
  }

  #nextDelay(): number {
    const { intervalMs, jitter } = this.#options
    return Math.max(0, intervalMs * (1 + jitter * (2 * Math.random() - 1)))
  }

  async #runPass(): Promise<KeeperPassSummary> {
    const { refreshAheadMs, pageSize, concurrency, now } = this.#options
    const store = this.#store
    const startedAt = now()
    const counts = {
      due: 0,
      refreshed: 0,
      fresh: 0,
      busy: 0,
      failed: 0,
      reauthRequired: 0,
      deferred: 0,
      limited: 0,
    }
    let skipped = 0
    for await (const page of dueTokenPages(store, startedAt + refreshAheadMs, pageSize)) {
      const health = await healthOf(store, page)
      const due: OAuthToken[] = []
      for (const token of page) {
        if (!needsRefresh(token, startedAt, refreshAheadMs)) continue
        counts.due += 1
        const { state, nextAttemptAt = 0 } = health.get(token)!
        if (state === 'reauth_required') counts.reauthRequired += 1
        else if (state === 'failing' && nextAttemptAt > startedAt) counts.deferred += 1
        else due.push(token)
      }
      // A page at a time, `concurrency` refreshes at once: memory stays bounded by the page.
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < due.length) {
          const token = due[next++]!
          if (this.#stopping) {
            skipped += 1
            continue
          }
          counts[await this.#keep(token)] += 1
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker))
      if (this.#stopping) break
    }
    const summary = { ...counts, skipped, startedAt, durationMs: Math.max(0, now() - startedAt) }
    this.#log.info('keeper pass done', summary)
    emit('keeper.pass', summary)
    this.#options.onPass?.(summary)
    return summary
  }

  /** Refreshes one due token; says how it went. */
  async #keep(
    token: OAuthToken,
  ): Promise<'refreshed' | 'fresh' | 'busy' | 'limited' | 'failed' | 'reauthRequired'> {
    const { refreshAheadMs, now } = this.#options
    try {
      const environment = environmentOf(token, this.#options.environment)
      const context: RefreshContext = {
        store: this.#store,
        client: this.#client(environment),
        budget: environment.budgets.accessTokensPerRefreshToken,
        log: this.#log,
        now,
        refreshSkewMs: refreshAheadMs,
        lockTimeoutMs: 0,
        onHealthChange: (change) => this.#tell(change),
      }
      const outcome = await refreshStoredToken(context, { held: token, lease: 'try' })
      if (outcome.status === 'busy') return 'busy'
      if (outcome.status === 'limited') return 'limited'
      return outcome.status === 'refreshed' ? 'refreshed' : 'fresh'
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'UNKNOWN'
      const fields = { ...who(token), code }
      if (err instanceof ReauthRequiredError) return 'reauthRequired'
      if (err instanceof BudgetExceededError) {
        this.#log.info('over the refresh budget; the next pass tries again', {
          ...fields,
          retryAfterMs: err.retryAfterMs,
        })
        return 'limited'
      }
      const retryAfterMs = err instanceof RateLimitError ? err.retryAfterMs : undefined
      this.#log.warn('refresh failed; the next pass tries again', { ...fields, retryAfterMs })
      return 'failed'
    }
  }

  /** Sends the webhook of a change of state, when one is configured; never fails the refresh. */
  #tell(change: HealthChange): void {
    if (!this.#webhook) return
    const { health } = change
    const delivery = this.#webhook
      .send({
        type: WEBHOOK_TYPES[health.state],
        data: {
          tokenId: change.id,
          ...(change.user !== undefined && { user: change.user }),
          state: health.state,
          ...(health.state === 'failing' && { attempts: health.attempts }),
          ...(health.nextAttemptAt !== undefined && {
            nextAttemptAt: new Date(health.nextAttemptAt).toISOString(),
          }),
          ...(health.lastErrorCode !== undefined && { lastErrorCode: health.lastErrorCode }),
        },
      })
      .catch((err: unknown) => {
        this.#log.warn('a webhook was given up', {
          id: change.id,
          code: (err as { code?: string }).code ?? 'UNKNOWN',
        })
      })
      .finally(() => this.#deliveries.delete(delivery))
    this.#deliveries.add(delivery)
  }

  #client(environment: Environment): AccountsClient {
    let client = this.#clients.get(environment)
    if (!client) {
      const { fetch, requestTimeoutMs, retries, retryDelayMs, now } = this.#options
      client = new AccountsClient(environment, {
        fetch,
        requestTimeoutMs,
        retries,
        retryDelayMs,
        now,
        log: this.#log,
      })
      this.#clients.set(environment, client)
    }
    return client
  }
}
