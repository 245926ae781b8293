// What the portal's HTTP tests share: a cookie jar and fetch with redirect: 'manual', so that
// every hop of the sign-in (portal, consent page, callback) is seen and checked; the sign-in
// itself; reading the dashboard; and a portal started on the test's own accounts emulator.
import { join } from 'node:path'
import { expect } from 'vitest'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import {
  startAccountsEmulator,
  type AccountsEmulator,
  type AccountsEmulatorOptions,
} from 'tokenkeeper/testing'
import { startPortal, type Portal, type PortalOptions } from '../../../examples/portal/app.ts'

/** Cookies by name, as a browser on 127.0.0.1 would keep them (ports do not matter). */
export class Jar {
  readonly cookies = new Map<string, string>()
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
  take(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';')
      const at = pair.indexOf('=')
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a))
      if (expired || value === '') this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
}

/** Every page body this test file saw, to check that no secret was ever shown. */
export const pages: string[] = []
/** Every authorization code the consent page gave; none is stored, but none may be shown. */
export const codes = new Set<string>()

export async function request(
  jar: Jar,
  url: string,
  init: { method?: string; form?: Record<string, string> } = {},
): Promise<{ status: number; location: string | null; body: string; response: Response }> {
  const headers: Record<string, string> = {}
  if (jar.cookies.size > 0) headers.cookie = jar.header()
  const response = await fetch(url, {
    method: init.method ?? (init.form ? 'POST' : 'GET'),
    headers,
    redirect: 'manual',
    ...(init.form ? { body: new URLSearchParams(init.form) } : {}),
  })
  jar.take(response)
  const body = await response.text()
  pages.push(body)
  return { status: response.status, location: response.headers.get('location'), body, response }
}

export function hiddenFields(body: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const match of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[match[1]!] = match[2]!.replaceAll('&amp;', '&').replaceAll('&quot;', '"')
  }
  return fields
}

/** The portal's /login, then the emulator's consent page, then its approve form. */
export async function consent(portal: Portal, jar: Jar, user: string): Promise<URL> {
  const login = await request(jar, `${portal.url}/login`)
  expect(login.status).toBe(302)
  const consentUrl = new URL(login.location!)
  const page = await request(jar, consentUrl.href)
  expect(page.status).toBe(200)
  const approve = await request(jar, new URL('/oauth/v2/auth/approve', consentUrl).href, {
    form: { ...hiddenFields(page.body), user, decision: 'accept' },
  })
  expect(approve.status).toBe(302)
  const callback = new URL(approve.location!)
  const code = callback.searchParams.get('code')
  if (code) codes.add(code)
  return callback
}

export async function signIn(portal: Portal, jar: Jar, user: string): Promise<void> {
  const callback = await consent(portal, jar, user)
  const done = await request(jar, callback.href)
  expect(done.status).toBe(303)
  expect(done.location).toBe('/')
  expect(jar.cookies.has('tk_session')).toBe(true)
}

/** One token's row of the dashboard. */
export function tokenRow(
  body: string,
  id: string,
): { refreshes: number; expiry: number; csrf: string } {
  const row = new RegExp(`<tr data-token-id="${id}">([\\s\\S]*?)</tr>`).exec(body)?.[1]
  if (!row) throw new Error(`no dashboard row for token ${id}`)
  return {
    refreshes: Number(/<td class="refreshes"[^>]*>\s*(\d+)\s*<\/td>/.exec(row)![1]),
    expiry: Number(/data-expiry="(\d+)"/.exec(row)![1]),
    csrf: /name="csrf" value="([^"]+)"/.exec(row)![1]!,
  }
}

/** A portal on the test's own emulator, and a second handle on the portal's token store. */
export interface Running {
  accounts: AccountsEmulator
  portal: Portal
  store: SQLiteStore
}

/**
 * Starts the test's own emulator, so that it outlives a portal restart (its tokens live in
 * memory), then a portal in `cwd` that signs in with it, on a free port.
 */
export async function startWithEmulator(
  cwd: string,
  emulator: AccountsEmulatorOptions,
  options: Omit<PortalOptions, 'port' | 'cwd' | 'accounts'> = {},
): Promise<Running> {
  const accounts = await startAccountsEmulator(emulator)
  try {
    const portal = await startPortal({ port: 0, cwd, accounts, ...options })
    return { accounts, portal, store: new SQLiteStore({ path: join(cwd, 'portal.db') }) }
  } catch (err) {
    await accounts.close()
    throw err
  }
}

/** Stops what {@link startWithEmulator} started (whatever of it did start). */
export async function stopAll(running: Partial<Running>): Promise<void> {
  await running.portal?.stop()
  await running.store?.close()
  await running.accounts?.close()
}

/**
 * The sign-in and dashboard tests' portal: Ada and Grace (an admin), the client
 * 1000.PORTALTEST… with `clientSecret`, and no limit on access tokens per refresh token.
 */
export function startDemo(cwd: string, clientSecret: string): Promise<Running> {
  return startWithEmulator(
    cwd,
    {
      users: [
        { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
        { email: 'grace@zylker.example', fullName: 'Grace Hopper' },
      ],
      clients: [{ clientId: '1000.PORTALTEST00000000000000000000', clientSecret }],
      accessTokenLimit: false,
    },
    { admins: ['Grace@zylker.example'] },
  )
}
