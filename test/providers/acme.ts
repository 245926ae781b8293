// A provider nobody ships, in one file: all tokenkeeper needs to work with "Acme", an OAuth 2.0
// server with its own endpoint paths, Basic client authentication, Bearer API calls, a user
// look-up, its own token shape and its own limits. Nothing else was changed to add it.
import { Environment, oauth2, type Provider } from '../../src/index.ts'

export const acme: Provider = {
  ...oauth2,
  name: 'acme',
  endpoints: (accountsUrl) => ({
    authorization: `${accountsUrl}/authorize`,
    token: `${accountsUrl}/token`,
    revocation: `${accountsUrl}/revoke`,
  }),
  clientAuth: 'client_secret_basic',
  authHeaderPrefix: 'Bearer ',
  quirks: { ...oauth2.quirks, isRateLimit: (error) => error === 'slow_down' },
  currentUser: {
    path: '/me',
    name: (body) => {
      const sub = (body as { sub?: unknown } | null)?.sub
      return typeof sub === 'string' ? sub : undefined
    },
  },
  tokenPatterns: [/\bacme_[A-Za-z0-9]{16,}\b/g],
  budgets: { accessTokensPerRefreshToken: { limit: 100, windowMs: 3_600_000 } },
}

/** Acme's server at `url` (its APIs are on the same host). */
export const acmeAt = (url: string): Environment =>
  new Environment({ name: 'acme', apiDomain: url, accountsUrl: url, provider: acme })
