// What a keeper takes and what a pass reports, with the checks of its options.
import { Environment } from '../oauth/environments.js'
import type { Logger } from '../log.js'
import { CLIENT_DEFAULTS } from '../oauth/client.js'
import type { TokenStore } from '../store.js'
import type { checkOptions } from '../store-kit/options.js'
import { flag, number, shaped } from '../store-kit/options.js'
import type { WebhookSenderOptions } from './webhook.js'

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
  /**
   * Keep ahead of expiry only the tokens a session recorded a use of within this time (ms; see
   * `SessionConfig.recordUseEveryMs`); the others are left to refresh on their next use.
   * Default: every token is kept. Needs a store that keeps token health.
   */
  usedWithinMs?: number | undefined
  /**
   * With `usedWithinMs`: a token not in use is still refreshed once its access token has been
   * expired this long (ms), so that its refresh token is used at least once in this time plus
   * one lifetime, for providers whose refresh tokens expire when unused. Default: never.
   */
  refreshIdleAfterMs?: number | undefined
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
  /** Due, but not in use (see `usedWithinMs`): left to refresh on their next use. */
  readonly idle: number
  /** Of `refreshed`, those not in use, refreshed to keep their refresh token alive. */
  readonly keptAlive: number
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

export const SPEC = {
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
  usedWithinMs: number({ above: 0 }),
  refreshIdleAfterMs: number({ min: 0 }),
  webhook: shaped(
    'webhook options { url, secret, ... }',
    (v): v is WebhookSenderOptions => typeof v === 'object' && v !== null,
  ),
}

export type Checked = ReturnType<typeof checkOptions<typeof SPEC>>
