// The ledger: the codes and tokens the emulator issued, with Zoho's rules (single-use grant codes
// that expire, refresh tokens that live until revoked, optional rotation with reuse detection,
// the access token limit per refresh token), and no HTTP. The server turns its outcomes into
// answers; its unit tests are test/emulator-ledger.test.ts.
import { createHash, randomBytes } from 'node:crypto'
import type { EmulatorClient } from './types.js'
import type { Settings, User } from './settings.js'

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
export interface Issued {
  accessToken: string
  refreshToken: string | undefined
  scope: string
}

/** Why the ledger refused: a token endpoint error code, or past the access token limit. */
export type Refusal =
  | 'invalid_code'
  | 'invalid_redirect_uri'
  | 'invalid_code_verifier'
  | 'invalid_grant'
  | 'rate_limited'

/** What an exchange or a refresh gives: tokens, or why not. */
export type Outcome = { ok: true; issued: Issued } | { ok: false; error: Refusal }

/** A token shaped like Zoho's: `1000.` + 32 hex + `.` + 32 hex. */
function zohoToken(): string {
  return `1000.${randomBytes(16).toString('hex')}.${randomBytes(16).toString('hex')}`
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/** The codes and tokens issued, keyed by their value. */
export class Ledger {
  // Named as they are on purpose: test/leak-capture.ts reads these maps to know every secret.
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
