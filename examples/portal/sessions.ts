// The portal's sign-in sessions: random ids, kept in the server's memory with an expiry, ended by
// sign-out. The cookie holds only the id; nothing in it names the token or can be recomputed, so
// a cookie stops working the moment its session ends (sign-out, revoke, expiry, restart).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** One signed-in browser. */
export interface PortalSession {
  /** The id of the stored token the session acts on: the only token it may refresh or revoke. */
  readonly tokenId: string
  /** The user's name (e-mail), from the accounts server's user look-up at sign-in. */
  readonly userName: string | undefined
  /** The token that every form of this session must carry. */
  readonly csrf: string
  /** Epoch ms after which the session is over. */
  readonly expiresAt: number
}

export interface PortalSessionsOptions {
  /** How long a session lasts from sign-in (ms). */
  ttlMs: number
  /** The most sessions kept; beyond it the oldest is ended. */
  max: number
  /** The clock, epoch ms. */
  now: () => number
}

/** 32 random bytes, base64url: 256 bits, 43 characters. */
const randomId = (): string => randomBytes(32).toString('base64url')

/** The map key of a session id: its hash, so the map holds nothing a cookie can be made from. */
const keyOf = (id: string): string => createHash('sha256').update(id).digest('base64url')

/** Whether two secrets are equal, in time that does not depend on where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The live sessions of one portal process. */
export class PortalSessions {
  readonly #sessions = new Map<string, PortalSession>()
  readonly #options: PortalSessionsOptions

  constructor(options: PortalSessionsOptions) {
    this.#options = options
  }

  /** Starts a session for a token; gives the id to put in the cookie. */
  start(tokenId: string, userName: string | undefined): string {
    const now = this.#options.now()
    this.#sweep(now)
    // Map order is insertion order: the first entry is the oldest session.
    while (this.#sessions.size >= this.#options.max) {
      const oldest = this.#sessions.keys().next().value
      if (oldest === undefined) break
      this.#sessions.delete(oldest)
    }
    const id = randomId()
    this.#sessions.set(keyOf(id), {
      tokenId,
      userName,
      csrf: randomId(),
      expiresAt: now + this.#options.ttlMs,
    })
    return id
  }

  /** The live session with this id; `undefined` when it is unknown, ended or expired. */
  get(id: string | undefined): PortalSession | undefined {
    if (!id || id.length > 64) return undefined
    const key = keyOf(id)
    const session = this.#sessions.get(key)
    if (!session) return undefined
    if (session.expiresAt <= this.#options.now()) {
      this.#sessions.delete(key)
      return undefined
    }
    return session
  }

  /** Ends one session (sign-out); an unknown id is not an error. */
  end(id: string | undefined): void {
    if (id) this.#sessions.delete(keyOf(id))
  }

  /** Ends every session on a token (it was revoked or is gone); gives how many ended. */
  endAllOf(tokenId: string): number {
    let ended = 0
    for (const [key, session] of this.#sessions) {
      if (session.tokenId === tokenId) {
        this.#sessions.delete(key)
        ended += 1
      }
    }
    return ended
  }

  /** How many sessions are kept (expired ones may still count until the next sign-in). */
  get size(): number {
    return this.#sessions.size
  }

  #sweep(now: number): void {
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt <= now) this.#sessions.delete(key)
    }
  }
}
