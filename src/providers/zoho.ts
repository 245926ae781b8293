// Everything Zoho: its data centers, endpoint paths, answers, user look-up, token shapes and
// limits. Nothing else in tokenkeeper names Zoho; a custom environment is Zoho-style by default.
import type { Provider, ResponseQuirks } from './provider.js'

/** Zoho's accounts-server paths (the same in every data center). */
const PATHS = {
  authorization: '/oauth/v2/auth',
  token: '/oauth/v2/token',
  revocation: '/oauth/v2/token/revoke',
} as const

/** Zoho's answers: errors in HTTP 200, `expires_in_sec`, an "Access Denied" rate limit. */
const ZOHO_QUIRKS: ResponseQuirks = Object.freeze({
  errorsInSuccess: true,
  // Older Zoho answers: expires_in in milliseconds, expires_in_sec beside it; the latter rules.
  // A null expires_in_sec is no value (as a null expires_in is), not a reason to ignore a valid
  // expires_in: servers that write null for fields they lack write today's seconds beside it.
  lifetimeField: (answer: Readonly<Record<string, unknown>>) =>
    answer.expires_in_sec !== undefined && answer.expires_in_sec !== null
      ? 'expires_in_sec'
      : 'expires_in',
  // Zoho's answer when a refresh token has made too many access tokens in a short time.
  isRateLimit: (error: string, description: string | undefined) =>
    // Stryker disable next-line StringLiteral: any fallback without the phrase reads the same
    /access denied/i.test(error) && /too many requests/i.test(description ?? ''),
  // Zoho's answers say Bearer; its own scheme's name is accepted too.
  tokenTypes: Object.freeze(['bearer', 'zoho-oauthtoken']),
})

/** Zoho's `1000.<hex>.<hex>` tokens and grant codes. */
export const ZOHO_TOKEN_PATTERN = /\b1000\.[0-9a-f]{16,}\.[0-9a-f]{16,}\b/gi

const TEN_MINUTES_MS = 10 * 60_000

/**
 * Zoho as a {@link Provider}: `client_secret_post`, `Zoho-oauthtoken ` API calls, the CRM's
 * current-user look-up, and Zoho's published limits (10 access tokens per refresh token and 10
 * grant exchanges per client, each in 10 minutes).
 */
export const zoho: Provider = Object.freeze({
  name: 'zoho',
  endpoints: (accountsUrl: string) => ({
    authorization: `${accountsUrl}${PATHS.authorization}`,
    token: `${accountsUrl}${PATHS.token}`,
    revocation: `${accountsUrl}${PATHS.revocation}`,
  }),
  clientAuth: 'client_secret_post',
  authHeaderPrefix: 'Zoho-oauthtoken ',
  quirks: ZOHO_QUIRKS,
  currentUser: Object.freeze({
    path: '/crm/v8/users?type=CurrentUser',
    name: (body: unknown) => {
      const users = (body as { users?: unknown } | null)?.users
      const email = Array.isArray(users)
        ? (users[0] as { email?: unknown } | undefined)?.email
        : undefined
      return typeof email === 'string' && email.length > 0 ? email : undefined
    },
  }),
  tokenPatterns: Object.freeze([ZOHO_TOKEN_PATTERN]),
  budgets: Object.freeze({
    accessTokensPerRefreshToken: Object.freeze({ limit: 10, windowMs: TEN_MINUTES_MS }),
    grantExchangesPerClient: Object.freeze({ limit: 10, windowMs: TEN_MINUTES_MS }),
  }),
})

/** A Zoho data center: its code, its API hosts' top-level domain and its accounts server. */
export interface ZohoRegion {
  readonly code: string
  readonly tld: string
  readonly accountsUrl: string
}

/** Zoho's data centers, with the official SDKs' accounts URLs. */
export const ZOHO_REGIONS = [
  { code: 'US', tld: 'com', accountsUrl: 'https://accounts.zoho.com' },
  { code: 'EU', tld: 'eu', accountsUrl: 'https://accounts.zoho.eu' },
  { code: 'IN', tld: 'in', accountsUrl: 'https://accounts.zoho.in' },
  { code: 'CN', tld: 'com.cn', accountsUrl: 'https://accounts.zoho.com.cn' },
  { code: 'JP', tld: 'jp', accountsUrl: 'https://accounts.zoho.jp' },
  { code: 'AU', tld: 'com.au', accountsUrl: 'https://accounts.zoho.com.au' },
  { code: 'CA', tld: 'ca', accountsUrl: 'https://accounts.zohocloud.ca' },
  { code: 'SA', tld: 'sa', accountsUrl: 'https://accounts.zoho.sa' },
] as const satisfies readonly ZohoRegion[]

/** The kinds of environment in each data center, and the API host of each. */
export const ZOHO_KINDS: Readonly<Record<ZohoKind, string>> = {
  PRODUCTION: 'www',
  SANDBOX: 'sandbox',
  DEVELOPER: 'developer',
}

/** The API domain of a data center's environment: `https://sandbox.zohoapis.eu`. */
export function zohoApiDomain(region: ZohoRegion, kind: ZohoKind): string {
  return `https://${ZOHO_KINDS[kind]}.zohoapis.${region.tld}`
}

/**
 * A data center's API origins: an answer's api_domain or a file API (content.) may name any of
 * them; none of another data center's, and https only.
 */
export function zohoApiOrigins(region: ZohoRegion): string[] {
  const origins = ['www', 'sandbox', 'developer', 'content'].map(
    (host) => `https://${host}.zohoapis.${region.tld}`,
  )
  origins.push(`https://zohoapis.${region.tld}`)
  return origins
}

/** A kind of Zoho environment: `PRODUCTION`, `SANDBOX` or `DEVELOPER`. */
export type ZohoKind = 'PRODUCTION' | 'SANDBOX' | 'DEVELOPER'

/** Zoho's `location` callback value of a data center (`us`, `eu`, ...): its code in lower case. */
export function zohoLocation(region: ZohoRegion): string {
  return region.code.toLowerCase()
}

/** Every Zoho data center's `location`, in {@link ZOHO_REGIONS}' order. */
export const ZOHO_LOCATIONS: readonly string[] = ZOHO_REGIONS.map(zohoLocation)

/**
 * The data center and kind of environment an API domain belongs to: `https://www.zohoapis.eu`
 * is EU production, `https://sandbox.zohoapis.com` US sandbox. Only Zoho's own https API hosts
 * (as {@link zohoApiOrigins} lists them, a path ignored) are recognised; anything else is
 * undefined.
 */
export function zohoRegionOfApiDomain(
  apiDomain: string,
): { region: ZohoRegion; kind: ZohoKind } | undefined {
  const origin = URL.canParse(apiDomain) ? new URL(apiDomain).origin : undefined
  if (origin === undefined) return undefined
  const region = ZOHO_REGIONS.find((r) => zohoApiOrigins(r).includes(origin))
  if (region === undefined) return undefined
  const host = new URL(origin).hostname.split('.')[0]
  const kind = (Object.keys(ZOHO_KINDS) as ZohoKind[]).find((k) => ZOHO_KINDS[k] === host)
  // `content.` (file APIs) and the bare `zohoapis.` host serve production.
  return { region, kind: kind ?? 'PRODUCTION' }
}

/**
 * The accounts server that issued a token, from its API domain (Zoho's answers name the data
 * center's API host): `https://accounts.zoho.eu` for `https://www.zohoapis.eu`. Undefined when
 * the token has no API domain or one that is not Zoho's: the caller's environment decides.
 *
 * @example
 * zohoAccountsServerFor({ apiDomain: 'https://www.zohoapis.com.au' }) // 'https://accounts.zoho.com.au'
 */
export function zohoAccountsServerFor(token: {
  readonly apiDomain?: string | undefined
}): string | undefined {
  if (token.apiDomain === undefined) return undefined
  return zohoRegionOfApiDomain(token.apiDomain)?.region.accountsUrl
}
