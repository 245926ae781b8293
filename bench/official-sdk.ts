// The official Zoho CRM TypeScript SDK (@zohocrm/typescript-sdk-8.0, a dev dependency), typed as
// far as the benchmark and the interoperability tests use it.
import { createRequire } from 'node:module'

/** The official SDK's token, as its stores and its flow use it. */
export interface OfficialToken {
  getId(): string | null
  getAccessToken(): string | null
  getRefreshToken(): string | null
  getClientId(): string | null
  getClientSecret(): string | null
  getExpiresIn(): string | null
  getAPIDomain(): string | null
  getUserSignature(): { getName(): string } | null
  setAccessToken(value: string | null): void
  setExpiresIn(value: string): void
  setAPIDomain(value: string | null): void
  /** The access token, found in the store and refreshed when it is about to expire. */
  getToken(): Promise<string>
}

/** The official SDK's TokenStore. */
export interface OfficialStore {
  findToken(token: OfficialToken): Promise<OfficialToken | null>
  saveToken(token: OfficialToken): Promise<void>
  findTokenById(id: string): Promise<OfficialToken>
  getTokens(): Promise<OfficialToken[]>
}

export interface OfficialSdk {
  OAuthBuilder: new () => {
    clientId(v: string): unknown
    clientSecret(v: string): unknown
    refreshToken(v: string): unknown
    userSignature(v: unknown): unknown
    build(): OfficialToken
  }
  UserSignature: new (name: string) => unknown
  FileStore: new (path: string) => OfficialStore
  DBBuilder: new () => {
    host(v: string): unknown
    databaseName(v: string): unknown
    tableName(v: string): unknown
    userName(v: string): unknown
    password(v: string): unknown
    portNumber(v: number): unknown
    build(): OfficialStore
  }
  Environment: new (url: string, accountsUrl: string, fileUploadUrl: string) => unknown
  InitializeBuilder: new () => {
    environment(v: unknown): unknown
    token(v: unknown): unknown
    store(v: unknown): unknown
    logger(v: unknown): unknown
    initialize(): Promise<void>
  }
  LogBuilder: new () => { level(v: unknown): { build(): unknown } }
  Levels: Record<string, unknown>
}

// The package's own entry: requiring its modules one by one trips over their import cycles.
export const officialSdk = createRequire(import.meta.url)(
  '@zohocrm/typescript-sdk-8.0',
) as OfficialSdk

/** A token for a user only, as the official flow looks a stored token up. */
export function officialTokenFor(user: string): OfficialToken {
  const builder = new officialSdk.OAuthBuilder()
  builder.userSignature(new officialSdk.UserSignature(user))
  return builder.build()
}

/**
 * The official SDK's (global) initialization, pointed at an accounts server of our own:
 * `apiUrl` for the API, `tokenUrl` for the token endpoint, logging off.
 */
export async function initializeOfficial(
  apiUrl: string,
  tokenUrl: string,
  token: OfficialToken,
  store: OfficialStore,
): Promise<void> {
  const init = new officialSdk.InitializeBuilder()
  init.environment(new officialSdk.Environment(apiUrl, tokenUrl, apiUrl))
  init.token(token)
  init.store(store)
  init.logger(new officialSdk.LogBuilder().level(officialSdk.Levels.OFF).build())
  await init.initialize()
}
