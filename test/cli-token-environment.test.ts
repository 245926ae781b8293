// The CLI refreshes and revokes a token at the accounts server that issued it: known from the
// token's API domain without --dc; a --dc that contradicts the token is refused before anything
// is sent.
import { describe, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../src/index.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from './helpers.ts'
import { cli } from './helpers/cli-child.ts'

async function storeWith(apiDomain: string): Promise<{ url: string; id: string }> {
  const path = scratchPath(scratchDir(), 'env.db')
  const store = new SQLiteStore({ path })
  const token = new OAuthToken({
    userSignature: new UserSignature('eu-user@example.com'),
    clientId: '1000.client',
    clientSecret: 'secret.value.for.test',
    refreshToken: '1000.refresh.token.for.test',
    accessToken: '1000.access.token.for.test',
    apiDomain,
    expiryTime: Date.now() + 3_600_000,
  })
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
