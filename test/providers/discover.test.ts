// Environment.discover refuses what it cannot trust: each case is a real HTTP server on
// 127.0.0.1 answering one way, and the error says which check failed.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DiscoveryError, Environment, InvalidArgumentError, TimeoutError } from '../../src/index.ts'

interface Served {
  readonly issuer: string
  /** The paths requested, in order. */
  readonly paths: string[]
}

const servers: { close(): void; closeAllConnections(): void }[] = []
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

async function serve(
  handle: (req: IncomingMessage, res: ServerResponse, issuer: string) => void,
): Promise<Served> {
  const paths: string[] = []
  let issuer = ''
  const server = createServer((req, res) => {
    paths.push(req.url ?? '')
    handle(req, res, issuer)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  servers.push(server)
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { issuer, paths }
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

/** Valid metadata for `issuer`, with `changes` applied (undefined removes a field). */
const metadata = (issuer: string, changes: Record<string, unknown> = {}) => {
  const doc: Record<string, unknown> = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    revocation_endpoint: `${issuer}/revoke`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    ...changes,
  }
  for (const [key, value] of Object.entries(doc)) if (value === undefined) delete doc[key]
  return doc
}

/** A server answering RFC 8414's well-known path with `body`, and 404 elsewhere. */
const withMetadata = (body: (issuer: string) => unknown, status = 200) =>
  serve((req, res, issuer) => {
    if (req.url === '/.well-known/oauth-authorization-server') json(res, status, body(issuer))
    else json(res, 404, { error: 'not_found' })
  })

const failure = async (promise: Promise<unknown>) => {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DiscoveryError)
  return err as DiscoveryError
}

describe('Environment.discover', () => {
  it('reads RFC 8414 metadata, preferring client_secret_basic when both are offered', async () => {
    const { issuer, paths } = await withMetadata((iss) => metadata(iss))
    const env = await Environment.discover(issuer)
    expect(paths).toEqual(['/.well-known/oauth-authorization-server'])
    expect(env.clientAuth).toBe('client_secret_basic')
    expect(env.endpoints).toEqual({
      authorization: `${issuer}/authorize`,
      token: `${issuer}/token`,
      revocation: `${issuer}/revoke`,
    })
    expect(env.name).toBe(new URL(issuer).host)
    expect(env.apiDomain).toBe(issuer)
    expect(env.provider.currentUser).toBeUndefined()
  })

  it('chooses client_secret_post when only it is offered, Basic when the field is absent (RFC 8414 §2)', async () => {
    const post = await withMetadata((iss) =>
      metadata(iss, {
        token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_post'],
      }),
    )
    expect((await Environment.discover(post.issuer)).clientAuth).toBe('client_secret_post')
    const absent = await withMetadata((iss) =>
      metadata(iss, { token_endpoint_auth_methods_supported: undefined }),
    )
    expect((await Environment.discover(absent.issuer)).clientAuth).toBe('client_secret_basic')
  })

  it('prefers a method the revocation endpoint takes too, when it lists its own', async () => {
    const { issuer } = await withMetadata((iss) =>
      metadata(iss, { revocation_endpoint_auth_methods_supported: ['client_secret_post'] }),
    )
    expect((await Environment.discover(issuer)).clientAuth).toBe('client_secret_post')
  })

  it('falls back to OpenID configuration, and inserts an issuer path as RFC 8414 §3.1 says', async () => {
    const { issuer, paths } = await serve((req, res, iss) => {
      if (req.url === '/tenant/.well-known/openid-configuration') {
        json(res, 200, metadata(`${iss}/tenant`))
      } else json(res, 404, {})
    })
    const env = await Environment.discover(`${issuer}/tenant`)
    expect(env.accountsUrl).toBe(`${issuer}/tenant`)
    expect(paths).toEqual([
      '/.well-known/oauth-authorization-server/tenant',
      '/tenant/.well-known/openid-configuration',
    ])
  })

  it('follows a redirect within the issuer origin', async () => {
    const { issuer } = await serve((req, res, iss) => {
      if (req.url === '/.well-known/oauth-authorization-server') {
        res.writeHead(302, { location: '/meta.json' }).end()
      } else if (req.url === '/meta.json') json(res, 200, metadata(iss))
      else json(res, 404, {})
    })
    expect((await Environment.discover(issuer)).tokenUrl).toBe(`${issuer}/token`)
  })

  it('refuses a redirect to another host, which is never asked', async () => {
    const other = await serve((_req, res, iss) => json(res, 200, metadata(iss)))
    const { issuer } = await serve((_req, res) => {
      // localhost is another origin than 127.0.0.1, though the same machine.
      res.writeHead(301, { location: other.issuer.replace('127.0.0.1', 'localhost') }).end()
    })
    const err = await failure(Environment.discover(issuer))
    expect(err.reason).toBe('redirect')
    expect(err.message).toMatch(/follows redirects within http:\/\/127\.0\.0\.1:\d+ only/)
    expect(other.paths).toEqual([])
  })

  it('refuses metadata naming another issuer, even by a trailing slash', async () => {
    for (const named of [
      (iss: string) => `${iss}/`,
      () => 'https://evil.example',
      () => undefined,
      () => 'https://x.example\n2026 INFO forged line',
    ]) {
      const { issuer } = await withMetadata((iss) => metadata(iss, { issuer: named(iss) }))
      const err = await failure(Environment.discover(issuer))
      expect(err.reason).toBe('issuer_mismatch')
      expect(err.issuer).toBe(issuer)
      expect(err.code).toBe('DISCOVERY_FAILED')
      // What the server wrote is shown on one line: it cannot forge a log line.
      expect(err.message).not.toContain('\n')
    }
  })

  it('refuses plain http to another machine: as the issuer, and as an endpoint', async () => {
    const asked: string[] = []
    const fetch: typeof globalThis.fetch = (input) => {
      asked.push(input instanceof Request ? input.url : input.toString())
      return Promise.reject(new Error('never'))
    }
    await expect(
      Environment.discover('http://login.example.com', { fetch }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(asked).toEqual([])
    const { issuer } = await withMetadata((iss) =>
      metadata(iss, { token_endpoint: 'http://login.example.com/token' }),
    )
    const err = await failure(Environment.discover(issuer))
    expect(err.reason).toBe('insecure_url')
    expect(err.message).toContain('token_endpoint http://login.example.com')
  })

  it('refuses metadata without a token endpoint, or with one that is not a URL', async () => {
    for (const token of [undefined, 'not a url', 42]) {
      const { issuer } = await withMetadata((iss) => metadata(iss, { token_endpoint: token }))
      const err = await failure(Environment.discover(issuer))
      expect(err.reason).toBe('invalid_metadata')
      expect(err.message).toMatch(/token_endpoint is (missing|not a URL)/)
    }
  })

  it('says not found after a 404 at both well-known places', async () => {
    const { issuer, paths } = await serve((_req, res) => json(res, 404, {}))
    const err = await failure(Environment.discover(issuer))
    expect(err.reason).toBe('not_found')
    expect(paths).toEqual([
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ])
  })

  it('refuses a body that is not a JSON object, and an error status', async () => {
    for (const body of ['{"issuer": ', '<html>hello</html>', '["a"]']) {
      const { issuer } = await withMetadata(() => body)
      expect((await failure(Environment.discover(issuer))).reason).toBe('invalid_metadata')
    }
    const { issuer } = await withMetadata((iss) => metadata(iss), 500)
    const err = await failure(Environment.discover(issuer))
    expect(err.reason).toBe('http_error')
    expect(err.message).toContain('HTTP 500')
  })

  it('refuses a server whose token endpoint takes no client secret', async () => {
    const { issuer } = await withMetadata((iss) =>
      metadata(iss, { token_endpoint_auth_methods_supported: ['private_key_jwt'] }),
    )
    const err = await failure(Environment.discover(issuer))
    expect(err.reason).toBe('unsupported_auth')
    expect(err.message).toContain('private_key_jwt')
  })

  it('times out', async () => {
    const { issuer } = await serve(() => undefined) // never answers
    const started = Date.now()
    await expect(Environment.discover(issuer, { timeoutMs: 200 })).rejects.toBeInstanceOf(
      TimeoutError,
    )
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('refuses unknown options and bad ones, naming them', async () => {
    const { issuer } = await withMetadata((iss) => metadata(iss))
    const unknown = Environment.discover(issuer, { clientSecret: 'x' } as never)
    await expect(unknown).rejects.toMatchObject({ argument: 'options.clientSecret' })
    await expect(Environment.discover(issuer, { timeoutMs: -1 })).rejects.toMatchObject({
      argument: 'options.timeoutMs',
    })
    await expect(Environment.discover(`${issuer}?x=1`)).rejects.toMatchObject({
      argument: 'issuer',
    })
  })

  it('carries budgets and names given as options', async () => {
    const { issuer } = await withMetadata((iss) => metadata(iss))
    const budget = { limit: 5, windowMs: 60_000 }
    const env = await Environment.discover(issuer, {
      name: 'login',
      budgets: { accessTokensPerRefreshToken: budget },
    })
    expect(env.name).toBe('login')
    expect(env.budgets.accessTokensPerRefreshToken).toEqual(budget)
  })
})
