// Saves `count` different users into a store, `parallel` at a time, once all `processes`
// are ready; prints the ids it got and
// when it started and finished.
import { appendFileSync, readFileSync } from 'node:fs'
import { FileStore, OAuthToken, UserSignature, type TokenStore } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'

const [kind, path, prefix, countText, processes, parallelText = '5'] = process.argv.slice(2)
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
// A barrier: each process says it is ready, and all start saving once all are ready.
const ready = `${path}.ready`
appendFileSync(ready, `${prefix}\n`)
while (readFileSync(ready, 'utf8').trim().split('\n').length < Number(processes)) {
  await new Promise((go) => setTimeout(go, 2))
}
const started = Date.now()
await Promise.all(Array.from({ length: parallel }, worker))
const finished = Date.now()
await store.close?.()
process.stdout.write(JSON.stringify({ ids, started, finished }))
