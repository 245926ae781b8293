import { FileStore, OAuthToken, UserSignature } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'

// The official SDKs' token file, or the SQLite database of Zoho's Kaizen #192 article: same interface.
for (const store of [
  new FileStore('./sdk_tokens.txt'),
  new SQLiteStore({ path: 'zohooauth.db' }),
]) {
  const token = new OAuthToken({
    userSignature: new UserSignature('ada@zylker.example'),
    clientId: '1000.CLIENTID',
    clientSecret: 'client-secret',
    refreshToken: '1000.refresh-token',
    accessToken: '1000.access-token',
    expiryTime: Date.now() + 3_600_000,
  })
  await store.saveToken(token) // inserts, or updates ada's row: one row per user
  const found = await store.findToken(
    new OAuthToken({ userSignature: new UserSignature('ada@zylker.example') }),
  )
  console.log(store.constructor.name, token.id, JSON.stringify(found)) // secrets print as [redacted]
  await store.close?.()
}
