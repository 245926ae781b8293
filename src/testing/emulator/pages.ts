// The emulator's pages: the consent page and its form (approve or deny, then back to the client
// with a code or an error), the error pages, and the HTML they share.
import { isReply, redirect, type Context, type Reply } from './http.js'
import { MAIN_DATA_CENTER, type User } from './settings.js'

/**
 * The look of the emulator's pages (consent, errors), which the demo portal (examples/portal)
 * also uses, so that a sign-in through the emulator looks like one product: the font, colours,
 * headings, code, buttons (`button` or `.button`, `button.plain` for a secondary one), `.muted`
 * text and `.error` boxes. Plain CSS; a page adds its own rules after it (a later rule wins).
 *
 * @example
 * ```ts
 * const style = `${EMULATOR_PAGE_STYLE}\nbody { max-width: 70rem; }`
 * ```
 */
export const EMULATOR_PAGE_STYLE = [
  'body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; padding: 0 1rem; color: #1d2733; }',
  'h1 { font-size: 1.5rem; } code { font-size: .9em; overflow-wrap: anywhere; } .muted { color: #667; }',
  '.error { background: #fdecec; padding: .5rem .8rem; border-radius: 4px; }',
  '.button, button { display: inline-block; background: #0b62d6; color: #fff; border: 0; border-radius: 4px; padding: .45rem .9rem; font: inherit; text-decoration: none; cursor: pointer; }',
  'button.plain { background: #667; }',
].join('\n')

/**
 * The icon of the emulator's pages and the demo portal: a white key on the buttons' blue, as an
 * inline SVG `data:` URL, so that it needs no request (a CSP allows it with `img-src data:`).
 *
 * @example
 * ```ts
 * const head = `<link rel="icon" type="image/svg+xml" href="${EMULATOR_ICON}">`
 * ```
 */
export const EMULATOR_ICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0b62d6"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h10v5M23 16v4" fill="none" stroke="#fff" stroke-width="3"/></svg>',
)}`

// The shared look, and what only the consent form needs.
const STYLE = [
  EMULATOR_PAGE_STYLE,
  'ul { padding-left: 1.2rem; } label { display: block; margin: 1rem 0; } select { font: inherit; max-width: 100%; }',
  'button { margin-right: .4rem; }',
].join('\n')

/** An HTML page with a title and its content (already escaped). */
export function html(status: number, title: string, content: string): Reply {
  const body = [
    '<!doctype html>',
    '<html lang="en">',
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<link rel="icon" type="image/svg+xml" href="${EMULATOR_ICON}">`,
    `<style>\n${STYLE}\n</style></head>`,
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

/** The page of a request that cannot go back to the client: HTTP 400. */
export function errorPage(message: string): Reply {
  return html(400, 'Zoho Accounts emulator: invalid request', `<p>${escapeHtml(message)}</p>`)
}

/** Text made safe to put in HTML, in an element or an attribute. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;')
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

/** The consent page and its form. */
export class ConsentPages {
  constructor(private readonly context: Context) {}

  /** Checks the client and redirect URI (errors shown as a page), then the rest (redirected). */
  private checkAuthRequest(params: Map<string, string>): AuthRequest | Reply {
    const client = this.context.ledger.client(params.get('client_id'))
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

  /** `GET /oauth/v2/auth`: the consent page, or straight back with a code under autoApprove. */
  consent(params: Map<string, string>): Reply {
    const request = this.checkAuthRequest(params)
    if (isReply(request)) return request
    const firstUser = this.context.settings.users[0]
    if (this.context.settings.autoApprove && firstUser !== undefined) {
      return this.approved(request, this.context.ledger.user(params.get('login_hint')) ?? firstUser)
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
    // A user of another data center is labelled with it, as Zoho's sign-in tells where an
    // account lives.
    const label = (user: User): string =>
      `${user.fullName} <${user.email}>` +
      (user.dataCenter === MAIN_DATA_CENTER ? '' : ` (${user.dataCenter.toUpperCase()})`)
    const options = this.context.settings.users.map(
      (user) => `<option value="${escapeHtml(user.email)}">${escapeHtml(label(user))}</option>`,
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
      '<button type="submit" name="decision" value="deny" class="plain">Deny</button>',
      '</form>',
    ].join('\n')
  }

  /** `POST /oauth/v2/auth/approve`: the form's answer; back to the client with a code or error. */
  approve(params: Map<string, string>): Reply {
    const request = this.checkAuthRequest(params)
    if (isReply(request)) return request
    const decision = params.get('decision')
    if (decision === 'deny') return this.redirectError(request, 'access_denied')
    const user = this.context.ledger.user(params.get('user'))
    if (decision !== 'accept' || user === undefined) {
      return errorPage('Invalid consent: choose a user, then Accept or Deny.')
    }
    return this.approved(request, user)
  }

  private approved(request: AuthRequest, user: User): Reply {
    const code = this.context.ledger.issueCode({
      clientId: request.clientId,
      user,
      scope: request.scope,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
    })
    return redirect(this.redirectUrl(request, { code }, user.dataCenter))
  }

  private redirectError(request: AuthRequest, error: string): Reply {
    return redirect(this.redirectUrl(request, { error }, this.context.dataCenter), true)
  }

  /**
   * The client's redirect URI with the answer, the state and Zoho's data center parameters:
   * where the code must be exchanged, that is the user's data center (Zoho's multi-data-center
   * login), or for an error this listener's.
   */
  private redirectUrl(
    request: AuthRequest,
    answer: Record<string, string>,
    dataCenter: string,
  ): URL {
    const location = new URL(request.redirectUri)
    for (const [name, value] of Object.entries(answer)) location.searchParams.set(name, value)
    if (request.state !== undefined) location.searchParams.set('state', request.state)
    location.searchParams.set('location', dataCenter)
    location.searchParams.set('accounts-server', this.context.originOf(dataCenter))
    return location
  }
}
