// The portal's settings: real Zoho from ZOHO_* variables, the public URL, the admins, the key
// that signs the sign-in's state cookie, and the accounts servers it trusts (where a callback's
// code is exchanged, where a stored token is refreshed and revoked).
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  DataCenter,
  dataCenterOf,
  environmentForCallback,
  type DataCenterCode,
  type Environment,
  type OAuthToken,
} from 'tokenkeeper'
import type { AccountsLink } from './context.ts'

/** The file, in the working directory, holding the key that signs the sign-in's state cookie. */
export const SECRET_FILE = '.tokenkeeper-portal-secret'

/** The OAuth client the portal signs in as. */
export interface Client {
  clientId: string
  clientSecret: string
  redirectUrl: string
}

/** Real Zoho from ZOHO_* settings, or undefined when none is set. */
export function zohoSettings(
  env: Record<string, string | undefined>,
):
  | { client: Omit<Client, 'redirectUrl'> & { redirectUrl: string }; environment: Environment }
  | undefined {
  const names = ['ZOHO_CLIENT_ID', 'ZOHO_CLIENT_SECRET', 'ZOHO_REDIRECT_URL', 'ZOHO_DC'] as const
  const set = names.filter((name) => env[name])
  if (set.length === 0) return undefined
  if (set.length < names.length) {
    const missing = names.filter((name) => !env[name])
    throw new Error(`to use real Zoho, also set ${missing.join(', ')} (or unset ${set.join(', ')})`)
  }
  const dc = env.ZOHO_DC!.toUpperCase()
  if (!(dc in DataCenter)) {
    throw new Error(`ZOHO_DC must be one of ${Object.keys(DataCenter).join(', ')}, got ${dc}`)
  }
  return {
    client: {
      clientId: env.ZOHO_CLIENT_ID!,
      clientSecret: env.ZOHO_CLIENT_SECRET!,
      redirectUrl: env.ZOHO_REDIRECT_URL!,
    },
    environment: DataCenter[dc as DataCenterCode].PRODUCTION,
  }
}

/** The public origin from `publicUrl` or `PORTAL_PUBLIC_URL`, checked; undefined when unset. */
export function publicOrigin(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  // The value is not echoed: it could carry a password (user:pass@host).
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error('PORTAL_PUBLIC_URL must be a URL such as https://portal.example.com')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`PORTAL_PUBLIC_URL must be an http or https URL, got ${url.protocol}`)
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    throw new Error(
      'PORTAL_PUBLIC_URL must be an origin only, such as https://portal.example.com: the portal is served at the root, without credentials',
    )
  }
  return url.origin
}

/** The admins' user names from `admins` or `PORTAL_ADMINS`, compared case-insensitively. */
export function adminNames(admins: readonly string[] | string | undefined): ReadonlySet<string> {
  const list = typeof admins === 'string' ? admins.split(',') : (admins ?? [])
  return new Set(list.map((name) => name.trim().toLowerCase()).filter((name) => name !== ''))
}

/** The key that signs the sign-in's state cookie: 32 random bytes, created once with mode 0600 and kept across restarts. */
export function loadKey(cwd: string): Buffer {
  const path = join(cwd, SECRET_FILE)
  try {
    writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  chmodSync(path, 0o600)
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex')
  if (key.length < 32) throw new Error(`${path} does not hold a 32-byte hex key; delete it`)
  return key
}

/** The accounts servers of the emulator's data centers (none with real Zoho). */
function emulatorEnvironments(link: AccountsLink): Environment[] {
  return link.accounts?.dataCenters.map((dc) => dc.environment) ?? []
}

/**
 * Where a sign-in's code is exchanged: where the callback's `location` and `accounts-server` say
 * (Zoho's multi-data-center login), among the accounts servers the portal accepts: Zoho's data
 * centers with real Zoho, the emulator's data centers only with the emulator (so a forged
 * `?location=eu` never sends the client secret to Zoho). Anything else is an
 * `UnknownAccountsServerError`, before the client secret goes anywhere. A callback without
 * either parameter goes where the sign-in started.
 */
export function callbackEnvironment(link: AccountsLink, params: URLSearchParams): Environment {
  if (!params.has('location') && !params.has('accounts-server')) return link.environment
  const emulator = link.accounts
  if (emulator === undefined) return environmentForCallback(params, { accept: 'zoho' })
  return environmentForCallback(params, { accept: 'also', also: emulator.dataCenters })
}

/**
 * Where a stored token is refreshed and revoked: the known accounts server whose API domain the
 * token holds (the emulator's data centers, then Zoho's), else the portal's own. A row pointed
 * elsewhere gets no secret sent there: only these accounts servers are ever chosen.
 */
export function tokenEnvironment(link: AccountsLink, token: OAuthToken | null): Environment {
  const apiDomain = token?.apiDomain
  if (token === null || apiDomain === undefined) return link.environment
  const known = [link.environment, ...emulatorEnvironments(link)]
  return known.find((e) => e.allowsApiOrigin(apiDomain)) ?? dataCenterOf(token) ?? link.environment
}
