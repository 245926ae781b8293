// The CLI refreshes and revokes a token at the accounts server that issued it: known from the
// token's API domain without --dc; a --dc that contradicts the token is refused before anything
// is sent. `revoke --user/--client` check every matching token first: one refused token stops
// the command before any is revoked or deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { cli } from '../helpers/cli-child.ts'

function tokenOf(apiDomain: string, user = 'eu-user@example.com'): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.client',
    clientSecret: 'secret.value.for.test',
    refreshToken: '1000.refresh.token.for.test',
    accessToken: '1000.access.token.for.test',
    apiDomain,
    expiryTime: Date.now() + 3_600_000,
  })
}

async function storeWith(apiDomain: string): Promise<{ url: string; id: string }> {
  const path = scratchPath(scratchDir(), 'env.db')
  const store = new SQLiteStore({ path })
  const token = tokenOf(apiDomain)
  await store.saveToken(token)
  await store.close()
  return { url: `sqlite:${path}`, id: token.id! }
}

describe('the accounts server of a stored token', () => {
  for (const command of ['refresh', 'revoke']) {
    it(`${command} <id> --dc US on an EU token is refused with exit 2, naming both`, async () => {
      const { url, id } = await storeWith('https://www.zohoapis.eu')
      const run = await cli([command, id, '--dc', 'US', '--store', url]).done
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toContain('https://www.zohoapis.eu')
      expect(run.stderr).toContain('US')
      expect(run.stderr).not.toContain('secret.value')
    })

    it(`${command} <id> of a token of no Zoho data center, without --dc, says what to give`, async () => {
      const { url, id } = await storeWith('https://api.example.org')
      const run = await cli([command, id, '--store', url]).done
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toContain('--dc or --accounts-url')
    })
  }
})

describe('revoke --user and --client: each token at its own server, or nothing', () => {
  let emulator: AccountsEmulator
  beforeAll(async () => {
    emulator = await startAccountsEmulator()
  })
  afterAll(() => emulator.close())

  /**
   * Two users of the emulator's client: Ada signed in through the emulator (her API domain is
   * the emulator's, no Zoho data center), Bob a user of Zoho's EU data center; and Carol, of EU
   * and another client.
   */
  async function usersOfTwoServers() {
    const path = scratchPath(scratchDir(), 'two-servers.db')
    const store = new SQLiteStore({ path })
    const ada = (await signIn(emulator, { store, user: 'ada@zylker.example' })).token
    const bob = tokenOf('https://www.zohoapis.eu', 'bob@zylker.example')
    bob.clientId = emulator.clients[0]!.clientId
    await store.saveToken(bob)
    await store.saveToken(tokenOf('https://www.zohoapis.eu', 'carol@zylker.example'))
    const ids = (await store.getTokens()).map((t) => t.id).sort()
    expect(ids).toHaveLength(3)
    await store.close()
    return { url: `sqlite:${path}`, path, ids, ada }
  }

  /** Nothing reached the emulator, every row is as it was, Ada's token still works. */
  async function expectUntouched(path: string, ids: (string | undefined)[], ada: OAuthToken) {
    expect(emulator.counts.revoke).toBe(0)
    expect(emulator.isValid(ada.refreshToken!)).toBe(true)
    const store = new SQLiteStore({ path })
    expect((await store.getTokens()).map((t) => t.id).sort()).toEqual(ids)
    await store.close()
  }

  for (const by of ['--user', '--client'] as const) {
    it(`revoke ${by} --dc EU, a token not of EU among them: exit 2, nothing sent or deleted`, async () => {
      const { url, path, ids, ada } = await usersOfTwoServers()
      emulator.resetCounts()
      const selector = [by, by === '--user' ? 'ada@zylker.example' : emulator.clients[0]!.clientId]
      const run = await cli(['revoke', ...selector, '--dc', 'EU', '--store', url]).done
      expect(run.code, run.stderr).toBe(2)
      expect(run.stderr).toContain('nothing was revoked')
      expect(run.stderr).toContain(new URL(emulator.url).origin)
      expect(run.stderr).not.toContain(ada.refreshToken!)
      expect(run.stdout).toBe('')
      await expectUntouched(path, ids, ada)
    })
  }

  it('revoke --client without --dc, a token of no Zoho data center among them: exit 2, nothing sent', async () => {
    const { url, path, ids, ada } = await usersOfTwoServers()
    emulator.resetCounts()
    const run = await cli(['revoke', '--client', emulator.clients[0]!.clientId, '--store', url])
      .done
    expect(run.code, run.stderr).toBe(2)
    expect(run.stderr).toContain('nothing was revoked: 1 token of the 2')
    expect(run.stderr).toContain('--dc or --accounts-url')
    await expectUntouched(path, ids, ada)
  })

  it('revoke --client --accounts-url: every token of the client revoked there and deleted, no other', async () => {
    const { url, path, ada } = await usersOfTwoServers()
    emulator.resetCounts()
    const run = await cli([
      'revoke',
      '--client',
      emulator.clients[0]!.clientId,
      '--store',
      url,
      '--accounts-url',
      emulator.url,
    ]).done
    // --accounts-url is the user's word for every token: Ada's and Bob's go to the emulator.
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/revoked 2, failed 0/)
    expect(emulator.counts.revoke).toBe(2)
    expect(emulator.isValid(ada.refreshToken!)).toBe(false)
    const after = new SQLiteStore({ path })
    expect((await after.getTokens()).map((t) => t.userSignature?.name)).toEqual([
      'carol@zylker.example',
    ])
    await after.close()
  })
})
