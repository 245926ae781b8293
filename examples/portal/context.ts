// What the portal's handlers share: the token store, the sign-in sessions, the cookie key, the
// refresh counts, and the accounts server, which is known once the portal listens.
import type { Environment } from 'tokenkeeper'
import type { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import type { AccountsEmulator } from 'tokenkeeper/testing'
import type { PortalSessions } from './sessions.ts'
import type { Client } from './settings.ts'

/** The accounts server the portal signs in with, and where the portal is reached. */
export interface AccountsLink {
  readonly environment: Environment
  readonly client: Client
  /** Where the portal listens, for example http://127.0.0.1:3000 */
  readonly origin: string
  /** Where browsers reach it (a proxy's https URL, or {@link origin}). */
  readonly publicUrl: string
  /** Whether cookies are `Secure`: browsers reach the portal over https. */
  readonly secure: boolean
  /** The emulator, when the portal talks to one: its data centers are accounts servers too. */
  readonly accounts: AccountsEmulator | undefined
}

/** The state every handler of one portal reads. */
export interface PortalContext {
  readonly store: SQLiteStore
  readonly sessions: PortalSessions
  /** Signs the sign-in's state cookie. */
  readonly key: Buffer
  /** How long a sign-in lasts (ms). */
  readonly ttlMs: number
  /** User names (lower case) who also see every stored token, read-only. */
  readonly admins: ReadonlySet<string>
  /** Refreshes per token id since the portal started. */
  readonly refreshes: Map<string, number>
  /** The accounts server; requests wait until the portal is ready, so it is always known. */
  readonly link: AccountsLink
}
