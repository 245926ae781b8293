import type { Session } from '../session.js'
import type { SessionConfig } from '../session-options.js'
import { Initializer } from '../initializer.js'
import type { TokenStore } from '../store.js'
import { OAuthToken, UserSignature } from '../token.js'
import type { AccountsEmulator } from './emulator.js'

/** What {@link signIn} takes. */
export interface SignInOptions {
  /** Where the new token is saved. */
  readonly store: TokenStore
  /** The row's user name; without one, the row is named by its tokens. */
  readonly user?: string | undefined
  /** The session's config (a clock, retries, ...). */
  readonly config?: Partial<SessionConfig> | undefined
}

/**
 * A user signed in through the emulator, as a web login would: a grant code of its first
 * client exchanged, and the token saved to `store`. For tests and benchmarks that need real
 * tokens of the emulator in a store.
 *
 * @example
 * const session = await signIn(emulator, { store, user: 'ada@example.com' })
 */
export function signIn(emulator: AccountsEmulator, options: SignInOptions): Promise<Session> {
  const { clientId, clientSecret } = emulator.clients[0]!
  return Initializer.initialize({
    environment: emulator.environment,
    store: options.store,
    token: new OAuthToken({
      clientId,
      clientSecret,
      grantToken: emulator.issueGrantCode(),
      ...(options.user === undefined ? {} : { userSignature: new UserSignature(options.user) }),
    }),
    ...(options.config === undefined ? {} : { config: options.config }),
  })
}
