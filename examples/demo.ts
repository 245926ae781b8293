// The terminal demo that `npm start` runs: a few users' tokens kept in the embedded SQLite
// store (demo.db, a database of the article's SQLite table), found again by every lookup key, and printed
// with their secrets masked. Run it twice: the second run finds and updates the same rows.
import { OAuthToken, UserSignature, type TokenStore } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'

const store: TokenStore = new SQLiteStore({ path: 'demo.db' })
const now = Date.now()
const users = ['ada@zylker.example', 'grace@zylker.example', 'linus@zylker.example']

console.log(`tokenkeeper demo: saving ${users.length} users' tokens in demo.db (SQLite)\n`)
for (const [i, user] of users.entries()) {
  const token = new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.DEMOCLIENT0000000000000000000',
    clientSecret: `demo-client-secret-${i}`,
    grantToken: `1000.grant.${i}.${now}`,
    refreshToken: `1000.refresh.${i}.${now}`,
    accessToken: `1000.access.${i}.${now}`,
    redirectUrl: 'http://127.0.0.1:3000/oauth/callback',
    apiDomain: 'https://www.zohoapis.com',
    expiryTime: now + 3_600_000,
  })
  await store.saveToken(token)
  console.log(`saved   ${user.padEnd(22)} as id ${token.id}`)
}

const ada = users[0]!
const saved = await store.findToken(new OAuthToken({ userSignature: new UserSignature(ada) }))
if (!saved) throw new Error('the token just saved was not found')
const lookups: [string, OAuthToken | null][] = [
  ['user name', saved],
  ['id', await store.findTokenById(saved.id!)],
  ['access token', await store.findToken(new OAuthToken({ accessToken: saved.accessToken }))],
  [
    'grant token',
    await store.findToken(
      new OAuthToken({
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        grantToken: saved.grantToken,
      }),
    ),
  ],
  [
    'refresh token',
    await store.findToken(
      new OAuthToken({
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        refreshToken: saved.refreshToken,
      }),
    ),
  ],
]
console.log(`\nfinding ${ada} by each lookup key:`)
for (const [key, found] of lookups) {
  console.log(`  by ${key.padEnd(14)} -> ${found ? `found id ${found.id}` : 'NOT FOUND'}`)
}

console.log('\nevery stored token, as JSON.stringify shows it (secrets masked):')
for (const token of await store.getTokens()) console.log(' ', JSON.stringify(token))

const rows = (await store.getTokens()).map((token) => ({
  id: token.id,
  user: token.userSignature?.name,
  'client id': `${token.clientId?.slice(0, 9)}…`,
  'expires in': token.expiryTime
    ? `${Math.round((token.expiryTime - Date.now()) / 60_000)} min`
    : '-',
}))
console.table(rows)
await store.close?.()
