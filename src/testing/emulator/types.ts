// The emulator's public types: its options, clients, users, faults, counters and the running
// emulator. Re-exported by `tokenkeeper/testing`.
import type { Environment } from '../../oauth/environments.js'

/** An OAuth client registered with the emulator. */
export interface EmulatorClient {
  clientId: string
  clientSecret: string
  /** The redirect URIs the client may use; without them, any redirect URI is accepted. */
  redirectUris?: string[]
}

/** A user who can sign in on the emulator's consent page. */
export interface EmulatorUser {
  email: string
  /** Shown as `full_name` by the users API; defaults to the part of the e-mail before `@`. */
  fullName?: string
  /** The CRM user id; a Zoho-like 19-digit id is made up when absent. */
  id?: string
  /**
   * The user's data center, as Zoho's `location` names it: `'us'` (default, the emulator's main
   * listener) or one of {@link AccountsEmulatorOptions.dataCenters}. The user signs in on the
   * main consent page, and their code and tokens belong to that data center alone.
   */
  dataCenter?: string
}

/**
 * A data center the emulator serves beside its main one (`'us'`): a location code of a Zoho data
 * center (`'eu'`, `'in'`, `'cn'`, `'jp'`, `'au'`, `'ca'`, `'sa'`), and optionally the port of
 * its own listener (default 0, a free port).
 */
export type EmulatorDataCenterOption = string | { location: string; port?: number }

/**
 * A way to misbehave, given to {@link AccountsEmulator.fail}:
 * - `http500`, `http503`: that status with a JSON error body;
 * - `http429`: 429 with `Retry-After: 1`;
 * - `hang`: never answers (the socket stays open until `close()`);
 * - `reset`: the connection is reset without an answer;
 * - `malformed-json`: 200 with a truncated JSON body;
 * - `html`: 502 with an HTML page, as a proxy in front of the server would answer;
 * - `error-body`: 200 `{"error":"internal_error"}`;
 * - `no-access-token`: 200 with a token answer that has no `access_token`.
 */
export type EmulatorFault =
  | 'http500'
  | 'http503'
  | 'http429'
  | 'hang'
  | 'reset'
  | 'malformed-json'
  | 'html'
  | 'error-body'
  | 'no-access-token'

/**
 * Which requests a fault applies to: grant code exchanges, refreshes, `'token'` for any request
 * to the token endpoint, revocations, `'api'` for the CRM API (users and leads), or `'any'`.
 */
export type EmulatorEndpoint = 'exchange' | 'refresh' | 'token' | 'revoke' | 'api' | 'any'

/** Options of {@link startAccountsEmulator}; every one has a Zoho-like default. */
export interface AccountsEmulatorOptions {
  /** The interface to listen on; default `'127.0.0.1'`. */
  host?: string
  /** The port; default 0, a free port chosen by the system. */
  port?: number
  /** The registered clients; default one client, `1000.EMULATORCLIENT0000000000000000`. */
  clients?: EmulatorClient[]
  /** The users who can consent; default `ada@zylker.example` (Ada Lovelace). */
  users?: EmulatorUser[]
  /**
   * More data centers, each on a listener of its own (its own port, so its own origin, as Zoho's
   * `accounts.zoho.eu` is not `accounts.zoho.com`); default none. A user of one of them (see
   * {@link EmulatorUser.dataCenter}) consents on the main page, and the callback then carries
   * `location=<dc>` and `accounts-server=<that data center's origin>`, as Zoho's multi-data-center
   * login does. The code is exchanged, and its tokens refreshed and revoked, at that data
   * center only: elsewhere the code and the refresh token are `invalid_code` (and a revocation
   * is answered success but changes nothing), and the access token is `INVALID_TOKEN` on the
   * API. Their tokens carry that data center's origin as `api_domain`.
   *
   * @example
   * const emulator = await startAccountsEmulator({
   *   dataCenters: ['eu'],
   *   users: [{ email: 'ada@zylker.example' }, { email: 'lise@zylker.example', dataCenter: 'eu' }],
   * })
   * const eu = emulator.dataCenter('eu') // eu.environment, eu.counts, eu.url
   */
  dataCenters?: EmulatorDataCenterOption[]
  /**
   * How long access tokens live, in emulator seconds (see {@link secondMs}); default 3600. Short
   * ones (a few seconds) make a keeper's every cycle quick to test.
   */
  accessTokenLifetimeSec?: number
  /** How long grant codes live, in seconds; default 180, as Zoho's. */
  grantCodeLifetimeSec?: number
  /** A delay added before every response, in milliseconds; default 0. */
  latencyMs?: number
  /**
   * Whether each refresh returns a new refresh token; default false, as Zoho. When on, presenting
   * a refresh token that was already replaced is answered `invalid_grant` and revokes every token
   * descended from the same grant.
   */
  rotateRefreshTokens?: boolean
  /**
   * How many access tokens one refresh token may get by refreshing within a window (in emulator
   * milliseconds); default (and `true`) Zoho's 10 per 10 minutes. `false` lifts the limit.
   * Past it, a refresh is answered HTTP 400 `{"error":"Access Denied"}`, as Zoho answers.
   */
  accessTokenLimit?: { count: number; windowMs: number } | boolean
  /**
   * How many grant codes one client may exchange within a window (in emulator milliseconds):
   * `true` is Zoho's 10 per client per 10 minutes; default `false`, no limit (tests and
   * benchmarks exchange many codes). Past it, an exchange is answered as past the access token
   * limit, and the code is not spent. Only exchanges that would succeed are counted.
   */
  exchangeLimit?: { count: number; windowMs: number } | boolean
  /**
   * A compressed clock: how many real milliseconds one emulator second lasts; default 1000. Every
   * time rule follows it: token and code lifetimes (and `expires_in` in answers, given in real
   * seconds, so a client's expiry matches the emulator's) and the limits' windows. With 10, an
   * hour's token lives 36 s and Zoho's 10-minute windows last 6 s.
   */
  secondMs?: number
  /**
   * Whether the consent page approves at once, without a page, for the user named by the
   * request's `login_hint`, else the first user; default false.
   */
  autoApprove?: boolean
  /**
   * How token errors are answered: `'zoho'` (default) as HTTP 200 `{"error":"invalid_code"}`;
   * `'oauth2'` as HTTP 400 (401 for `invalid_client`) `{"error","error_description"}`.
   */
  errorStyle?: 'zoho' | 'oauth2'
  /**
   * `'seconds'` (default) answers `{"expires_in":3600}`; `'milliseconds'` answers as older Zoho
   * servers did, `{"expires_in":3600000,"expires_in_sec":3600}`.
   */
  expiresInStyle?: 'seconds' | 'milliseconds'
  /**
   * The clock (epoch milliseconds) for the expiry of codes and tokens and the limits' windows;
   * default `Date.now`. A test that moves it by hand needs no sleep.
   */
  now?: () => number
}

/** The request counters of {@link EmulatorCounts}, each a number. */
export type EmulatorCounter =
  | 'consent'
  | 'approve'
  | 'exchange'
  | 'refresh'
  | 'revoke'
  | 'api'
  | 'currentUser'
  | 'rejected'
  | 'faults'
  | 'total'

/** Why the token endpoint refused: its `error` code, or one of Zoho's two limits. */
export type EmulatorRefusal =
  | 'invalid_client'
  | 'invalid_code'
  | 'invalid_redirect_uri'
  | 'invalid_code_verifier'
  | 'invalid_grant'
  | 'invalid_request'
  | 'unsupported_grant_type'
  | 'access_token_limit'
  | 'exchange_limit'

/**
 * Live request counters. `api` counts the leads API, `currentUser` the users API; `rejected`
 * counts requests answered with an error (including Zoho's HTTP 200 error bodies), `faults` the
 * requests answered with an injected fault (which are not counted as rejected). `total` counts
 * every request, including those to unknown paths (but not the admin endpoints under
 * `/emulator/`).
 *
 * The tallies count requests by what they carried, whatever the answer (a fault included):
 * `refreshesByToken` by the refresh token presented, `refreshesByUser` by the e-mail of the user
 * whose grant it belongs to (unknown tokens are not tallied there), `exchangesByClient` by the
 * `client_id`; `refusals` counts the token and revoke endpoints' refusals by reason.
 */
export type EmulatorCounts = Record<EmulatorCounter, number> & {
  readonly refreshesByToken: Record<string, number>
  readonly refreshesByUser: Record<string, number>
  readonly exchangesByClient: Record<string, number>
  readonly refusals: Partial<Record<EmulatorRefusal, number>>
}

/** Which refresh tokens {@link AccountsEmulator.revokeGrants} revokes, and how they are refused. */
export interface RevokeGrantsOptions {
  /** Every grant of this user (e-mail)... */
  user?: string
  /** ...or the grant of this refresh token (with rotation, every refresh token of the chain). */
  refreshToken?: string
  /** Only grants of this client; default any client. */
  clientId?: string
  /**
   * How a refresh with a revoked token is answered from now on: `'invalid_code'` (default, as
   * Zoho answers a revoked refresh token) or `'invalid_grant'` (as OAuth 2.0 servers do).
   */
  error?: 'invalid_code' | 'invalid_grant'
}

/**
 * One data center of a running emulator: its own listener, environment and counters. The main
 * one (`'us'`) shares them with the {@link AccountsEmulator} itself.
 */
export interface EmulatorDataCenter {
  /** Its location code, as the callback's `location` names it: `'us'`, `'eu'`, … */
  readonly location: string
  /** Where it listens, for example `http://127.0.0.1:43122`: its accounts server and API domain. */
  readonly url: string
  /** An environment named `'emulator'` (the main one) or `'emulator-<location>'`, at {@link url}. */
  readonly environment: Environment
  /** Live counters of the requests this data center received. */
  readonly counts: EmulatorCounts
  /** Sets this data center's counters back to 0. */
  resetCounts(): void
  /** As {@link AccountsEmulator.fail}, for the requests this data center receives. */
  fail(fault: EmulatorFault, options?: { times?: number; on?: EmulatorEndpoint }): void
}

/** A running emulator, from {@link startAccountsEmulator}. */
export interface AccountsEmulator {
  /** Where it listens, for example `http://127.0.0.1:43121`. */
  readonly url: string
  /** An environment named `'emulator'` whose API domain and accounts URL are both {@link url}. */
  readonly environment: Environment
  /** The registered clients. */
  readonly clients: readonly EmulatorClient[]
  /** Live counters of the requests received (by the main data center; see {@link dataCenters}). */
  readonly counts: EmulatorCounts
  /** Sets every counter of the main data center back to 0. */
  resetCounts(): void
  /**
   * Every data center it serves, the main one (`'us'`, at {@link url}) first, then those of
   * {@link AccountsEmulatorOptions.dataCenters}. Their environments are what a web login's
   * callback may name, each with its location: `environmentForCallback(params, { accept: 'also', also: dataCenters })`.
   */
  readonly dataCenters: readonly EmulatorDataCenter[]
  /** The data center of a location code (`'us'` is the main one); InvalidArgumentError if none. */
  dataCenter(location: string): EmulatorDataCenter
  /** A grant code as Zoho's self-client console gives one, without the consent page. */
  issueGrantCode(options?: {
    clientId?: string
    user?: string
    redirectUri?: string
    scope?: string
  }): string
  /**
   * The next `times` (default 1) requests to `on` (default 'any') get this fault instead of an
   * answer (requests to the main data center; see {@link EmulatorDataCenter.fail}).
   */
  fail(fault: EmulatorFault, options?: { times?: number; on?: EmulatorEndpoint }): void
  /**
   * Revokes grants as a user removing the app in Zoho's console would: their access tokens stop
   * working and every later refresh with their refresh tokens is refused with `error`, which
   * drives a keeper's token to `reauth_required`. Gives how many grants it revoked. Also
   * `POST /emulator/revoke` (see docs/emulator.md), for an emulator in another process.
   */
  revokeGrants(options: RevokeGrantsOptions): number
  /** Whether a token (access or refresh) is currently valid. */
  isValid(token: string): boolean
  /** Closes the server and destroys open sockets, including hung ones. */
  close(): Promise<void>
}
