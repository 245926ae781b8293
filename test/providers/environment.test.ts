// What an Environment takes from its provider, and what it may override.
import { describe, expect, it } from 'vitest'
import {
  DataCenter,
  Environment,
  Initializer,
  InvalidArgumentError,
  MemoryStore,
  OAuthToken,
  oauth2,
  zoho,
} from '../../src/index.ts'
import { startAccountsEmulator } from '../../src/testing/index.ts'

const local = {
  name: 'local',
  apiDomain: 'http://127.0.0.1:4000',
  accountsUrl: 'http://127.0.0.1:4000',
}

describe('Environment and its provider', () => {
  it('is Zoho-style by default, custom ones included: paths, post, prefix, limits', () => {
    for (const env of [new Environment(local), DataCenter.EU.SANDBOX]) {
      expect(env.provider).toBe(zoho)
      expect(env.clientAuth).toBe('client_secret_post')
      expect(env.endpoints).toEqual({
        authorization: `${env.accountsUrl}/oauth/v2/auth`,
        token: `${env.accountsUrl}/oauth/v2/token`,
        revocation: `${env.accountsUrl}/oauth/v2/token/revoke`,
      })
      expect(env.budgets).toEqual({
        accessTokensPerRefreshToken: { limit: 10, windowMs: 600_000 },
        grantExchangesPerClient: { limit: 10, windowMs: 600_000 },
      })
    }
    expect(DataCenter.EU.SANDBOX.apiDomain).toBe('https://sandbox.zohoapis.eu')
    expect(DataCenter.CA.PRODUCTION.accountsUrl).toBe('https://accounts.zohocloud.ca')
    expect(DataCenter.AU.DEVELOPER.allowsApiOrigin('https://content.zohoapis.com.au/x')).toBe(true)
    expect(DataCenter.AU.DEVELOPER.allowsApiOrigin('https://www.zohoapis.com')).toBe(false)
  })

  it('takes budgets per environment, each replacing the provider’s own', () => {
    const env = new Environment({
      ...local,
      budgets: { accessTokensPerRefreshToken: { limit: 3, windowMs: 1_000 } },
    })
    expect(env.budgets).toEqual({
      accessTokensPerRefreshToken: { limit: 3, windowMs: 1_000 },
      grantExchangesPerClient: { limit: 10, windowMs: 600_000 },
    })
    for (const bad of [
      { limit: 0, windowMs: 1 },
      { limit: 1.5, windowMs: 1 },
      { limit: 1 },
      null,
    ]) {
      expect(
        () => new Environment({ ...local, budgets: { grantExchangesPerClient: bad as never } }),
      ).toThrow(expect.objectContaining({ argument: 'budgets.grantExchangesPerClient' }) as Error)
    }
    expect(() => new Environment({ ...local, budgets: { perHour: 1 } as never })).toThrow(
      expect.objectContaining({ argument: 'budgets.perHour' }) as Error,
    )
  })

  it('needs endpoints for a provider without paths, and checks every one of them', () => {
    expect(() => new Environment({ ...local, provider: oauth2 })).toThrow(
      /provider oauth2 has no endpoint paths of its own/,
    )
    const env = new Environment({
      ...local,
      provider: oauth2,
      endpoints: { authorization: 'https://a.example/auth', token: 'https://a.example/token' },
    })
    expect(env.clientAuth).toBe('client_secret_basic')
    expect(env.endpoints.revocation).toBeUndefined()
    expect(() => env.revokeUrl).toThrow(/has no revocation endpoint/)
    expect(
      () =>
        new Environment({
          ...local,
          endpoints: { token: 'http://a.example/token' },
        }),
    ).toThrow(expect.objectContaining({ argument: 'endpoints.token' }) as Error)
    expect(() => new Environment({ ...local, endpoints: { tokens: 'x' } as never })).toThrow(
      InvalidArgumentError,
    )
  })

  it('refuses a provider that is not one, and an unknown client authentication', () => {
    for (const provider of [
      {},
      { ...zoho, clientAuth: 'private_key_jwt' },
      { ...zoho, tokenPatterns: ['1000'] },
      { ...zoho, tokenPatterns: [/1000/] },
      { ...zoho, quirks: { ...zoho.quirks, tokenTypes: undefined } },
    ]) {
      expect(() => new Environment({ ...local, provider: provider as never })).toThrow(
        expect.objectContaining({ argument: 'provider' }) as Error,
      )
    }
    expect(() => new Environment({ ...local, clientAuth: 'none' as never })).toThrow(
      expect.objectContaining({ argument: 'clientAuth' }) as Error,
    )
  })

  it('gives the session its provider’s header prefix, and a config prefix still wins', async () => {
    const emulator = await startAccountsEmulator({ users: [{ email: 'ada@zylker.example' }] })
    try {
      const seen: string[] = []
      const fetch: typeof globalThis.fetch = async (input, init) => {
        const auth = new Headers(init?.headers).get('authorization')
        if (auth !== null) seen.push(auth.replace(/\s\S+$/, ''))
        return globalThis.fetch(input, init)
      }
      const { clientId, clientSecret } = emulator.clients[0]!
      const start = async (environment: Environment, config: Record<string, unknown> = {}) => {
        const session = await Initializer.initialize({
          environment,
          store: new MemoryStore(),
          token: new OAuthToken({
            clientId,
            clientSecret,
            grantToken: emulator.issueGrantCode({ user: 'ada@zylker.example' }),
            redirectUrl: 'http://127.0.0.1/callback',
          }),
          config: { fetch, ...config },
        })
        await session.fetch('/crm/v8/users?type=CurrentUser')
      }
      const zohoStyle = new Environment({
        name: 'emulator',
        apiDomain: emulator.url,
        accountsUrl: emulator.url,
      })
      await start(zohoStyle)
      await start(
        new Environment({
          name: 'emulator',
          apiDomain: emulator.url,
          accountsUrl: emulator.url,
          provider: { ...zoho, authHeaderPrefix: 'Bearer ' },
        }),
      )
      await start(zohoStyle, { authHeaderPrefix: 'Token ' })
      // The emulator answers a scheme it does not know with 401, and the session tries once more
      // (after a refresh) with the same prefix: 'Token' is seen twice.
      expect(seen).toEqual(['Zoho-oauthtoken', 'Bearer', 'Token', 'Token'])
    } finally {
      await emulator.close()
    }
  })

  it('says when findUser is asked of a provider without a user look-up', async () => {
    const emulator = await startAccountsEmulator({ users: [{ email: 'ada@zylker.example' }] })
    try {
      const { clientId, clientSecret } = emulator.clients[0]!
      const environment = new Environment({
        name: 'plain',
        apiDomain: emulator.url,
        accountsUrl: emulator.url,
        provider: oauth2,
        endpoints: {
          authorization: `${emulator.url}/oauth/v2/auth`,
          token: `${emulator.url}/oauth/v2/token`,
        },
        clientAuth: 'client_secret_post',
      })
      await expect(
        Initializer.initialize({
          environment,
          store: new MemoryStore(),
          token: new OAuthToken({
            clientId,
            clientSecret,
            grantToken: emulator.issueGrantCode({ user: 'ada@zylker.example' }),
            redirectUrl: 'http://127.0.0.1/callback',
          }),
          config: { findUser: true },
        }),
      ).rejects.toMatchObject({
        code: 'USER_LOOKUP_FAILED',
        message:
          'provider oauth2 has no current-user look-up: give the token a userSignature, or leave config.findUser off',
      })
    } finally {
      await emulator.close()
    }
  })
})
