import type { LookupColumn } from '../store/matching.js'

/**
 * The columns a token can be looked up by, in the order of the matching rule (`lookupOf`): user
 * name, then access token, grant token, refresh token. For a store that keeps an index per
 * lookup column and must list them (in a script, a schema, a statement).
 */
export const LOOKUP_COLUMNS = [
  'user_name',
  'access_token',
  'grant_token',
  'refresh_token',
] as const satisfies readonly LookupColumn[]

// The compiler refuses this line when a lookup column is added to the rules and not listed here.
const _complete: readonly (typeof LOOKUP_COLUMNS)[number][] = [] as LookupColumn[]
void _complete
