// The emulator: its data centers (the main one, 'us', and those of the dataCenters option), each
// a listener of its own (site.ts), sharing one ledger of codes and tokens; and what a test asks
// of it directly (grant codes, revocations).
import { InvalidArgumentError, refuseUnknownOptions } from '../../errors.js'
import type { Environment } from '../../oauth/environments.js'
import { Ledger } from './ledger.js'
import { MAIN_DATA_CENTER, resolveSettings, type Settings } from './settings.js'
import { Site } from './site.js'
import type {
  AccountsEmulator,
  AccountsEmulatorOptions,
  EmulatorClient,
  EmulatorCounts,
  EmulatorEndpoint,
  EmulatorFault,
  RevokeGrantsOptions,
} from './types.js'

/** The scope of a self-client grant code when none is asked for. */
const DEFAULT_SELF_CLIENT_SCOPE = 'ZohoCRM.modules.ALL,ZohoCRM.users.READ'

class Emulator implements AccountsEmulator {
  readonly clients: readonly EmulatorClient[]
  readonly dataCenters: readonly Site[]
  // Named `ledger` on purpose: test/helpers/leak-capture.ts reads it to know every secret issued.
  private readonly ledger: Ledger
  private readonly main: Site
  private closing: Promise<void> | undefined

  constructor(private readonly settings: Settings) {
    this.clients = settings.clients
    this.ledger = new Ledger(settings)
    const originOf = (location: string): string => this.dataCenter(location).url
    this.main = new Site(settings, this.ledger, MAIN_DATA_CENTER, settings.port, originOf)
    this.dataCenters = [
      this.main,
      ...settings.dataCenters.map(
        (dc) => new Site(settings, this.ledger, dc.location, dc.port, originOf),
      ),
    ]
  }

  get url(): string {
    return this.main.url
  }

  get environment(): Environment {
    return this.main.environment
  }

  get counts(): EmulatorCounts {
    return this.main.counts
  }

  dataCenter(location: string): Site {
    const site = this.dataCenters.find((dc) => dc.location === location)
    if (site === undefined) {
      throw new InvalidArgumentError(
        'location',
        `the emulator serves no data center '${String(location).slice(0, 20)}' (it serves ${this.dataCenters.map((dc) => dc.location).join(', ')})`,
      )
    }
    return site
  }

  async listen(): Promise<void> {
    try {
      for (const site of this.dataCenters) await site.listen()
    } catch (err) {
      await this.close()
      throw err
    }
  }

  resetCounts(): void {
    this.main.resetCounts()
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
    this.main.fail(fault, options)
  }

  revokeGrants(options: RevokeGrantsOptions): number {
    refuseUnknownOptions('revokeGrants', options, ['user', 'refreshToken', 'clientId', 'error'])
    const { user, refreshToken, error } = options
    if (user === undefined && refreshToken === undefined) {
      throw new InvalidArgumentError('user', 'revokeGrants: give a user or a refreshToken')
    }
    if (user !== undefined && this.ledger.user(user) === undefined) {
      throw new InvalidArgumentError('user', 'revokeGrants: unknown user')
    }
    if (error !== undefined && error !== 'invalid_code' && error !== 'invalid_grant') {
      throw new InvalidArgumentError(
        'error',
        "revokeGrants: error is 'invalid_code' or 'invalid_grant'",
      )
    }
    return this.ledger.revokeGrants(options)
  }

  isValid(token: string): boolean {
    return this.ledger.isValid(token)
  }

  close(): Promise<void> {
    this.closing ??= Promise.all(this.dataCenters.map((site) => site.close())).then(() => {})
    return this.closing
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
 * `unsupported_grant_type`; past the access token limit or the exchange limit, Zoho's HTTP 400
 * `Access Denied`. `counts` tallies refreshes by token and user, exchanges by client and refusals
 * by reason; `revokeGrants` revokes a user's grants. An emulator in another process offers both
 * as `GET /emulator/counts` and `POST /emulator/revoke` (HTTP Basic credentials of a client).
 * With `dataCenters`, it also serves users of other Zoho data centers, each on a listener of its
 * own (see {@link AccountsEmulatorOptions.dataCenters} and {@link AccountsEmulator.dataCenters}).
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
