import {
  BudgetExceededError,
  InvalidArgumentError,
  RateLimitError,
  ReauthRequiredError,
} from '../errors.js'
import { healthOf, supportsHealth } from '../health.js'
import { emit } from '../events.js'
import { SafeLog, who } from '../log.js'
import type { HealthChange } from '../refresh/health-changes.js'
import { AccountsClient } from '../oauth/client.js'
import type { Environment } from '../oauth/environments.js'
import { refreshStoredToken, type RefreshContext } from '../refresh/coordinator.js'
import type { TokenStore } from '../store.js'
import { checkOptions } from '../store-kit/options.js'
import type { OAuthToken } from '../token.js'
import { passPages, verdict } from './policy.js'
import { WebhookSender } from './webhook.js'
import type { WebhookEventType } from './webhook-signature.js'
import { SPEC, type Checked, type KeeperPassSummary, type TokenKeeperOptions } from './options.js'
import { environmentOf } from '../providers/token-environment.js'

export type { KeeperPassSummary, TokenKeeperOptions } from './options.js'

/** The webhook of each change of state. */
const WEBHOOK_TYPES: Record<HealthChange['health']['state'], WebhookEventType> = {
  active: 'token.recovered',
  failing: 'token.failing',
  reauth_required: 'token.reauthRequired',
}

/** How long `stop()` lets webhooks in flight finish before giving up their retries (ms). */
const WEBHOOK_GRACE_MS = 5000

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
    if (checked.refreshIdleAfterMs !== undefined && checked.usedWithinMs === undefined) {
      throw new InvalidArgumentError(
        'refreshIdleAfterMs',
        'refreshIdleAfterMs applies only with usedWithinMs: without it every token is refreshed ahead of expiry anyway',
      )
    }
    if (checked.usedWithinMs !== undefined && !supportsHealth(checked.store)) {
      throw new InvalidArgumentError(
        'usedWithinMs',
        `usedWithinMs needs a store that keeps token health (HealthTracking), where sessions record each token's use; ${checked.store.constructor.name || 'this store'} does not`,
      )
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
            errorCode: (err as { code?: string }).code ?? 'UNKNOWN',
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
    const { concurrency, now } = this.#options
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
      idle: 0,
      keptAlive: 0,
    }
    let skipped = 0
    const idle = new Set<OAuthToken>()
    for await (const page of passPages(store, this.#options, startedAt)) {
      const health = await healthOf(store, page)
      const due: OAuthToken[] = []
      for (const token of page) {
        const found = verdict(this.#options, token, health.get(token)!, startedAt)
        if (found === 'notDue') continue
        counts.due += 1
        if (found === 'keepAlive') idle.add(token)
        if (found === 'refresh' || found === 'keepAlive') due.push(token)
        else counts[found] += 1
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
          const outcome = await this.#keep(token)
          counts[outcome] += 1
          if (outcome === 'refreshed' && idle.has(token)) counts.keptAlive += 1
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
      // `errorCode`, not `code`: a log line's `code=` is taken for an OAuth code and redacted.
      const fields = { ...who(token), errorCode: (err as { code?: string }).code ?? 'UNKNOWN' }
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
          errorCode: (err as { code?: string }).code ?? 'UNKNOWN',
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
