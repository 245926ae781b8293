// The emulator's endpoints other than the pages: the token endpoint (grant code exchange and
// refresh), revocation, and the small CRM API (current user, leads), in Zoho's answer shapes.
import type { IncomingMessage } from 'node:http'
import { bearerToken, isReply, json, type Context, type Reply } from './http.js'
import type { Settings, User } from './settings.js'

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

/** Zoho's answer, whatever the error style, past the access token or the exchange limit. */
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
/** The CRM's answer to any other path. */
export const NOT_FOUND = {
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

/** The expiry fields of a token answer, in the configured style. */
export function expiresIn(settings: Settings): Record<string, number> {
  const seconds = settings.accessTokenLifetimeMs / 1000
  return settings.expiresInStyle === 'seconds'
    ? { expires_in: seconds }
    : { expires_in: seconds * 1000, expires_in_sec: seconds }
}

/** The token and revoke endpoints and the CRM API. */
export class Endpoints {
  constructor(private readonly context: Context) {}

  /** `POST /oauth/v2/token`: a grant code exchange or a refresh. */
  token(params: Map<string, string>): Reply {
    const grantType = params.get('grant_type')
    if (grantType === undefined) return this.tokenError('invalid_request')
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      return this.tokenError('unsupported_grant_type')
    }
    const clientId = params.get('client_id')
    if (
      clientId === undefined ||
      !this.context.ledger.authenticate(clientId, params.get('client_secret'))
    ) {
      return this.tokenError('invalid_client')
    }
    const outcome =
      grantType === 'authorization_code'
        ? this.context.ledger.exchange({
            clientId,
            code: params.get('code'),
            redirectUri: params.get('redirect_uri'),
            codeVerifier: params.get('code_verifier'),
            dataCenter: this.context.dataCenter,
          })
        : this.context.ledger.refresh(
            clientId,
            params.get('refresh_token'),
            this.context.dataCenter,
          )
    if (!outcome.ok) {
      return outcome.error === 'access_token_limit' || outcome.error === 'exchange_limit'
        ? { ...json(400, RATE_LIMITED_BODY), refusal: outcome.error }
        : this.tokenError(outcome.error)
    }
    const { accessToken, refreshToken, scope } = outcome.issued
    return json(200, {
      access_token: accessToken,
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
      scope,
      api_domain: this.context.origin(),
      token_type: 'Bearer',
      ...expiresIn(this.context.settings),
    })
  }

  /** A token endpoint error in the configured style. */
  tokenError(error: TokenErrorCode): Reply {
    if (this.context.settings.errorStyle === 'zoho') {
      return { ...json(200, { error }, true), refusal: error }
    }
    const status = error === 'invalid_client' ? 401 : 400
    return { ...json(status, { error, error_description: TOKEN_ERRORS[error] }), refusal: error }
  }

  /** `POST /oauth/v2/token/revoke`: unknown tokens are answered success too, as Zoho does. */
  revoke(params: Map<string, string>): Reply {
    const token = params.get('token')
    if (token === undefined || token === '') return this.tokenError('invalid_request')
    this.context.ledger.revoke(token, this.context.dataCenter)
    return json(200, { status: 'success' })
  }

  // -- CRM API ----------------------------------------------------------------------------

  /** The user of the request's access token, or the CRM's 401 answer. */
  private authorize(req: IncomingMessage): User | Reply {
    const token = bearerToken(req.headers.authorization)
    if (token === undefined) return json(401, AUTHENTICATION_FAILURE)
    const user = this.context.ledger.accessTokenUser(token, this.context.dataCenter)
    return user ?? json(401, INVALID_TOKEN)
  }

  /** `GET /crm/v{n}/users`: every user, or the token's own with `type=CurrentUser`. */
  users(params: Map<string, string>, req: IncomingMessage): Reply {
    const current = this.authorize(req)
    if (isReply(current)) return current
    const users = params.get('type') === 'CurrentUser' ? [current] : this.context.settings.users
    return json(200, {
      users: users.map((user) => ({
        id: user.id,
        email: user.email,
        full_name: user.fullName,
        status: 'active',
      })),
    })
  }

  /** `GET /crm/v{n}/Leads`: a fixed page of three leads. */
  leads(req: IncomingMessage): Reply {
    const user = this.authorize(req)
    if (isReply(user)) return user
    return json(200, {
      data: LEADS,
      info: { per_page: 200, count: LEADS.length, page: 1, more_records: false },
    })
  }
}
