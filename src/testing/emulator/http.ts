// HTTP plumbing of the emulator: the reply a handler builds, reading a request's body and
// parameters, the bearer token, and routing a request to what it is (for the handlers, the
// counters and the faults).
import type { IncomingMessage } from 'node:http'
import type { Ledger } from './ledger.js'
import type { Settings } from './settings.js'
import type { EmulatorCounter, EmulatorRefusal } from './types.js'

/** What a handler needs of the emulator. */
export interface Context {
  readonly settings: Settings
  readonly ledger: Ledger
  /** The data center this listener serves (`'us'` for the main one). */
  readonly dataCenter: string
  /** This listener's URL, for example `http://127.0.0.1:43121` (known once it listens). */
  origin(): string
  /** The URL of the listener of a data center the emulator serves. */
  originOf(dataCenter: string): string
}

const MAX_BODY_BYTES = 1024 * 1024

/** An answer, built by a handler and written by the dispatcher. */
export interface Reply {
  status: number
  headers: Record<string, string>
  body: string
  /** Whether it answers with an error, for `counts.rejected`. */
  rejected: boolean
  /** Why the token or revoke endpoint refused, for `counts.refusals`. */
  refusal?: EmulatorRefusal
}

/** A JSON answer; `rejected` defaults to whether the status is an error. */
export function json(status: number, value: unknown, rejected = status >= 400): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', 'cache-control': 'no-store' },
    body: JSON.stringify(value),
    rejected,
  }
}

/** Whether a handler's result is an answer already (rather than what it checked). */
export function isReply(value: object): value is Reply {
  return 'status' in value && 'body' in value
}

/** A 302 to `location`; `rejected` when it carries an error back to the client. */
export function redirect(location: URL, rejected = false): Reply {
  return { status: 302, headers: { location: location.href }, body: '', rejected }
}

/** The request's body, or undefined past 1 MiB. */
export async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/**
 * The request's parameters from a form body (urlencoded or multipart, as the official SDKs send)
 * and the query string; the body wins, and the first value of a repeated name.
 */
export async function readParams(
  url: URL,
  contentType: string,
  body: Buffer,
): Promise<Map<string, string>> {
  const params = new Map<string, string>()
  const add = (entries: Iterable<[string, unknown]>): void => {
    for (const [name, value] of entries) {
      if (typeof value === 'string' && !params.has(name)) params.set(name, value)
    }
  }
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase()
  if (mediaType === 'application/x-www-form-urlencoded') {
    add(new URLSearchParams(body.toString('utf8')))
  } else if (mediaType === 'multipart/form-data') {
    // The fetch API's own multipart parser, rather than a hand-written one.
    const request = new Request(url, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: new Uint8Array(body),
    })
    add(await request.formData())
  }
  add(url.searchParams)
  return params
}

/** The token of an `Authorization: Zoho-oauthtoken <token>` (or `Bearer <token>`) header. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^(?:Zoho-oauthtoken|Bearer)\s+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}

/** Where a request goes. */
export type Route =
  | 'consent'
  | 'approve'
  | 'token'
  | 'revoke'
  | 'currentUser'
  | 'leads'
  | 'adminCounts'
  | 'adminRevoke'
  | 'notFound'

/** What a request is, for the counters and for matching faults. */
export type Kind =
  | 'consent'
  | 'approve'
  | 'exchange'
  | 'refresh'
  | 'token'
  | 'revoke'
  | 'api'
  | 'currentUser'
  | 'admin'
  | 'other'

const ROUTES: ReadonlyArray<{ method: string; path: RegExp; route: Route }> = [
  { method: 'GET', path: /^\/oauth\/v2\/auth$/, route: 'consent' },
  { method: 'POST', path: /^\/oauth\/v2\/auth\/approve$/, route: 'approve' },
  { method: 'POST', path: /^\/oauth\/v2\/token$/, route: 'token' },
  { method: 'POST', path: /^\/oauth\/v2\/token\/revoke$/, route: 'revoke' },
  { method: 'GET', path: /^\/crm\/v\d+\/users$/, route: 'currentUser' },
  { method: 'GET', path: /^\/crm\/v\d+\/Leads$/, route: 'leads' },
  { method: 'GET', path: /^\/emulator\/counts$/, route: 'adminCounts' },
  { method: 'POST', path: /^\/emulator\/revoke$/, route: 'adminRevoke' },
]

export function route(method: string | undefined, pathname: string): Route {
  return ROUTES.find((r) => r.method === method && r.path.test(pathname))?.route ?? 'notFound'
}

export function kindOf(route: Route, params: Map<string, string>): Kind {
  switch (route) {
    case 'token': {
      const grantType = params.get('grant_type')
      if (grantType === 'authorization_code') return 'exchange'
      return grantType === 'refresh_token' ? 'refresh' : 'token'
    }
    case 'leads':
      return 'api'
    case 'adminCounts':
    case 'adminRevoke':
      return 'admin'
    case 'notFound':
      return 'other'
    default:
      return route
  }
}

/** The counter of each kind; `token` (an unknown grant type) and `other` only count in `total`. */
export const COUNTER_OF: Partial<Record<Kind, EmulatorCounter>> = {
  consent: 'consent',
  approve: 'approve',
  exchange: 'exchange',
  refresh: 'refresh',
  revoke: 'revoke',
  api: 'api',
  currentUser: 'currentUser',
}
