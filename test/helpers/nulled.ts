import { OAuthToken } from '../../src/token.ts'

/**
 * A token whose fields `keys` were set to null after it was made: assertToken takes null as
 * absent (JavaScript callers and the official SDKs pass it), so the store rules must too.
 */
export function nulled(init: ConstructorParameters<typeof OAuthToken>[0], ...keys: string[]) {
  const token = new OAuthToken(init)
  for (const key of keys) (token as unknown as Record<string, null>)[key] = null
  return token
}
