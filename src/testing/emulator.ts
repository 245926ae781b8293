/**
 * A local stand-in for Zoho Accounts (consent page, token, refresh, revoke) and a tiny Zoho CRM
 * API (current user, leads), on a real HTTP server built on `node:http` alone. Tests, the demo
 * and the benchmarks point an {@link Environment} at it instead of `accounts.zoho.com`.
 *
 * It answers in Zoho's shapes, keeps Zoho's rules (single-use grant codes that live 3 minutes, no
 * refresh token rotation, 10 access tokens per refresh token per 10 minutes) and can be told to
 * misbehave ({@link AccountsEmulator.fail}). It never writes to stdout.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { InvalidArgumentError } from '../errors.js'
import { Environment } from '../oauth/environments.js'

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

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
}

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
  /** How long access tokens live, in seconds; default 3600. */
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
   * How many access tokens one refresh token may get by refreshing within a window; default
   * Zoho's 10 per 10 minutes. `false` lifts the limit.
   */
  accessTokenLimit?: { count: number; windowMs: number } | false
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
  /** The clock (epoch milliseconds) for the expiry of codes and tokens and the rate limit. */
  now?: () => number
}

/**
 * Live request counters. `api` counts the leads API, `currentUser` the users API; `rejected`
 * counts requests answered with an error (including Zoho's HTTP 200 error bodies), `faults` the
 * requests answered with an injected fault (which are not counted as rejected). `total` counts
 * every request, including those to unknown paths.
 */
export interface EmulatorCounts {
  consent: number
  approve: number
  exchange: number
  refresh: number
  revoke: number
  api: number
  currentUser: number
  rejected: number
  faults: number
  total: number
}

/** A running emulator, from {@link startAccountsEmulator}. */
export interface AccountsEmulator {
  /** Where it listens, for example `http://127.0.0.1:43121`. */
  readonly url: string
  /** An environment named `'emulator'` whose API domain and accounts URL are both {@link url}. */
  readonly environment: Environment
  /** The registered clients. */
  readonly clients: readonly EmulatorClient[]
  /** Live counters of the requests received. */
  readonly counts: EmulatorCounts
  /** Sets every counter back to 0. */
  resetCounts(): void
  /** A grant code as Zoho's self-client console gives one, without the consent page. */
  issueGrantCode(options?: {
    clientId?: string
    user?: string
    redirectUri?: string
    scope?: string
  }): string
  /** The next `times` (default 1) requests to `on` (default 'any') get this fault instead of an answer. */
  fail(fault: EmulatorFault, options?: { times?: number; on?: EmulatorEndpoint }): void
  /** Whether a token (access or refresh) is currently valid. */
  isValid(token: string): boolean
  /** Closes the server and destroys open sockets, including hung ones. */
  close(): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Defaults and wire constants
// ---------------------------------------------------------------------------------------------

const DEFAULT_CLIENT: EmulatorClient = {
  clientId: '1000.EMULATORCLIENT0000000000000000',
  clientSecret: 'emulator-client-secret',
}
const DEFAULT_USER: EmulatorUser = { email: 'ada@zylker.example', fullName: 'Ada Lovelace' }
const DEFAULT_SELF_CLIENT_SCOPE = 'ZohoCRM.modules.ALL,ZohoCRM.users.READ'
const MAX_BODY_BYTES = 1024 * 1024

/** The `error` codes of the token and revoke endpoints, with the `oauth2` style's descriptions. */
const TOKEN_ERRORS = {
  invalid_client: 'The client id is unknown or the client secret is wrong.',
  invalid_code: 'The grant code or refresh token is unknown, used, expired or revoked.',
  invalid_redirect_uri: 'The redirect_uri differs from the one of the authorization request.',
  invalid_code_verifier: 'The code_verifier is missing or does not match the code_challenge.',
  invalid_grant: 'The refresh token was already used; every token of its grant is now revoked.',
  invalid_request: 'A required parameter is missing or the request body could not be read.',
  unsupported_grant_type: 'The grant_type is not authorization_code or refresh_token.',
} as const

/** One of the token endpoint's error codes. */
type TokenErrorCode = keyof typeof TOKEN_ERRORS

/** Zoho's answer, whatever the error style, past the access token limit. */
const RATE_LIMITED_BODY = {
  error: 'Access Denied',
  error_description:
    'You have made too many requests continuously. Please try again after some time.',
}
const AUTHENTICATION_FAILURE = {
  code: 'AUTHENTICATION_FAILURE',
  details: {},
  message: 'Authentication failed',
  status: 'error',
}
const INVALID_TOKEN = {
  code: 'INVALID_TOKEN',
  details: {},
  message: 'invalid oauth token',
  status: 'error',
}
const NOT_FOUND = {
  code: 'INVALID_URL_PATTERN',
  details: {},
  message: 'Please check if the URL trying to access is a correct one',
  status: 'error',
}

const LEADS = [
  {
    id: '4876876000000401001',
    Last_Name: 'Hopper',
    Company: 'Zylker',
    Email: 'grace@zylker.example',
  },
  { id: '4876876000000401002', Last_Name: 'Turing', Company: 'Zoho', Email: 'alan@zoho.example' },
  {
    id: '4876876000000401003',
    Last_Name: 'Noether',
    Company: 'Erlangen',
    Email: 'emmy@erlangen.example',
  },
]

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

type User = Required<EmulatorUser>
type RateLimit = { count: number; windowMs: number }

interface Settings {
  host: string
  port: number
  clients: EmulatorClient[]
  users: User[]
  accessTokenLifetimeMs: number
  grantCodeLifetimeMs: number
  latencyMs: number
  rotateRefreshTokens: boolean
  accessTokenLimit: RateLimit | false
  autoApprove: boolean
  errorStyle: 'zoho' | 'oauth2'
  expiresInStyle: 'seconds' | 'milliseconds'
  now: () => number
}

function checkNumber(value: number | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidArgumentError(name, `${name} must be a number of at least ${min}`)
  }
  return value
}

function checkClients(clients: EmulatorClient[] | undefined): EmulatorClient[] {
  if (clients === undefined) return [{ ...DEFAULT_CLIENT }]
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new InvalidArgumentError('clients', 'clients must be a non-empty array')
  }
  for (const client of clients) {
    if (typeof client?.clientId !== 'string' || typeof client.clientSecret !== 'string') {
      throw new InvalidArgumentError('clients', 'every client needs a clientId and a clientSecret')
    }
  }
  return clients.map((client) => ({ ...client }))
}

function checkUsers(users: EmulatorUser[] | undefined): User[] {
  const given = users ?? [DEFAULT_USER]
  if (!Array.isArray(given) || given.length === 0) {
    throw new InvalidArgumentError('users', 'users must be a non-empty array')
  }
  return given.map((user, index) => {
    if (typeof user?.email !== 'string' || user.email.length === 0) {
      throw new InvalidArgumentError('users', 'every user needs an email')
    }
    return {
      email: user.email,
      fullName: user.fullName ?? user.email.split('@')[0] ?? user.email,
      // Zoho CRM user ids are 19 digits.
      id: user.id ?? String(4876876000000300001n + BigInt(index)),
    }
  })
}

function checkLimit(limit: AccountsEmulatorOptions['accessTokenLimit']): RateLimit | false {
  if (limit === undefined) return { count: 10, windowMs: 600_000 }
  if (limit === false) return false
  return {
    count: checkNumber(limit.count, 'accessTokenLimit.count', 10, 1),
    windowMs: checkNumber(limit.windowMs, 'accessTokenLimit.windowMs', 600_000, 1),
  }
}

function resolveSettings(options: AccountsEmulatorOptions): Settings {
  return {
    host: options.host ?? '127.0.0.1',
    port: checkNumber(options.port, 'port', 0),
    clients: checkClients(options.clients),
    users: checkUsers(options.users),
    accessTokenLifetimeMs:
      checkNumber(options.accessTokenLifetimeSec, 'accessTokenLifetimeSec', 3600, 1) * 1000,
    grantCodeLifetimeMs:
      checkNumber(options.grantCodeLifetimeSec, 'grantCodeLifetimeSec', 180, 1) * 1000,
    latencyMs: checkNumber(options.latencyMs, 'latencyMs', 0),
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    accessTokenLimit: checkLimit(options.accessTokenLimit),
    autoApprove: options.autoApprove ?? false,
    errorStyle: options.errorStyle ?? 'zoho',
    expiresInStyle: options.expiresInStyle ?? 'seconds',
    now: options.now ?? Date.now,
  }
}

// ---------------------------------------------------------------------------------------------
// The ledger: codes and tokens, with Zoho's rules, and no HTTP
// ---------------------------------------------------------------------------------------------

/** Everything descended from one grant code: its refresh and access tokens die together. */
interface Grant {
  readonly clientId: string
  readonly user: User
  readonly scope: string
  alive: boolean
  /** When refreshes of this grant issued access tokens, within the limit's window. */
  refreshTimes: number[]
}

interface CodeRecord {
  readonly clientId: string
  readonly user: User
  readonly scope: string
  readonly redirectUri: string | undefined
  readonly codeChallenge: string | undefined
  readonly expiresAt: number
  used: boolean
}

interface RefreshRecord {
  readonly grant: Grant
  /** `used` once rotation replaced it. */
  state: 'active' | 'used' | 'revoked'
}

interface AccessRecord {
  readonly grant: Grant
  readonly expiresAt: number
  revoked: boolean
}

/** What a successful exchange or refresh gives. */
interface Issued {
  accessToken: string
  refreshToken: string | undefined
  scope: string
}

type Outcome = { ok: true; issued: Issued } | { ok: false; error: TokenErrorCode | 'rate_limited' }

/** A token shaped like Zoho's: `1000.` + 32 hex + `.` + 32 hex. */
function zohoToken(): string {
  return `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

class Ledger {
  private readonly codes = new Map<string, CodeRecord>()
  private readonly refreshTokens = new Map<string, RefreshRecord>()
  private readonly accessTokens = new Map<string, AccessRecord>()

  constructor(private readonly settings: Settings) {}

  client(clientId: string | undefined): EmulatorClient | undefined {
    return this.settings.clients.find((client) => client.clientId === clientId)
  }

  user(email: string | undefined): User | undefined {
    return this.settings.users.find((user) => user.email === email)
  }

  issueCode(grant: {
    clientId: string
    user: User
    scope: string
    redirectUri?: string | undefined
    codeChallenge?: string | undefined
  }): string {
    const code = zohoToken()
    this.codes.set(code, {
      clientId: grant.clientId,
      user: grant.user,
      scope: grant.scope,
      redirectUri: grant.redirectUri,
      codeChallenge: grant.codeChallenge,
      expiresAt: this.settings.now() + this.settings.grantCodeLifetimeMs,
      used: false,
    })
    return code
  }

  authenticate(clientId: string | undefined, clientSecret: string | undefined): boolean {
    const client = this.client(clientId)
    return client !== undefined && client.clientSecret === clientSecret
  }

  /** Spends a grant code. A code is consumed only by a successful exchange. */
  exchange(request: {
    clientId: string
    code: string | undefined
    redirectUri: string | undefined
    codeVerifier: string | undefined
  }): Outcome {
    const record = request.code === undefined ? undefined : this.codes.get(request.code)
    if (
      record === undefined ||
      record.used ||
      record.clientId !== request.clientId ||
      this.settings.now() >= record.expiresAt
    ) {
      return { ok: false, error: 'invalid_code' }
    }
    if (record.redirectUri !== undefined && record.redirectUri !== request.redirectUri) {
      return { ok: false, error: 'invalid_redirect_uri' }
    }
    if (
      record.codeChallenge !== undefined &&
      (request.codeVerifier === undefined || s256(request.codeVerifier) !== record.codeChallenge)
    ) {
      return { ok: false, error: 'invalid_code_verifier' }
    }
    record.used = true
    const grant: Grant = {
      clientId: record.clientId,
      user: record.user,
      scope: record.scope,
      alive: true,
      refreshTimes: [],
    }
    const refreshToken = zohoToken()
    this.refreshTokens.set(refreshToken, { grant, state: 'active' })
    return {
      ok: true,
      issued: { accessToken: this.issueAccess(grant), refreshToken, scope: grant.scope },
    }
  }

  refresh(clientId: string, refreshToken: string | undefined): Outcome {
    const record = refreshToken === undefined ? undefined : this.refreshTokens.get(refreshToken)
    if (record === undefined || record.grant.clientId !== clientId || !record.grant.alive) {
      return { ok: false, error: 'invalid_code' }
    }
    if (record.state === 'used') {
      // A replaced refresh token came back: someone holds a copy. Revoke the whole grant.
      record.grant.alive = false
      return { ok: false, error: 'invalid_grant' }
    }
    if (record.state === 'revoked') return { ok: false, error: 'invalid_code' }
    if (!this.withinLimit(record.grant)) return { ok: false, error: 'rate_limited' }

    let next: string | undefined
    if (this.settings.rotateRefreshTokens) {
      record.state = 'used'
      next = zohoToken()
      this.refreshTokens.set(next, { grant: record.grant, state: 'active' })
    }
    const accessToken = this.issueAccess(record.grant)
    return { ok: true, issued: { accessToken, refreshToken: next, scope: record.grant.scope } }
  }

  /** Counts a refresh against the grant's sliding window; false when the limit is reached. */
  private withinLimit(grant: Grant): boolean {
    const limit = this.settings.accessTokenLimit
    if (limit === false) return true
    const now = this.settings.now()
    grant.refreshTimes = grant.refreshTimes.filter((time) => now - time < limit.windowMs)
    if (grant.refreshTimes.length >= limit.count) return false
    grant.refreshTimes.push(now)
    return true
  }

  private issueAccess(grant: Grant): string {
    const token = zohoToken()
    this.accessTokens.set(token, {
      grant,
      expiresAt: this.settings.now() + this.settings.accessTokenLifetimeMs,
      revoked: false,
    })
    return token
  }

  /**
   * Revokes an access token alone, or a refresh token with everything of its grant (with
   * rotation, the grant's other refresh tokens too). Unknown tokens are ignored.
   */
  revoke(token: string): void {
    const refresh = this.refreshTokens.get(token)
    if (refresh !== undefined) {
      refresh.state = 'revoked'
      refresh.grant.alive = false
    }
    const access = this.accessTokens.get(token)
    if (access !== undefined) access.revoked = true
  }

  /** The user of a valid access token. */
  accessTokenUser(token: string): User | undefined {
    const record = this.accessTokens.get(token)
    if (record === undefined || record.revoked || !record.grant.alive) return undefined
    return this.settings.now() < record.expiresAt ? record.grant.user : undefined
  }

  isValid(token: string): boolean {
    if (this.accessTokenUser(token) !== undefined) return true
    const refresh = this.refreshTokens.get(token)
    return refresh !== undefined && refresh.state === 'active' && refresh.grant.alive
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

/** An answer, built by a handler and written by the dispatcher. */
interface Reply {
  status: number
  headers: Record<string, string>
  body: string
  /** Whether it answers with an error, for `counts.rejected`. */
  rejected: boolean
}

function json(status: number, value: unknown, rejected = status >= 400): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store' },
    body: JSON.stringify(value),
    rejected,
  }
}

function html(status: number, title: string, content: string): Reply {
  const body = [
    '<!doctype html>',
    '<html lang="en">',
    `<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`,
    `<body>\n<h1>${escapeHtml(title)}</h1>\n${content}\n</body>`,
    '</html>',
    '',
  ].join('\n')
  return {
    status,
    headers: { 'content-type': 'text/html;charset=UTF-8' },
    body,
    rejected: status >= 400,
  }
}

function errorPage(message: string): Reply {
  return html(400, 'Zoho Accounts emulator: invalid request', `<p>${escapeHtml(message)}</p>`)
}

function isReply(value: object): value is Reply {
  return 'status' in value && 'body' in value
}

function redirect(location: URL, rejected = false): Reply {
  return { status: 302, headers: { location: location.href }, body: '', rejected }
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * The request's parameters from a form body (urlencoded or multipart, as the official SDKs send)
 * and the query string; the body wins, and the first value of a repeated name.
 */
async function readParams(
  url: URL,
  contentType: string,
  body: Buffer,
): Promise<Map<string, string>> {
  const params = new Map<string, string>()
  const add = (entries: Iterable<[string, unknown]>): void => {
    for (const [name, value] of entries) {
      if (typeof value === 'string' && !params.has(name)) params.set(name, value)
    }
  }
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase()
  if (mediaType === 'application/x-www-form-urlencoded') {
    add(new URLSearchParams(body.toString('utf8')))
  } else if (mediaType === 'multipart/form-data') {
    // The fetch API's own multipart parser, rather than a hand-written one.
    const request = new Request(url, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(body),
    })
    add(await request.formData())
  }
  add(url.searchParams)
  return params
}

/** The token of an `Authorization: Zoho-oauthtoken <token>` (or `Bearer <token>`) header. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^(?:Zoho-oauthtoken|Bearer)\s+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}

// ---------------------------------------------------------------------------------------------
// Routing and faults
// ---------------------------------------------------------------------------------------------

type Route = 'consent' | 'approve' | 'token' | 'revoke' | 'currentUser' | 'leads' | 'notFound'

/** What a request is, for the counters and for matching faults. */
type Kind =
  | 'consent'
  | 'approve'
  | 'exchange'
  | 'refresh'
  | 'token'
  | 'revoke'
  | 'api'
  | 'currentUser'
  | 'other'

const ROUTES: ReadonlyArray<{ method: string; path: RegExp; route: Route }> = [
  { method: 'GET', path: /^\/oauth\/v2\/auth$/, route: 'consent' },
  { method: 'POST', path: /^\/oauth\/v2\/auth\/approve$/, route: 'approve' },
  { method: 'POST', path: /^\/oauth\/v2\/token$/, route: 'token' },
  { method: 'POST', path: /^\/oauth\/v2\/token\/revoke$/, route: 'revoke' },
  { method: 'GET', path: /^\/crm\/v\d+\/users$/, route: 'currentUser' },
  { method: 'GET', path: /^\/crm\/v\d+\/Leads$/, route: 'leads' },
]

function route(method: string | undefined, pathname: string): Route {
  return ROUTES.find((r) => r.method === method && r.path.test(pathname))?.route ?? 'notFound'
}

function kindOf(route: Route, params: Map<string, string>): Kind {
  switch (route) {
    case 'token': {
      const grantType = params.get('grant_type')
      if (grantType === 'authorization_code') return 'exchange'
      return grantType === 'refresh_token' ? 'refresh' : 'token'
    }
    case 'leads':
      return 'api'
    case 'notFound':
      return 'other'
    default:
      return route
  }
}

/** The kinds of request each endpoint of {@link AccountsEmulator.fail} stands for, but `any`. */
const ENDPOINT_KINDS: Record<Exclude<EmulatorEndpoint, 'any'>, readonly Kind[]> = {
  exchange: ['exchange'],
  refresh: ['refresh'],
  token: ['exchange', 'refresh', 'token'],
  revoke: ['revoke'],
  api: ['api', 'currentUser'],
}

/** The counter of each kind; `token` (an unknown grant type) and `other` only count in `total`. */
const COUNTER_OF: Partial<Record<Kind, keyof EmulatorCounts>> = {
  consent: 'consent',
  approve: 'approve',
  exchange: 'exchange',
  refresh: 'refresh',
  revoke: 'revoke',
  api: 'api',
  currentUser: 'currentUser',
}

const FAULTS: readonly EmulatorFault[] = [
  'http500',
  'http503',
  'http429',
  'hang',
  'reset',
  'malformed-json',
  'html',
  'error-body',
  'no-access-token',
]

interface PendingFault {
  fault: EmulatorFault
  on: EmulatorEndpoint
  remaining: number
}

function faultApplies(on: EmulatorEndpoint, kind: Kind): boolean {
  return on === 'any' || ENDPOINT_KINDS[on].includes(kind)
}

const COUNTERS: ReadonlyArray<keyof EmulatorCounts> = [
  'consent',
  'approve',
  'exchange',
  'refresh',
  'revoke',
  'api',
  'currentUser',
  'rejected',
  'faults',
  'total',
]

function zeroCounts(): EmulatorCounts {
  return Object.fromEntries(COUNTERS.map((name) => [name, 0])) as unknown as EmulatorCounts
}

/** A validated authorization request (consent page or its form). */
interface AuthRequest {
  clientId: string
  /** As the client sent it (checked to be a URL), since the exchange must repeat it exactly. */
  redirectUri: string
  scope: string
  state: string | undefined
  codeChallenge: string | undefined
  codeChallengeMethod: string | undefined
}

// ---------------------------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------------------------

class Emulator implements AccountsEmulator {
  readonly clients: readonly EmulatorClient[]
  readonly counts = zeroCounts()
  private readonly ledger: Ledger
  private readonly server: Server
  private readonly faults: PendingFault[] = []
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private address = ''
  private env: Environment | undefined
  private closing: Promise<void> | undefined

  constructor(private readonly settings: Settings) {
    this.clients = settings.clients
    this.ledger = new Ledger(settings)
    this.server = createServer((req, res) => void this.dispatch(req, res))
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  get url(): string {
    return this.address
  }

  get environment(): Environment {
    if (this.env === undefined) throw new Error('the emulator is not listening')
    return this.env
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.settings.port, this.settings.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const { address, port } = this.server.address() as AddressInfo
    // Listening on every interface: this machine reaches it on loopback, the one address an
    // http Environment may name.
    const reachable = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address
    const host = reachable.includes(':') ? `[${reachable}]` : reachable
    this.address = `http://${host}:${port}`
    this.env = new Environment({
      name: 'emulator',
      apiDomain: this.address,
      accountsUrl: this.address,
    })
  }

  resetCounts(): void {
    for (const name of COUNTERS) this.counts[name] = 0
  }

  issueGrantCode(
    options: { clientId?: string; user?: string; redirectUri?: string; scope?: string } = {},
  ): string {
    const clientId = options.clientId ?? this.clients[0]?.clientId ?? ''
    if (this.ledger.client(clientId) === undefined) {
      throw new InvalidArgumentError('clientId', 'issueGrantCode: unknown client id')
    }
    const user = this.ledger.user(options.user ?? this.settings.users[0]?.email)
    if (user === undefined) throw new InvalidArgumentError('user', 'issueGrantCode: unknown user')
    return this.ledger.issueCode({
      clientId,
      user,
      scope: options.scope ?? DEFAULT_SELF_CLIENT_SCOPE,
      redirectUri: options.redirectUri,
    })
  }

  fail(fault: EmulatorFault, options: { times?: number; on?: EmulatorEndpoint } = {}): void {
    if (!FAULTS.includes(fault)) throw new InvalidArgumentError('fault', 'fail: unknown fault')
    const on = options.on ?? 'any'
    if (on !== 'any' && !(on in ENDPOINT_KINDS)) {
      throw new InvalidArgumentError('on', 'fail: unknown endpoint')
    }
    const times = checkNumber(options.times, 'times', 1, 1)
    this.faults.push({ fault, on, remaining: times })
  }

  isValid(token: string): boolean {
    return this.ledger.isValid(token)
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer)
      this.timers.clear()
      this.server.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
    })
    return this.closing
  }

  // -- request handling -------------------------------------------------------------------

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.total += 1
    try {
      const url = new URL(req.url ?? '/', this.address)
      const body = await readBody(req)
      if (body === undefined) {
        this.counts.rejected += 1
        return this.send(res, json(413, { error: 'invalid_request' }))
      }
      const params = await readParams(url, req.headers['content-type'] ?? '', body).catch(
        () => undefined,
      )
      const path = route(req.method, url.pathname)
      const kind = params === undefined ? 'other' : kindOf(path, params)
      const counter = COUNTER_OF[kind]
      if (counter !== undefined) this.counts[counter] += 1

      const fault = this.takeFault(kind)
      await this.delay()
      if (fault !== undefined) {
        this.counts.faults += 1
        return this.sendFault(fault, req, res)
      }
      const reply =
        params === undefined ? this.tokenError('invalid_request') : this.answer(path, params, req)
      if (reply.rejected) this.counts.rejected += 1
      this.send(res, reply)
    } catch {
      // A bug of the emulator: answer rather than leave the client waiting. Nothing is logged.
      this.counts.rejected += 1
      this.send(res, json(500, { error: 'internal_error' }))
    }
  }

  private answer(path: Route, params: Map<string, string>, req: IncomingMessage): Reply {
    switch (path) {
      case 'consent':
        return this.consent(params)
      case 'approve':
        return this.approve(params)
      case 'token':
        return this.token(params)
      case 'revoke':
        return this.revoke(params)
      case 'currentUser':
        return this.users(params, req)
      case 'leads':
        return this.leads(req)
      case 'notFound':
        return json(404, NOT_FOUND)
    }
  }

  private takeFault(kind: Kind): EmulatorFault | undefined {
    const index = this.faults.findIndex((pending) => faultApplies(pending.on, kind))
    const pending = this.faults[index]
    if (pending === undefined) return undefined
    pending.remaining -= 1
    if (pending.remaining <= 0) this.faults.splice(index, 1)
    return pending.fault
  }

  private delay(): Promise<void> {
    if (this.settings.latencyMs <= 0) return Promise.resolve()
    // Cleared by close(); the request's socket is destroyed then, so it never resumes.
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        resolve()
      }, this.settings.latencyMs)
      this.timers.add(timer)
    })
  }

  private send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return
    res.writeHead(reply.status, reply.headers).end(reply.body)
  }

  private sendFault(fault: EmulatorFault, req: IncomingMessage, res: ServerResponse): void {
    // A hung request keeps its socket until the client gives up or close() destroys it.
    if (fault === 'hang') return
    if (fault === 'reset') {
      req.socket.resetAndDestroy()
      return
    }
    this.send(res, this.faultReply(fault))
  }

  private faultReply(fault: Exclude<EmulatorFault, 'hang' | 'reset'>): Reply {
    switch (fault) {
      case 'malformed-json':
        return { ...json(200, {}), body: '{"access_token":"1000.3f2a9c' }
      case 'html':
        return html(502, '502 Bad Gateway', '<p>The upstream server is unreachable.</p>')
      case 'http500':
        return json(500, { error: 'internal_error', error_description: 'Internal server error' })
      case 'http503':
        return json(503, { error: 'temporarily_unavailable', error_description: 'Try again later' })
      case 'http429': {
        const reply = json(429, { error: 'too_many_requests', error_description: 'Slow down' })
        return { ...reply, headers: { ...reply.headers, 'retry-after': '1' } }
      }
      case 'error-body':
        return json(200, { error: 'internal_error' })
      case 'no-access-token':
        return json(200, { api_domain: this.address, token_type: 'Bearer', ...this.expiresIn() })
    }
  }

  // -- consent ----------------------------------------------------------------------------

  /** Checks the client and redirect URI (errors shown as a page), then the rest (redirected). */
  private checkAuthRequest(params: Map<string, string>): AuthRequest | Reply {
    const client = this.ledger.client(params.get('client_id'))
    if (client === undefined) return errorPage('Invalid client: this client id is not registered.')
    const redirectUri = params.get('redirect_uri') ?? ''
    if (!URL.canParse(redirectUri)) {
      return errorPage('Invalid redirect URI: redirect_uri is missing or not a URL.')
    }
    if (client.redirectUris !== undefined && !client.redirectUris.includes(redirectUri)) {
      return errorPage('Invalid redirect URI: it is not registered for this client.')
    }
    const request: AuthRequest = {
      clientId: client.clientId,
      redirectUri,
      scope: params.get('scope') ?? '',
      state: params.get('state'),
      codeChallenge: params.get('code_challenge'),
      codeChallengeMethod: params.get('code_challenge_method'),
    }
    // From here on the redirect URI is trusted: errors go back to the client (RFC 6749 4.1.2.1).
    const responseType = params.get('response_type')
    if (responseType !== undefined && responseType !== 'code') {
      return this.redirectError(request, 'unsupported_response_type')
    }
    if (request.scope === '') return this.redirectError(request, 'invalid_scope')
    if (request.codeChallenge !== undefined && request.codeChallengeMethod !== 'S256') {
      return this.redirectError(request, 'invalid_request')
    }
    return request
  }

  private consent(params: Map<string, string>): Reply {
    const request = this.checkAuthRequest(params)
    if (isReply(request)) return request
    const firstUser = this.settings.users[0]
    if (this.settings.autoApprove && firstUser !== undefined) {
      return this.approved(request, this.ledger.user(params.get('login_hint')) ?? firstUser)
    }
    return html(200, 'Zoho Accounts emulator: consent', this.consentForm(request))
  }

  private consentForm(request: AuthRequest): string {
    const hidden: Array<[string, string | undefined]> = [
      ['client_id', request.clientId],
      ['redirect_uri', request.redirectUri],
      ['scope', request.scope],
      ['state', request.state],
      ['code_challenge', request.codeChallenge],
      ['code_challenge_method', request.codeChallengeMethod],
    ]
    const scopes = request.scope.split(/[\s,]+/).filter((scope) => scope !== '')
    const options = this.settings.users.map(
      (user) =>
        `<option value="${escapeHtml(user.email)}">${escapeHtml(`${user.fullName} <${user.email}>`)}</option>`,
    )
    return [
      `<p>The application <code>${escapeHtml(request.clientId)}</code> would like to access:</p>`,
      `<ul>${scopes.map((scope) => `<li>${escapeHtml(scope)}</li>`).join('')}</ul>`,
      `<p>You will return to <code>${escapeHtml(request.redirectUri)}</code>.</p>`,
      '<form method="post" action="/oauth/v2/auth/approve">',
      ...hidden
        .filter((field): field is [string, string] => field[1] !== undefined)
        .map(
          ([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`,
        ),
      `<label>Sign in as <select name="user">${options.join('')}</select></label>`,
      '<button type="submit" name="decision" value="accept">Accept</button>',
      '<button type="submit" name="decision" value="deny">Deny</button>',
      '</form>',
    ].join('\n')
  }

  private approve(params: Map<string, string>): Reply {
    const request = this.checkAuthRequest(params)
    if (isReply(request)) return request
    const decision = params.get('decision')
    if (decision === 'deny') return this.redirectError(request, 'access_denied')
    const user = this.ledger.user(params.get('user'))
    if (decision !== 'accept' || user === undefined) {
      return errorPage('Invalid consent: choose a user, then Accept or Deny.')
    }
    return this.approved(request, user)
  }

  private approved(request: AuthRequest, user: User): Reply {
    const code = this.ledger.issueCode({
      clientId: request.clientId,
      user,
      scope: request.scope,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
    })
    return redirect(this.redirectUrl(request, { code }))
  }

  private redirectError(request: AuthRequest, error: string): Reply {
    return redirect(this.redirectUrl(request, { error }), true)
  }

  /** The client's redirect URI with the answer, the state and Zoho's data center parameters. */
  private redirectUrl(request: AuthRequest, answer: Record<string, string>): URL {
    const location = new URL(request.redirectUri)
    for (const [name, value] of Object.entries(answer)) location.searchParams.set(name, value)
    if (request.state !== undefined) location.searchParams.set('state', request.state)
    location.searchParams.set('location', 'us')
    location.searchParams.set('accounts-server', this.address)
    return location
  }

  // -- token endpoint ---------------------------------------------------------------------

  private token(params: Map<string, string>): Reply {
    const grantType = params.get('grant_type')
    if (grantType === undefined) return this.tokenError('invalid_request')
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      return this.tokenError('unsupported_grant_type')
    }
    const clientId = params.get('client_id')
    if (
      clientId === undefined ||
      !this.ledger.authenticate(clientId, params.get('client_secret'))
    ) {
      return this.tokenError('invalid_client')
    }
    const outcome =
      grantType === 'authorization_code'
        ? this.ledger.exchange({
            clientId,
            code: params.get('code'),
            redirectUri: params.get('redirect_uri'),
            codeVerifier: params.get('code_verifier'),
          })
        : this.ledger.refresh(clientId, params.get('refresh_token'))
    if (!outcome.ok) {
      return outcome.error === 'rate_limited'
        ? json(400, RATE_LIMITED_BODY)
        : this.tokenError(outcome.error)
    }
    const { accessToken, refreshToken, scope } = outcome.issued
    return json(200, {
      access_token: accessToken,
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
      scope,
      api_domain: this.address,
      token_type: 'Bearer',
      ...this.expiresIn(),
    })
  }

  private expiresIn(): Record<string, number> {
    const seconds = this.settings.accessTokenLifetimeMs / 1000
    return this.settings.expiresInStyle === 'seconds'
      ? { expires_in: seconds }
      : { expires_in: seconds * 1000, expires_in_sec: seconds }
  }

  private tokenError(error: TokenErrorCode): Reply {
    if (this.settings.errorStyle === 'zoho') return json(200, { error }, true)
    const status = error === 'invalid_client' ? 401 : 400
    return json(status, { error, error_description: TOKEN_ERRORS[error] })
  }

  private revoke(params: Map<string, string>): Reply {
    const token = params.get('token')
    if (token === undefined || token === '') return this.tokenError('invalid_request')
    this.ledger.revoke(token)
    return json(200, { status: 'success' })
  }

  // -- CRM API ----------------------------------------------------------------------------

  /** The user of the request's access token, or the CRM's 401 answer. */
  private authorize(req: IncomingMessage): User | Reply {
    const token = bearerToken(req.headers.authorization)
    if (token === undefined) return json(401, AUTHENTICATION_FAILURE)
    return this.ledger.accessTokenUser(token) ?? json(401, INVALID_TOKEN)
  }

  private users(params: Map<string, string>, req: IncomingMessage): Reply {
    const current = this.authorize(req)
    if (isReply(current)) return current
    const users = params.get('type') === 'CurrentUser' ? [current] : this.settings.users
    return json(200, {
      users: users.map((user) => ({
        id: user.id,
        email: user.email,
        full_name: user.fullName,
        status: 'active',
      })),
    })
  }

  private leads(req: IncomingMessage): Reply {
    const user = this.authorize(req)
    if (isReply(user)) return user
    return json(200, {
      data: LEADS,
      info: { per_page: 200, count: LEADS.length, page: 1, more_records: false },
    })
  }
}

/**
 * Starts an accounts emulator: a local HTTP server that behaves like Zoho Accounts (consent page,
 * grant code exchange, refresh, revoke) and a small Zoho CRM API (`/crm/v8/users`,
 * `/crm/v8/Leads`). Close it with `close()`.
 *
 * Token errors, in `error`: `invalid_client` (unknown client id or wrong secret),
 * `invalid_code` (grant code or refresh token unknown, used, expired, revoked or of another
 * client), `invalid_redirect_uri`, `invalid_code_verifier` (PKCE), `invalid_grant` (a rotated-out
 * refresh token presented again), `invalid_request` (a parameter missing),
 * `unsupported_grant_type`; past the access token limit, Zoho's HTTP 400 `Access Denied`.
 *
 * @example
 * const emulator = await startAccountsEmulator({ now: () => clock })
 * const code = emulator.issueGrantCode()
 * const { clientId, clientSecret } = emulator.clients[0]!
 * const res = await fetch(emulator.environment.tokenUrl, {
 *   method: 'POST',
 *   body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, client_secret: clientSecret, code }),
 * })
 * await emulator.close()
 */
export async function startAccountsEmulator(
  options: AccountsEmulatorOptions = {},
): Promise<AccountsEmulator> {
  const emulator = new Emulator(resolveSettings(options))
  await emulator.listen()
  return emulator
}
