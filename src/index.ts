export { OAuthToken, UserSignature, needsRefresh, REDACTED, MAX_LIFETIME_MS } from './token.js'
export type { OAuthTokenInit } from './token.js'
export {
  MAX_TOKEN_ID,
  TOKEN_ID_PATTERN,
  isCanonicalId,
  nextTokenId,
  numericIdValue,
} from './store/ids.js'
export { lookupOf } from './store/matching.js'
export { COLUMNS, rowHolds } from './store/rows.js'
export { planSave } from './store/save.js'
export type {
  Compaction,
  ConditionalSave,
  LockOptions,
  TokenLock,
  TokenLocking,
  TokenStore,
} from './store.js'
export type { Lookup, LookupColumn } from './store/matching.js'
export type { Column, TokenRow } from './store/rows.js'
export type { SaveFacts, SavePlan } from './store/save.js'
export { supportsDueScan, DEFAULT_DUE_LIMIT } from './due.js'
export { TokenKeeper } from './keeper/keeper.js'
export type { TokenKeeperOptions, KeeperPassSummary } from './keeper/keeper.js'
export type { DueScan, DueScanOptions, DueCursor } from './due.js'
export { TOKEN_STATES, supportsHealth } from './health.js'
export { supportsBudgets, budgetKey } from './budget.js'
export type { BudgetAnswer, BudgetCounting } from './budget.js'
export type { TokenState, TokenHealth, HealthTracking } from './health.js'
export { eachToken, supportsIteration } from './iteration.js'
export type { TokenIteration, IterateOptions, EachTokenOptions } from './iteration.js'
export { MemoryStore } from './stores/memory.js'
export type { InMemoryStoreOptions } from './stores/memory.js'
export { ListStore } from './stores/list.js'
export type { TokenRecord } from './stores/list.js'
export { FileStore } from './stores/file.js'
export type { FileStoreOptions, FileStoreProblem } from './stores/file.js'
export { createStore } from './stores/create.js'
export { withEncryption } from './stores/encrypted.js'
export type { EncryptedStore, RekeyOptions, RekeyResult } from './stores/encrypted.js'
export { EncryptionError } from './crypto.js'
export type { EncryptionOptions } from './crypto.js'
export { Environment, DataCenter } from './oauth/environments.js'
export type {
  EnvironmentInit,
  DataCenterEnvironments,
  DataCenterCode,
} from './oauth/environments.js'
export { oauth2 } from './providers/provider.js'
export type {
  Provider,
  ClientAuthMethod,
  Endpoints,
  Budget,
  TokenBudgets,
  ResponseQuirks,
  CurrentUserLookup,
} from './providers/provider.js'
export { zoho, zohoAccountsServerFor } from './providers/zoho.js'
export type { ZohoKind } from './providers/zoho.js'
export {
  dataCenterOf,
  environmentForCallback,
  UnknownAccountsServerError,
} from './providers/zoho-accounts.js'
export type { CallbackDataCenter, CallbackOptions } from './providers/zoho-accounts.js'
export { DiscoveryError } from './providers/discover.js'
export type { DiscoverOptions, DiscoveryFailure } from './providers/discover.js'
export { Initializer } from './initializer.js'
export { Session } from './session.js'
export type {
  GrantExchange,
  InitializeOptions,
  RefreshOptions,
  SessionConfig,
} from './session-options.js'
export { purgeTokens } from './policies.js'
export { revokeTokens } from './revoke-tokens.js'
export type { PurgeOptions, PurgeResult } from './policies.js'
export type { RevokeOptions, RevokeResult } from './revoke-tokens.js'
export { channel } from './events.js'
export type { TokenEvents, TokenEventName } from './events.js'
export { instrumentTokenkeeper } from './telemetry/otel.js'
export type {
  InstrumentOptions,
  Instrumentation,
  MeterProviderLike,
  TracerProviderLike,
} from './telemetry/otel.js'
export { createLogger, scrub, maskCredentials, LEVELS } from './log.js'
export type { Logger, LoggerOptions, Level } from './log.js'
export {
  SDKException,
  MandatoryValueError,
  InvalidArgumentError,
  TokenStoreError,
  InvalidTokenError,
  NetworkError,
  TimeoutError,
  ServerError,
  RateLimitError,
  InvalidResponseError,
  TokenNotFoundError,
  UntrustedOriginError,
  InvalidHeaderError,
  TokenConflictError,
  IdCollisionError,
  ReauthRequiredError,
  BudgetExceededError,
} from './errors.js'
export type { StoreOperation } from './errors.js'
export {
  WebhookSender,
  WebhookDeliveryError,
  WebhookVerificationError,
  verifyWebhook,
} from './keeper/webhook.js'
export type {
  WebhookEvent,
  WebhookEventData,
  WebhookEventType,
  WebhookSenderEvents,
  WebhookSenderOptions,
} from './keeper/webhook.js'
