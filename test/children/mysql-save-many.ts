// Saves `count` new users into a DBStore table once all `processes` are ready; prints the ids.
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { DBStore } from '../../src/stores/mysql.ts'

const [url, table, prefix, countText, processes] = process.argv.slice(2)
const store = new DBStore({ url: url!, table: table! })
await store.getTokens()
// A barrier in the database itself: every process registers, then waits for the others.
const barrier = new DBStore({ url: url!, table: `${table!}_ready` })
await barrier.saveToken(
  new OAuthToken({ userSignature: new UserSignature(prefix!), accessToken: 'ready' }),
)
while ((await barrier.getTokens()).length < Number(processes))
  await new Promise((go) => setTimeout(go, 5))
await barrier.close()
const ids: string[] = []
const started = Date.now()
let next = 0
const count = Number(countText)
await Promise.all(
  Array.from({ length: 5 }, async () => {
    while (next < count) {
      const i = next++
      const token = new OAuthToken({
        userSignature: new UserSignature(`${prefix!}-${i}@zylker.example`),
        clientId: '1000.C',
        clientSecret: 's',
        refreshToken: `1000.r.${prefix!}.${i}`,
        accessToken: `1000.a.${prefix!}.${i}`,
      })
      await store.saveToken(token)
      ids.push(token.id!)
    }
  }),
)
const finished = Date.now()
await store.close()
process.stdout.write(JSON.stringify({ ids, started, finished }))
