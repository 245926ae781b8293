// Each Zoho token belongs to the accounts server that issued it, and a web login's callback
// picks its data center only among Zoho's own (or the application's listed) accounts servers.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import {
  DataCenter,
  type Environment,
  Initializer,
  InvalidArgumentError,
  MemoryStore,
  OAuthToken,
  UnknownAccountsServerError,
  dataCenterOf,
  environmentForCallback,
  zohoAccountsServerFor,
} from '../../src/index.ts'
import { startAccountsEmulator } from '../../src/testing/index.ts'

describe("a token's accounts server", () => {
  it('follows from the API domain Zoho named, for every data center and kind', () => {
    for (const [code, envs] of Object.entries(DataCenter)) {
      for (const [kind, env] of Object.entries(envs as unknown as Record<string, Environment>)) {
        expect(dataCenterOf({ apiDomain: env.apiDomain }), `${code}.${kind}`).toBe(env)
        expect(zohoAccountsServerFor({ apiDomain: env.apiDomain })).toBe(env.accountsUrl)
      }
    }
    expect(zohoAccountsServerFor({ apiDomain: 'https://www.zohoapis.eu' })).toBe(
      'https://accounts.zoho.eu',
    )
    // com, com.cn and com.au are told apart by the whole host, not a suffix.
    expect(dataCenterOf({ apiDomain: 'https://www.zohoapis.com.cn' })).toBe(
      DataCenter.CN.PRODUCTION,
    )
    expect(dataCenterOf({ apiDomain: 'https://content.zohoapis.com.au/x' })).toBe(
      DataCenter.AU.PRODUCTION,
    )
    expect(dataCenterOf({ apiDomain: 'https://zohoapis.jp' })).toBe(DataCenter.JP.PRODUCTION)
  })

  it('is unknown for anything that is not a Zoho API host', () => {
    for (const apiDomain of [
      undefined,
      'http://www.zohoapis.com', // not https
      'https://www.zohoapis.com:8443',
      'https://www.zohoapis.com.evil.example',
      'https://evil.example/www.zohoapis.com',
      'https://www.zohoapis.uk',
      'http://127.0.0.1:4000',
      'not a url',
    ]) {
      expect(dataCenterOf({ apiDomain }), String(apiDomain)).toBeUndefined()
      expect(zohoAccountsServerFor({ apiDomain })).toBeUndefined()
    }
  })
})

describe("a web login's callback", () => {
  it("picks the data center of Zoho's accounts-server, agreeing with location", () => {
    const params = new URLSearchParams({
      code: 'x',
      location: 'eu',
      'accounts-server': 'https://accounts.zoho.eu',
    })
    expect(environmentForCallback(params)).toBe(DataCenter.EU.PRODUCTION)
    expect(environmentForCallback(params, { kind: 'SANDBOX' })).toBe(DataCenter.EU.SANDBOX)
    expect(
      environmentForCallback({
        location: 'ca',
        'accounts-server': 'https://accounts.zohocloud.ca/',
      }),
    ).toBe(DataCenter.CA.PRODUCTION)
    expect(environmentForCallback({ location: 'jp' })).toBe(DataCenter.JP.PRODUCTION)
    expect(environmentForCallback({ 'accounts-server': 'https://accounts.zoho.in' })).toBe(
      DataCenter.IN.PRODUCTION,
    )
  })

  it('refuses a forged accounts-server, a contradicting location and an unknown one', () => {
    for (const server of [
      'https://accounts.zoho.eu.evil.example',
      'https://evil.example',
      'http://accounts.zoho.eu',
      'https://accounts.zoho.eu:444',
      'https://accounts.zoho.eu/oauth?x=1',
      'https://user@accounts.zoho.eu',
      'javascript:alert(1)',
      'accounts.zoho.eu',
    ]) {
      expect(
        () => environmentForCallback({ location: 'eu', 'accounts-server': server }),
        server,
      ).toThrow(UnknownAccountsServerError)
    }
    const err = (() => {
      try {
        environmentForCallback({ location: 'us', 'accounts-server': 'https://accounts.zoho.eu' })
      } catch (e) {
        return e as UnknownAccountsServerError
      }
    })()
    expect(err).toMatchObject({
      code: 'UNKNOWN_ACCOUNTS_SERVER',
      accountsServer: 'https://accounts.zoho.eu',
    })
    expect(err?.message).toMatch(/disagree/)
    expect(() => environmentForCallback({ location: 'mars' })).toThrow(UnknownAccountsServerError)
    expect(() => environmentForCallback({ code: 'x' })).toThrow(InvalidArgumentError)
  })

  it('never sends the client secret to a forged accounts-server; a listed one of its own works', async () => {
    const seen: string[] = []
    const forger = createServer((req, res) => {
      seen.push(req.url ?? '')
      res.end('{}')
    })
    await new Promise<void>((resolve) => forger.listen(0, '127.0.0.1', resolve))
    const forged = `http://127.0.0.1:${(forger.address() as AddressInfo).port}`
    const emulator = await startAccountsEmulator({ users: [{ email: 'ada@zylker.example' }] })
    try {
      const client = emulator.clients[0]!
      // The callback handler of a web login: pick the environment, then exchange the code.
      const signIn = async (query: Record<string, string>) =>
        Initializer.initialize({
          environment: environmentForCallback(query, { also: [emulator.environment] }),
          store: new MemoryStore(),
          token: new OAuthToken({
            clientId: client.clientId,
            clientSecret: client.clientSecret,
            grantToken: query.code!,
            redirectUrl: 'http://127.0.0.1/callback',
          }),
          exchange: 'always',
        })
      const code = () => emulator.issueGrantCode({ user: 'ada@zylker.example' })
      await expect(signIn({ code: code(), 'accounts-server': forged })).rejects.toBeInstanceOf(
        UnknownAccountsServerError,
      )
      expect(seen).toEqual([])
      const session = await signIn({ code: code(), 'accounts-server': emulator.url })
      expect(await session.getAccessToken()).toMatch(/\S/)
      expect(emulator.counts).toMatchObject({ exchange: 1 })
    } finally {
      await emulator.close()
      forger.closeAllConnections()
      forger.close()
    }
  })
})
