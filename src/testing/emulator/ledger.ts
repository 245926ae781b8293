// The ledger: the codes and tokens the emulator issued, with Zoho's rules (single-use grant codes
// that expire, refresh tokens that live until revoked, optional rotation with reuse detection,
// the access token limit per refresh token, the exchange limit per client), and no HTTP. The
// server turns its outcomes into answers; its unit tests are test/testing/emulator/ledger.test.ts.
import { createHash, randomBytes } from 'node:crypto'
import type { EmulatorClient, RevokeGrantsOptions } from './types.js'
import { MAIN_DATA_CENTER, type RateLimit, type Settings, type User } from './settings.js'

/** Everything descended from one grant code: its refresh and access tokens die together. */
interface Grant {
  readonly clientId: string
  readonly user: User
  readonly scope: string
  alive: boolean
  /** How a refresh is refused once the grant is dead; `invalid_code` unless revokeGrants chose. */
  refusal: 'invalid_code' | 'invalid_grant'
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
export interface Issued {
  accessToken: string
  refreshToken: string | undefined
  scope: string
}

/** Why the ledger refused: a token endpoint error code, or past one of the limits. */
export type Refusal =
  | 'invalid_code'
  | 'invalid_redirect_uri'
  | 'invalid_code_verifier'
  | 'invalid_grant'
  | 'access_token_limit'
  | 'exchange_limit'

/** What an exchange or a refresh gives: tokens, or why not. */
export type Outcome = { ok: true; issued: Issued } | { ok: false; error: Refusal }

/** A token shaped like Zoho's: `1000.` + 32 hex + `.` + 32 hex. */
function zohoToken(): string {
  return `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/**
 * Counts one more event against a sliding window of `times` (changed in place), at `now`;
 * false, and nothing counted, when the limit is reached. The one rule for both of Zoho's limits.
 * Filtered rather than cut at the first recent one: a test's clock may go back.
 */
function withinLimit(times: number[], limit: RateLimit | false, now: number): boolean {
  if (limit === false) return true
  const recent = times.filter((time) => now - time < limit.windowMs)
  times.splice(0, times.length, ...recent)
  if (times.length >= limit.count) return false
  times.push(now)
  return true
}

/** The codes and tokens issued, keyed by their value. */
export class Ledger {
  // Named as they are on purpose: test/helpers/leak-capture.ts reads these maps to know every secret.
  private readonly codes = new Map<string, CodeRecord>()
  private readonly refreshTokens = new Map<string, RefreshRecord>()
  private readonly accessTokens = new Map<string, AccessRecord>()
  /** When each client's exchanges succeeded, within the exchange limit's window. */
  private readonly exchangeTimes = new Map<string, number[]>()

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

  /**
   * Spends a grant code. A code is consumed only by a successful exchange, at its user's data
   * center (`dataCenter`, where the request came; default the main one): elsewhere it is unknown.
   */
  exchange(request: {
    clientId: string
    code: string | undefined
    redirectUri: string | undefined
    codeVerifier: string | undefined
    dataCenter?: string
  }): Outcome {
    const record = request.code === undefined ? undefined : this.codes.get(request.code)
    if (
      record === undefined ||
      record.used ||
      record.clientId !== request.clientId ||
      record.user.dataCenter !== (request.dataCenter ?? MAIN_DATA_CENTER) ||
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
    let times = this.exchangeTimes.get(record.clientId)
    if (times === undefined) this.exchangeTimes.set(record.clientId, (times = []))
    // Past the limit the code is not spent: it works once the window has passed, if still alive.
    if (!withinLimit(times, this.settings.exchangeLimit, this.settings.now())) {
      return { ok: false, error: 'exchange_limit' }
    }
    record.used = true
    const grant: Grant = {
      clientId: record.clientId,
      user: record.user,
      scope: record.scope,
      alive: true,
      refusal: 'invalid_code',
      refreshTimes: [],
    }
    const refreshToken = zohoToken()
    this.refreshTokens.set(refreshToken, { grant, state: 'active' })
    return {
      ok: true,
      issued: { accessToken: this.issueAccess(grant), refreshToken, scope: grant.scope },
    }
  }

  /** A refresh at `dataCenter` (default the main one): another data center's token is unknown. */
  refresh(
    clientId: string,
    refreshToken: string | undefined,
    dataCenter = MAIN_DATA_CENTER,
  ): Outcome {
    const record = refreshToken === undefined ? undefined : this.refreshTokens.get(refreshToken)
    if (
      record === undefined ||
      record.grant.clientId !== clientId ||
      record.grant.user.dataCenter !== dataCenter
    ) {
      return { ok: false, error: 'invalid_code' }
    }
    if (!record.grant.alive) return { ok: false, error: record.grant.refusal }
    if (record.state === 'used') {
      // A replaced refresh token came back: someone holds a copy. Revoke the whole grant.
      record.grant.alive = false
      return { ok: false, error: 'invalid_grant' }
    }
    if (record.state === 'revoked') return { ok: false, error: 'invalid_code' }
    if (
      !withinLimit(record.grant.refreshTimes, this.settings.accessTokenLimit, this.settings.now())
    ) {
      return { ok: false, error: 'access_token_limit' }
    }

    let next: string | undefined
    if (this.settings.rotateRefreshTokens) {
      record.state = 'used'
      next = zohoToken()
      this.refreshTokens.set(next, { grant: record.grant, state: 'active' })
    }
    const accessToken = this.issueAccess(record.grant)
    return { ok: true, issued: { accessToken, refreshToken: next, scope: record.grant.scope } }
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
   * rotation, the grant's other refresh tokens too). Unknown tokens, and those of another data
   * center than `dataCenter` (default the main one), are ignored.
   */
  revoke(token: string, dataCenter = MAIN_DATA_CENTER): void {
    const refresh = this.refreshTokens.get(token)
    if (refresh !== undefined && refresh.grant.user.dataCenter === dataCenter) {
      refresh.state = 'revoked'
      refresh.grant.alive = false
    }
    const access = this.accessTokens.get(token)
    if (access !== undefined && access.grant.user.dataCenter === dataCenter) access.revoked = true
  }

  /**
   * Kills the grants of a user or of a refresh token (only of `clientId`, when given): their
   * access tokens stop working and a refresh is refused with `error`. Gives how many were alive.
   */
  revokeGrants(options: RevokeGrantsOptions): number {
    const grants = new Set<Grant>()
    for (const [token, record] of this.refreshTokens) {
      const { grant } = record
      if (
        (options.refreshToken === undefined || options.refreshToken === token) &&
        (options.user === undefined || options.user === grant.user.email) &&
        (options.clientId === undefined || options.clientId === grant.clientId)
      ) {
        grants.add(grant)
      }
    }
    let revoked = 0
    for (const grant of grants) {
      if (grant.alive) revoked += 1
      grant.alive = false
      grant.refusal = options.error ?? 'invalid_code'
    }
    return revoked
  }

  /** The user whose grant a refresh token (active or not) belongs to, for the tallies. */
  refreshTokenUser(token: string | undefined): User | undefined {
    return token === undefined ? undefined : this.refreshTokens.get(token)?.grant.user
  }

  /** The user of a valid access token, presented at `dataCenter` (default the main one). */
  accessTokenUser(token: string, dataCenter = MAIN_DATA_CENTER): User | undefined {
    const user = this.liveAccessTokenUser(token)
    return user?.dataCenter === dataCenter ? user : undefined
  }

  private liveAccessTokenUser(token: string): User | undefined {
    const record = this.accessTokens.get(token)
    if (record === undefined || record.revoked || !record.grant.alive) return undefined
    return this.settings.now() < record.expiresAt ? record.grant.user : undefined
  }

  /** Whether a token is valid, at whichever data center it belongs to. */
  isValid(token: string): boolean {
    if (this.liveAccessTokenUser(token) !== undefined) return true
    const refresh = this.refreshTokens.get(token)
    return refresh !== undefined && refresh.state === 'active' && refresh.grant.alive
  }
}
