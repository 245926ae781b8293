/**
 * A real, third-party OAuth 2.0 authorization server for tests: `oidc-provider` (by panva) served
 * on 127.0.0.1 inside the test process, with its endpoints at Zoho's paths, and a helper that
 * plays the user's part of the authorization-code flow (login, consent) over plain HTTP.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import type {
  Adapter,
  AdapterFactory,
  AdapterPayload,
  Configuration,
  KoaContextWithOIDC,
} from 'oidc-provider'

export interface OidcServer {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string
  /** Same as `issuer`: the token endpoint is `${accountsUrl}/oauth/v2/token`. */
  readonly accountsUrl: string
  readonly clientId: string
  readonly clientSecret: string
  /** The client's one registered redirect URI (nothing listens on it). */
  readonly redirectUri: string
  /** The protected resource to call with `Authorization: Bearer <access token>`. */
  readonly userinfoUrl: string
  /** Runs the authorization-code flow's browser part over HTTP (login as `user`, consent) and returns the code. */
  obtainCode(options?: { user?: string; scope?: string; state?: string }): Promise<string>
  /**
   * How many requests each endpoint got: `token` (every request to the token endpoint), of which
   * `exchange` (grant_type=authorization_code) and `refresh` (grant_type=refresh_token), `revoke`,
   * `userinfo`, `auth` (authorization endpoint, including resumes after each interaction).
   */
  readonly counts: Record<string, number>
  close(): Promise<void>
}

export interface OidcProviderOptions {
  /** Issue a new refresh token on every refresh and refuse the old one from then on. Default false. */
  rotateRefreshTokens?: boolean
  /** `expires_in` of access tokens, in seconds. Default 3600, like Zoho. */
  accessTokenTtlSec?: number
  /**
   * How the client must authenticate at the token and revocation endpoints; the first is the
   * client's registered method, and only these are offered in the metadata. Default
   * `['client_secret_post', 'client_secret_basic']` (as Zoho's client does: in the form body).
   */
  clientAuthMethods?: readonly ('client_secret_post' | 'client_secret_basic')[]
  /** Endpoint paths other than Zoho's (which are the default). */
  routes?: Partial<Paths>
}

type Paths = { -readonly [K in keyof typeof PATHS]: string }

const PATHS = {
  authorization: '/oauth/v2/auth',
  token: '/oauth/v2/token',
  revocation: '/oauth/v2/token/revoke',
  userinfo: '/me',
} as const

const REDIRECT_URI = 'https://client.tokenkeeper.test/oauth/callback'
const DEFAULT_SCOPE = 'openid offline_access'

/** Starts oidc-provider on 127.0.0.1 at a free port. Call `close()` when done. */
export async function startOidcProvider(options: OidcProviderOptions = {}): Promise<OidcServer> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const paths: Paths = { ...PATHS, ...options.routes }
  const issuer = `http://127.0.0.1:${port}`
  const clientId = `1000.${randomBytes(8).toString('hex').toUpperCase()}`
  const clientSecret = randomBytes(24).toString('hex')

  const provider = withoutProviderNotices(
    () => new Provider(issuer, configuration(clientId, clientSecret, options, paths)),
  )

  const counts: Record<string, number> = {
    auth: 0,
    token: 0,
    exchange: 0,
    refresh: 0,
    revoke: 0,
    userinfo: 0,
  }
  const bump = (name: string): void => {
    counts[name] = (counts[name] ?? 0) + 1
  }

  // The grant type is in the form body, which only the provider reads: it is counted once the
  // provider has parsed it, whether the request then succeeded or not.
  provider.use(async (ctx, next) => {
    await next()
    const { oidc } = ctx as unknown as Partial<KoaContextWithOIDC>
    if (ctx.method === 'POST' && ctx.path === paths.token) {
      const grantType = oidc?.params?.grant_type
      if (grantType === 'authorization_code') bump('exchange')
      else if (grantType === 'refresh_token') bump('refresh')
    }
  })

  const handle = provider.callback()
  server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname
    if (path === paths.token) bump('token')
    else if (path === paths.revocation) bump('revoke')
    else if (path === paths.userinfo) bump('userinfo')
    else if (path === paths.authorization || path.startsWith(`${paths.authorization}/`))
      bump('auth')
    void handle(req, res)
  })

  const redirectUri = REDIRECT_URI
  return {
    issuer,
    accountsUrl: issuer,
    clientId,
    clientSecret,
    redirectUri,
    userinfoUrl: `${issuer}${paths.userinfo}`,
    counts,
    obtainCode: (opts = {}) =>
      obtainCode({
        authorizationUrl: `${issuer}${paths.authorization}`,
        clientId,
        redirectUri,
        user: opts.user ?? 'user-1',
        scope: opts.scope ?? DEFAULT_SCOPE,
        state: opts.state ?? randomUUID(),
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

function configuration(
  clientId: string,
  clientSecret: string,
  options: OidcProviderOptions,
  paths: Paths,
): Configuration {
  const methods = options.clientAuthMethods ?? ['client_secret_post', 'client_secret_basic']
  // A key of our own (EC, quick to make) so the provider does not fall back to its shared dev keys.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const signingKey = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig' }
  return {
    adapter: memoryAdapter(),
    routes: paths,
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        // By default our client sends client_id and client_secret in the form body, as Zoho's.
        token_endpoint_auth_method: methods[0],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    clientAuthMethods: [...methods],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access'],
    features: {
      // oidc-provider's own login and consent pages, driven by `obtainCode`.
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    // A refresh token comes with a code whose scope kept `offline_access`, which the provider
    // only keeps when the authorization request carried `prompt=consent` (the default policy,
    // written out here).
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: options.rotateRefreshTokens ?? false,
    // Like Zoho: the exchange must repeat the redirect_uri of the authorization request.
    allowOmittingSingleRegisteredRedirectUri: false,
    // PKCE stays available but optional: Zoho's server-based clients do not use it.
    pkce: { methods: ['S256'], required: () => false },
    ttl: {
      AccessToken: options.accessTokenTtlSec ?? 3600,
      AuthorizationCode: 120,
      IdToken: 3600,
      RefreshToken: 30 * 24 * 3600,
      Grant: 30 * 24 * 3600,
      Session: 3600,
      Interaction: 600,
    },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub }),
    }),
    clientBasedCORS: () => false,
    // Errors at the authorization endpoint and interactions as JSON, not an HTML page.
    renderError: (ctx, out) => {
      ctx.type = 'json'
      ctx.body = out
    },
  }
}

/**
 * Storage for one server's codes, tokens, grants, sessions and interactions. oidc-provider's own
 * in-memory adapter is one LRU of 1000 entries shared by every provider in the process, which a
 * test file doing many logins could overflow; this one belongs to its server and forgets nothing
 * before it expires (by `Date.now()`, so faked timers move its clock too).
 */
function memoryAdapter(): AdapterFactory {
  const entries = new Map<string, { value: unknown; expiresAt: number }>()
  const grants = new Map<string, Set<string>>()
  const get = (key: string): unknown => {
    const entry = entries.get(key)
    if (!entry) return undefined
    if (entry.expiresAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return entry.value
  }
  const set = (key: string, value: unknown, expiresIn: number | undefined): void => {
    entries.set(key, { value, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
  }
  const grantBound = new Set([
    'AccessToken',
    'AuthorizationCode',
    'RefreshToken',
    'DeviceCode',
    'BackchannelAuthenticationRequest',
  ])

  return (model: string): Adapter => {
    const keyOf = (id: string): string => `${model}:${id}`
    const find = async (id: string): Promise<AdapterPayload | undefined> =>
      get(keyOf(id)) as AdapterPayload | undefined
    const findByIndex = async (index: string): Promise<AdapterPayload | undefined> => {
      const id = get(index)
      return typeof id === 'string' ? find(id) : undefined
    }
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyOf(id)
        set(key, payload, expiresIn)
        if (model === 'Session' && payload.uid) set(`sessionUid:${payload.uid}`, id, expiresIn)
        if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn)
        if (payload.grantId && grantBound.has(model)) {
          const keys = grants.get(payload.grantId) ?? new Set<string>()
          keys.add(key)
          grants.set(payload.grantId, keys)
        }
      },
      find,
      findByUid: (uid) => findByIndex(`sessionUid:${uid}`),
      findByUserCode: (userCode) => findByIndex(`userCode:${userCode}`),
      async consume(id) {
        const payload = get(keyOf(id)) as AdapterPayload | undefined
        if (payload) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy(id) {
        entries.delete(keyOf(id))
      },
      async revokeByGrantId(grantId) {
        for (const key of grants.get(grantId) ?? []) entries.delete(key)
        grants.delete(grantId)
      },
    }
  }
}

/**
 * oidc-provider announces on the console, while it is being set up, that it runs with its dev
 * features (in-memory storage, dev interactions): true and intended here, and noise in test output.
 */
function withoutProviderNotices<T>(make: () => T): T {
  const { warn, info } = console
  const quiet =
    (print: (...args: unknown[]) => void) =>
    (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider')) return
      print(...args)
    }
  console.warn = quiet(warn.bind(console))
  console.info = quiet(info.bind(console))
  try {
    return make()
  } finally {
    console.warn = warn
    console.info = info
  }
}

interface FlowOptions {
  authorizationUrl: string
  clientId: string
  redirectUri: string
  user: string
  scope: string
  state: string
}

interface NextRequest {
  url: URL
  method: 'GET' | 'POST'
  form?: URLSearchParams
}

/**
 * Acts as the user's browser: opens the authorization URL, follows redirects by hand carrying
 * cookies, fills and submits each form the provider shows (login, then consent), and stops at the
 * redirect to the client's redirect URI, whose `code` it returns.
 */
async function obtainCode(flow: FlowOptions): Promise<string> {
  const start = new URL(flow.authorizationUrl)
  start.search = new URLSearchParams({
    client_id: flow.clientId,
    response_type: 'code',
    redirect_uri: flow.redirectUri,
    scope: flow.scope,
    state: flow.state,
    // Without it the provider drops offline_access from the grant, and no refresh token comes.
    prompt: 'consent',
  }).toString()

  const jar = new CookieJar()
  let request: NextRequest = { url: start, method: 'GET' }
  for (let step = 0; step < 20; step += 1) {
    const headers: Record<string, string> = {}
    const cookie = jar.header(request.url)
    if (cookie) headers.cookie = cookie
    if (request.form) headers['content-type'] = 'application/x-www-form-urlencoded'
    const res = await fetch(request.url, {
      method: request.method,
      headers,
      body: request.form?.toString() ?? null,
      redirect: 'manual',
    })
    jar.store(request.url, res.headers.getSetCookie())

    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel()
      const location = res.headers.get('location')
      if (!location) throw new Error(`oidc-provider: HTTP ${res.status} without a Location`)
      const target = new URL(location, request.url)
      if (`${target.origin}${target.pathname}` === flow.redirectUri) {
        return codeFrom(target, flow.state)
      }
      request = { url: target, method: 'GET' }
      continue
    }

    const body = await res.text()
    if (res.status !== 200) {
      throw new Error(`oidc-provider: HTTP ${res.status} at ${request.url.pathname}: ${body}`)
    }
    request = submitForm(body, request.url, flow.user)
  }
  throw new Error('oidc-provider: the authorization flow did not reach the redirect URI')
}

function codeFrom(redirect: URL, state: string): string {
  const params = redirect.searchParams
  const error = params.get('error')
  if (error) {
    throw new Error(
      `oidc-provider: authorization failed: ${error}: ${params.get('error_description') ?? ''}`,
    )
  }
  if (params.get('state') !== state) throw new Error('oidc-provider: state mismatch')
  const code = params.get('code')
  if (!code) throw new Error(`oidc-provider: no code in ${redirect.href}`)
  return code
}

/** The page's form, filled in: the login form gets `user` and any password. */
function submitForm(html: string, pageUrl: URL, user: string): NextRequest {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) throw new Error(`oidc-provider: no form at ${pageUrl.pathname}: ${html.slice(0, 500)}`)
  const formAttrs = attributes(form[1] ?? '')
  const fields = new URLSearchParams()
  for (const input of (form[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = attributes(input[1] ?? '')
    const name = attrs.get('name')
    if (!name) continue
    if (name === 'login') fields.set(name, user)
    else if (attrs.get('type') === 'password') fields.set(name, 'any-password')
    else fields.set(name, attrs.get('value') ?? '')
  }
  const method = (formAttrs.get('method') ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET'
  const url = new URL(formAttrs.get('action') ?? pageUrl.href, pageUrl)
  if (method === 'GET') {
    url.search = fields.toString()
    return { url, method }
  }
  return { url, method, form: fields }
}

function attributes(source: string): Map<string, string> {
  const attrs = new Map<string, string>()
  for (const m of source.matchAll(/([\w-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>/]+)))?/g)) {
    const name = (m[1] ?? '').toLowerCase()
    attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''))
  }
  return attrs
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, entity: string) => {
    const lower = entity.toLowerCase()
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16))
    if (lower.startsWith('#')) return String.fromCodePoint(parseInt(lower.slice(1), 10))
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[lower] ?? entity
  })
}

/** Just enough of a browser's cookie store for one host: names, values, paths and deletion. */
class CookieJar {
  readonly #cookies = new Map<string, { value: string; path: string }>()

  store(url: URL, setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair = '', ...attrs] = line.split(';')
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      let path = defaultPath(url)
      let expired = value === ''
      for (const attr of attrs) {
        const [key = '', val = ''] = attr.split('=', 2).map((s) => s.trim())
        switch (key.toLowerCase()) {
          case 'path':
            if (val.startsWith('/')) path = val
            break
          case 'expires':
            if (Date.parse(val) <= Date.now()) expired = true
            break
          case 'max-age':
            if (Number(val) <= 0) expired = true
            break
        }
      }
      const key = `${path}\n${name}`
      if (expired) this.#cookies.delete(key)
      else this.#cookies.set(key, { value, path })
    }
  }

  header(url: URL): string {
    const pairs: string[] = []
    for (const [key, { value, path }] of this.#cookies) {
      if (pathMatches(url.pathname, path))
        pairs.push(`${key.slice(key.indexOf('\n') + 1)}=${value}`)
    }
    return pairs.join('; ')
  }
}

function defaultPath(url: URL): string {
  const slash = url.pathname.lastIndexOf('/')
  return slash <= 0 ? '/' : url.pathname.slice(0, slash)
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}
