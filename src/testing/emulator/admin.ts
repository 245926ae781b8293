// The admin endpoints, for a test whose emulator runs in another process (`tokenkeeper
// emulator`): read the counts, revoke grants. Both want HTTP Basic credentials of a registered
// client, so a neighbour on the network can neither read the tallies nor revoke a grant, and a
// client can revoke its own grants only.
import type { IncomingMessage } from 'node:http'
import { publicCounts } from './counts.js'
import { json, type Context, type Reply } from './http.js'
import type { EmulatorCounts, RevokeGrantsOptions } from './types.js'

const REFUSALS = ['invalid_code', 'invalid_grant'] as const

/** The client id of valid `Authorization: Basic` credentials, or the 401 answer. */
function authenticate(context: Context, req: IncomingMessage): string | Reply {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '')
  const decoded = match === null ? '' : Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const clientId = decoded.slice(0, colon)
  if (colon > 0 && context.ledger.authenticate(clientId, decoded.slice(colon + 1))) return clientId
  const reply = json(401, {
    error: 'invalid_client',
    error_description: 'Give a registered client id and secret as HTTP Basic credentials.',
  })
  return { ...reply, headers: { ...reply.headers, 'www-authenticate': 'Basic realm="emulator"' } }
}

/** `GET /emulator/counts` and `POST /emulator/revoke`. */
export class Admin {
  constructor(
    private readonly context: Context,
    private readonly counts: EmulatorCounts,
  ) {}

  /** `GET /emulator/counts`: the counts, without the tally keyed by refresh tokens. */
  readCounts(req: IncomingMessage): Reply {
    const client = authenticate(this.context, req)
    return typeof client === 'string' ? json(200, publicCounts(this.counts)) : client
  }

  /**
   * `POST /emulator/revoke` with `user` (an e-mail) or `refresh_token`, and optionally `error`
   * (`invalid_code` or `invalid_grant`): revokes those grants of the authenticated client.
   * Answers `{"revoked": n}`, the number of grants revoked.
   */
  revoke(params: Map<string, string>, req: IncomingMessage): Reply {
    const clientId = authenticate(this.context, req)
    if (typeof clientId !== 'string') return clientId
    const error = params.get('error') ?? 'invalid_code'
    const user = params.get('user')
    const refreshToken = params.get('refresh_token')
    if (!(REFUSALS as readonly string[]).includes(error) || (!user && !refreshToken)) {
      return json(400, {
        error: 'invalid_request',
        error_description:
          'Give user (an e-mail) or refresh_token, and error invalid_code (default) or invalid_grant.',
      })
    }
    const options: RevokeGrantsOptions = {
      clientId,
      error: error as (typeof REFUSALS)[number],
      ...(user ? { user } : {}),
      ...(refreshToken ? { refreshToken } : {}),
    }
    return json(200, { revoked: this.context.ledger.revokeGrants(options) })
  }
}
