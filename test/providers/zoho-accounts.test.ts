// Each Zoho token belongs to the accounts server that issued it, and a web login's callback
// picks its data center only among Zoho's own (or the application's listed) accounts servers.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import {
  DataCenter,
  Environment,
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

describe('the accounts servers an app accepts', () => {
  // Two data centers of a local accounts server, as an emulator's `dataCenters` list them.
  const local = (location: string, port: number) => {
    const url = `http://127.0.0.1:${port}`
    const environment = new Environment({
      name: `local-${location}`,
      apiDomain: url,
      accountsUrl: url,
    })
    return { location, environment, url }
  }
  const US = local('us', 4001)
  const EU = local('eu', 4002)
  const refusal = (call: () => unknown): UnknownAccountsServerError => {
    try {
      call()
    } catch (err) {
      if (err instanceof UnknownAccountsServerError) return err
      throw err
    }
    throw new Error('not refused')
  }

  it("with accept: 'also', maps a location alone only to the app's own data centers", () => {
    const options = { accept: 'also', also: [US, EU] } as const
    expect(environmentForCallback({ location: 'eu' }, options)).toBe(EU.environment)
    expect(environmentForCallback({ location: 'us' }, options)).toBe(US.environment)
    expect(environmentForCallback({ location: 'eu', 'accounts-server': EU.url }, options)).toBe(
      EU.environment,
    )
    // A location the app does not serve goes nowhere, even though Zoho has a data center there.
    const err = refusal(() => environmentForCallback({ location: 'in' }, options))
    expect(err).toMatchObject({ code: 'UNKNOWN_ACCOUNTS_SERVER', accountsServer: undefined })
    expect(err.message).toMatch(/location 'in'.*not exchanged/)
    expect(err.message).toContain('us, eu')
    // Nor is any of Zoho's accounts servers accepted, even one that agrees with the location.
    const zoho = refusal(() =>
      environmentForCallback(
        { location: 'eu', 'accounts-server': 'https://accounts.zoho.eu' },
        options,
      ),
    )
    expect(zoho.accountsServer).toBe('https://accounts.zoho.eu')
    expect(zoho.message).toMatch(/accept: 'also'/)
  })

  it("with accept: 'also', refuses a location that disagrees with the app's own accounts-server", () => {
    const options = { accept: 'also', also: [US, EU] } as const
    const err = refusal(() =>
      environmentForCallback({ location: 'us', 'accounts-server': EU.url }, options),
    )
    expect(err).toMatchObject({ accountsServer: EU.url })
    expect(err.message).toMatch(/disagree/)
    expect(() =>
      environmentForCallback({ location: 'xx', 'accounts-server': EU.url }, options),
    ).toThrow(UnknownAccountsServerError)
  })

  it("with accept: 'zoho', takes Zoho's data centers only, and refuses a list of its own beside", () => {
    expect(environmentForCallback({ location: 'eu' }, { accept: 'zoho' })).toBe(
      DataCenter.EU.PRODUCTION,
    )
    expect(() => environmentForCallback({ 'accounts-server': EU.url }, { accept: 'zoho' })).toThrow(
      UnknownAccountsServerError,
    )
    expect(() =>
      environmentForCallback({ 'accounts-server': EU.url }, { accept: 'zoho', also: [EU] }),
    ).toThrow(/accept: 'zoho' refuses every server listed in 'also'/)
  })

  it('by default accepts both, and refuses a location alone that names a data center of each', () => {
    const options = { also: [US, EU] }
    expect(environmentForCallback({ location: 'jp' }, options)).toBe(DataCenter.JP.PRODUCTION)
    expect(environmentForCallback({ 'accounts-server': EU.url }, options)).toBe(EU.environment)
    expect(
      environmentForCallback(
        { location: 'eu', 'accounts-server': 'https://accounts.zoho.eu' },
        options,
      ),
    ).toBe(DataCenter.EU.PRODUCTION)
    const err = refusal(() => environmentForCallback({ location: 'eu' }, options))
    expect(err.message).toMatch(/both/)
    expect(err.message).toContain('https://accounts.zoho.eu')
    expect(err.message).toContain(EU.url)
    // An own data center's location must agree with its accounts-server here too.
    expect(() =>
      environmentForCallback({ location: 'us', 'accounts-server': EU.url }, options),
    ).toThrow(/disagree/)
    // An environment listed without its location is found by its accounts-server alone.
    expect(
      environmentForCallback(
        { location: 'us', 'accounts-server': EU.url },
        { also: [EU.environment] },
      ),
    ).toBe(EU.environment)
  })

  it('refuses options that accept nothing, contradict each other or are misspelt', () => {
    const invalid = (options: object, argument: string) => {
      try {
        environmentForCallback({ location: 'eu' }, options)
      } catch (err) {
        expect(err, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError)
        expect((err as InvalidArgumentError).argument).toBe(argument)
        return (err as InvalidArgumentError).message
      }
      throw new Error(`${JSON.stringify(options)} was accepted`)
    }
    expect(invalid({ accept: 'also' }, 'also')).toMatch(/accepts nothing/)
    expect(invalid({ accept: 'also', also: [] }, 'also')).toMatch(/accepts nothing/)
    expect(invalid({ accept: 'own' }, 'accept')).toMatch(/'zoho', 'also' or 'both'/)
    expect(invalid({ acept: 'also', also: [EU] }, 'acept')).toMatch(/no option 'acept'/)
    expect(invalid({ also: [{ location: 'eu' }] }, 'also[0]')).toMatch(/Environment/)
    expect(invalid({ also: EU }, 'also')).toMatch(/array/)
    expect(invalid({ also: [{ location: '', environment: EU.environment }] }, 'also[0]')).toMatch(
      /location/,
    )
    expect(invalid({ also: [EU, { ...EU }] }, 'also[1]')).toMatch(/twice/)
  })
})
