import { randomBytes } from 'node:crypto'
import { OAuthToken, UserSignature, type TokenStore } from '../src/index.ts'

const hex = (bytes: number): string => randomBytes(bytes).toString('hex')
const CLIENT_ID = `1000.${randomBytes(15).toString('hex').toUpperCase()}`
const CLIENT_SECRET = hex(21)

/** The user name of the i-th benchmark user. */
export const userName = (i: number): string => `user${String(i).padStart(6, '0')}@zylker.example`

/**
 * A token shaped like the ones Zoho issues (70-character tokens, a 35-character client id), with
 * the grant code kept in the row as after an exchange: about 400 bytes a row in the CSV file.
 * `model` gives the classes to build it with (another checkout's, for `bench:against`).
 */
export function realisticToken(
  i: number,
  now = Date.now(),
  model: { OAuthToken: typeof OAuthToken; UserSignature: typeof UserSignature } = {
    OAuthToken,
    UserSignature,
  },
): OAuthToken {
  return new model.OAuthToken({
    userSignature: new model.UserSignature(userName(i)),
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    grantToken: `1000.${hex(16)}.${hex(16)}`,
    refreshToken: `1000.${hex(16)}.${hex(16)}`,
    accessToken: `1000.${hex(16)}.${hex(16)}`,
    redirectUrl: 'https://portal.zylker.example/oauth/callback',
    apiDomain: 'https://www.zohoapis.com',
    expiryTime: now + 3_600_000,
  })
}

/**
 * Saves users 0..size-1 into `store`, all at once: saves that arrive together are written
 * together, so one write fills a file.
 */
export async function saveUsers(store: TokenStore, size: number): Promise<void> {
  const now = Date.now()
  await Promise.all(Array.from({ length: size }, (_, i) => store.saveToken(realisticToken(i, now))))
}
