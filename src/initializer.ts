// `Initializer.initialize`: checks what it is given, builds what its sessions share, and starts
// the first session.
import { InvalidArgumentError, refuseUnknownOptions, MandatoryValueError } from './errors.js'
import { SafeLog } from './log.js'
import { AccountsClient } from './oauth/client.js'
import { FileStore } from './stores/file.js'
import { typeName } from './token.js'
import { Session } from './session.js'
import {
  GRANT_EXCHANGES,
  INITIALIZE_OPTIONS,
  checkOptions,
  resolveConfig,
  type Context,
  type InitializeOptions,
} from './session-options.js'

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
