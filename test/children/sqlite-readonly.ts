// Opens a read-only database with SQLiteStore, reads, tries to write, prints what happened.
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'

const store = new SQLiteStore({ path: process.argv[2]! })
const found = await store.findToken(
  new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
)
let saveError: unknown
try {
  await store.saveToken(
    new OAuthToken({ userSignature: new UserSignature('bob@example.com'), accessToken: 'b' }),
  )
} catch (err) {
  const e = err as { code: string; message: string }
  saveError = { code: e.code, message: e.message }
}
process.stdout.write(JSON.stringify({ found: found?.accessToken, saveError }))
