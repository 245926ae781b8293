// Saves the same `users` users `rounds` times each into a RedisStore, every user at once in
// each round, once all `processes` are ready (a barrier counted in Redis); prints the id each
// user got in every round, and when it started and finished.
import { Redis } from 'ioredis'
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { RedisStore } from '../../src/stores/redis.ts'

const [url, prefix, barrier, name, processes, usersText, roundsText] = process.argv.slice(2)
const store = new RedisStore({ url: url!, prefix: prefix! })
const users = Number(usersText)
const rounds = Number(roundsText)

const control = new Redis(url!)
await control.incr(barrier!)
while (Number(await control.get(barrier!)) < Number(processes)) {
  await new Promise((go) => setTimeout(go, 2))
}
control.disconnect()

const ids: Record<string, string[]> = {}
const started = Date.now()
for (let round = 0; round < rounds; round += 1) {
  await Promise.all(
    Array.from({ length: users }, async (_, i) => {
      const user = `shared-${i}@example.com`
      const token = new OAuthToken({
        userSignature: new UserSignature(user),
        clientId: '1000.CLIENT',
        clientSecret: 'secret',
        refreshToken: `1000.refresh.${name}.${round}.${i}`,
        accessToken: `1000.access.${name}.${round}.${i}`,
        expiryTime: 1_900_000_000_000 + round,
      })
      await store.saveToken(token)
      ;(ids[user] ??= []).push(token.id!)
    }),
  )
}
const finished = Date.now()
await store.close()
process.stdout.write(JSON.stringify({ ids, started, finished }))
