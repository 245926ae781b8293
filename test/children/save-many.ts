// Saves `count` different users into a store, `parallel` at a time, from the moment `startAt`
// (epoch ms); prints the ids it got and
// when it started and finished.
import { FileStore, OAuthToken, UserSignature, type TokenStore } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'

const [kind, path, prefix, countText, startAt, parallelText = '5'] = process.argv.slice(2)
const store: TokenStore = kind === 'file' ? new FileStore(path) : new SQLiteStore({ path: path! })
const count = Number(countText)
const parallel = Number(parallelText)
const ids: string[] = []
let next = 0
async function worker(): Promise<void> {
  while (next < count) {
    const i = next++
    const token = new OAuthToken({
      userSignature: new UserSignature(`${prefix}-${i}@example.com`),
      clientId: '1000.CLIENT',
      clientSecret: 'secret',
      refreshToken: `1000.refresh.${prefix}.${i}`,
      accessToken: `1000.access.${prefix}.${i}`,
      expiryTime: 1_900_000_000_000 + i,
    })
    await store.saveToken(token)
    ids.push(token.id!)
  }
}
// Every process starts saving at the same moment, whatever its start-up took.
await new Promise((go) => setTimeout(go, Math.max(0, Number(startAt) - Date.now())))
const started = Date.now()
await Promise.all(Array.from({ length: parallel }, worker))
const finished = Date.now()
await store.close?.()
process.stdout.write(JSON.stringify({ ids, started, finished }))
