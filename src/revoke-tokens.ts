// Central revocation: which tokens, each one's accounts server, and the loop that revokes them
// under their leases. `revokeTokens` (the library) and `tokenkeeper revoke` (the CLI) both run
// `revokeMatching`, so they decide, re-check and report alike.
import { InvalidArgumentError, refuseUnknownOptions, SDKException } from './errors.js'
import { emit } from './events.js'
import { eachToken } from './iteration.js'
import { SafeLog, type Logger } from './log.js'
import { Environment } from './oauth/environments.js'
import { checkLockTimeout, checkProgress, checkStore, passOptions } from './policies.js'
import { environmentOf, sameServer } from './providers/token-environment.js'
import { revocationClient, revokeStoredToken, type RevocationClientOptions } from './revocation.js'
import type { TokenStore } from './store.js'
import type { OAuthToken } from './token.js'

/** Options of {@link revokeTokens}. */
export interface RevokeOptions {
  /**
   * The only environment whose tokens are revoked. Default: each token's own, known from its
   * API domain (any Zoho data center). Either way a token is revoked only at the accounts
   * server that issued it: one of another environment, or of none known, is kept and reported
   * in `failed` (`ENVIRONMENT_MISMATCH`, `ENVIRONMENT_UNKNOWN`), and nothing of it is sent.
   */
  environment?: Environment | undefined
  /** Revoke every token of this user… */
  userName?: string
  /** …or of this client. */
  clientId?: string
  logger?: Logger
  fetch?: typeof globalThis.fetch
  requestTimeoutMs?: number
  /** How long to wait for each token's lease (ms); default 10000. Not had: failed, kept. */
  lockTimeoutMs?: number
  /** Progress of the pass over the store, as `purgeTokens`'s `onProgress`. */
  onProgress?: (seen: number) => void
}

/** What {@link revokeTokens} did. */
export interface RevokeResult {
  /** Revoked at the accounts server, then deleted. */
  readonly revoked: string[]
  /** Not revoked (the server could not be reached or refused); these rows are kept. */
  readonly failed: { id: string; code: string }[]
  /**
   * Not revoked: read again under its lease, the row no longer matched, or named another
   * accounts server than the pass had found (another process signed the user in elsewhere
   * meanwhile). Nothing of it was sent; the row is kept.
   */
  readonly kept: string[]
}

const REVOKE_OPTIONS = [
  'environment',
  'userName',
  'clientId',
  'logger',
  'fetch',
  'requestTimeoutMs',
  'lockTimeoutMs',
  'onProgress',
] as const

/**
 * Central revocation: every token of a user, or of a client, revoked at the accounts server
 * that issued it, and then deleted from the store. The tokens are found by one pass over the
 * store, a page at a time (`eachToken`). Each is read again under its lease first, so the
 * refresh token revoked is the current one even if a refresh rotated it meanwhile, and it is
 * revoked only if it still matches and still names the accounts server found in the pass. A
 * token the server could not revoke is kept, and reported.
 *
 * @example
 * await revokeTokens(store, { environment: DataCenter.US.PRODUCTION, userName: 'ada@zylker.example' })
 */
export async function revokeTokens(
  store: TokenStore,
  options: RevokeOptions,
): Promise<RevokeResult> {
  checkStore(store)
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', 'revokeTokens needs { userName } or { clientId }')
  }
  if (options.environment !== undefined && !(options.environment instanceof Environment)) {
    throw new InvalidArgumentError(
      'environment',
      'environment must be an Environment, such as DataCenter.US.PRODUCTION, or left out',
    )
  }
  refuseUnknownOptions('revokeTokens', options, REVOKE_OPTIONS)
  const { userName, clientId } = options
  if ((userName === undefined) === (clientId === undefined)) {
    throw new InvalidArgumentError(
      'userName',
      'revokeTokens needs exactly one of userName and clientId',
    )
  }
  for (const [name, value] of [
    ['userName', userName],
    ['clientId', clientId],
  ] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
      throw new InvalidArgumentError(name, `${name} must be a non-empty string`)
    }
  }
  checkLockTimeout(options.lockTimeoutMs)
  checkProgress(options.onProgress)
  const done = await revokeMatching(store, {
    matches: (token) =>
      userName !== undefined ? token.userSignature?.name === userName : token.clientId === clientId,
    serverOf: (token) => environmentOf(token, options.environment),
    client: options,
    logger: options.logger,
    lockTimeoutMs: options.lockTimeoutMs,
    onProgress: options.onProgress,
  })
  return { revoked: done.revoked, failed: done.failed, kept: done.kept }
}

/** What {@link revokeMatching} revokes, and how: the library's options and the CLI's. */
export interface MatchingRevocation {
  /** Which tokens: checked in the pass, and again on the row read under each lease. */
  readonly matches: (token: OAuthToken) => boolean
  /**
   * The accounts server that issued a token. Throws (an SDKException such as
   * `ENVIRONMENT_MISMATCH` or `ENVIRONMENT_UNKNOWN`) when the token may be sent to none.
   */
  readonly serverOf: (token: OAuthToken) => Environment
  /**
   * Decide every matching token's server before anything is sent: if any is refused, none is
   * revoked, and the refusals are returned. Holds the matching ids (not the tokens) meanwhile.
   * Without it, a refused token is reported in `failed` and the others are revoked.
   */
  readonly allOrNothing?: boolean | undefined
  /** The tokens to consider; default every token of the store, one pass (`eachToken`). */
  readonly tokens?: AsyncIterable<OAuthToken> | Iterable<OAuthToken> | undefined
  readonly client?: RevocationClientOptions | undefined
  readonly logger?: Logger | undefined
  readonly lockTimeoutMs?: number | undefined
  readonly onProgress?: ((seen: number) => void) | undefined
}

/** What {@link revokeMatching} did: revoked what it could… */
export type MatchingDone = { readonly outcome: 'done' } & RevokeResult

/** …or, with `allOrNothing`, refused all. */
export interface MatchingRefused {
  readonly outcome: 'refused'
  /** How many tokens matched. */
  readonly matched: number
  /** Each refused token and why (what `serverOf` threw). */
  readonly refused: { readonly id: string; readonly error: unknown }[]
}

/** A matching token of the pass: its id and user, and its server or why it has none. */
type Target = { id: string; user: string | undefined } & (
  { server: Environment; error?: undefined } | { server?: undefined; error: unknown }
)

/** Each matching token of `tokens`, with its server decided (no secret kept). */
async function* targetsOf(
  tokens: AsyncIterable<OAuthToken> | Iterable<OAuthToken>,
  how: MatchingRevocation,
): AsyncGenerator<Target> {
  for await (const token of tokens) {
    const id = token.id
    if (!id || !how.matches(token)) continue
    let server: Environment
    try {
      server = how.serverOf(token)
    } catch (error) {
      yield { id, user: token.userSignature?.name, error }
      continue
    }
    yield { id, user: token.userSignature?.name, server }
  }
}

/**
 * Whether the row read under the lease names `server` still. A row that names no server now, or
 * one `serverOf` refuses, does not; any other error is the caller's to see.
 */
function stillAt(how: MatchingRevocation, token: OAuthToken, server: Environment): boolean {
  try {
    return sameServer(how.serverOf(token), server)
  } catch (err) {
    if (err instanceof SDKException) return false
    throw err
  }
}

/**
 * The revocation loop, the one place it is written: picks the matching tokens, decides each
 * one's accounts server, then, token by token, takes its lease, reads it again and revokes it
 * there (`revokeStoredToken`) only while the row still matches and still names that server;
 * otherwise it is kept and reported. One accounts client per server met.
 */
export async function revokeMatching(
  store: TokenStore,
  how: MatchingRevocation & { allOrNothing?: false | undefined },
): Promise<MatchingDone>
export async function revokeMatching(
  store: TokenStore,
  how: MatchingRevocation,
): Promise<MatchingDone | MatchingRefused>
export async function revokeMatching(
  store: TokenStore,
  how: MatchingRevocation,
): Promise<MatchingDone | MatchingRefused> {
  const decided = targetsOf(how.tokens ?? eachToken(store, passOptions(how.onProgress)), how)
  let targets: AsyncIterable<Target> | Target[] = decided
  if (how.allOrNothing) {
    targets = []
    for await (const target of decided) targets.push(target)
    const refused = targets.flatMap((t) => (t.error === undefined ? [] : [t]))
    if (refused.length > 0) {
      return {
        outcome: 'refused',
        matched: targets.length,
        refused: refused.map(({ id, error }) => ({ id, error })),
      }
    }
  }
  const clients: { server: Environment; made: ReturnType<typeof revocationClient> }[] = []
  const clientFor = (server: Environment) => {
    let found = clients.find((c) => sameServer(c.server, server))
    if (!found) clients.push((found = { server, made: revocationClient(server, how.client) }))
    return found.made
  }
  const log = new SafeLog(how.logger)
  const revoked: string[] = []
  const failed: { id: string; code: string }[] = []
  const kept: string[] = []
  const fail = (id: string, user: string | undefined, err: unknown) => {
    failed.push({ id, code: (err as { code?: string }).code ?? 'UNKNOWN' })
    log.warn('token not revoked, kept', { id, user })
  }
  for await (const { id, user, server, error } of targets) {
    if (server === undefined) {
      fail(id, user, error)
      continue
    }
    try {
      const { client, log: clientLog } = clientFor(server)
      const done = await revokeStoredToken(store, id, client, {
        when: (now) => how.matches(now) && stillAt(how, now, server),
        lockTimeoutMs: how.lockTimeoutMs,
        log: clientLog,
      })
      if (done.outcome === 'revoked') revoked.push(id)
      if (done.outcome === 'kept') kept.push(id)
    } catch (err) {
      fail(id, user, err)
    }
  }
  if (revoked.length > 0) emit('tokens.purged', { reason: 'revoked', count: revoked.length })
  return { outcome: 'done', revoked, failed, kept }
}
