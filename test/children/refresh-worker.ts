// One of several processes sharing a store: `callers` concurrent getAccessToken calls on one
// token, started together with the other processes. Prints the tokens it got and any errors.
import { appendFileSync, readFileSync } from 'node:fs'
import { Environment, Initializer, OAuthToken, createStore } from '../../src/index.ts'

const [storeUrl, emulatorUrl, tokenId, callers, processes, barrier] = process.argv.slice(2)
const store = await createStore(storeUrl!)
appendFileSync(barrier!, 'ready\n')
while (readFileSync(barrier!, 'utf8').trim().split('\n').length < Number(processes)) {
  await new Promise((go) => setTimeout(go, 2))
}
const environment = new Environment({
  name: 'emulator',
  apiDomain: emulatorUrl!,
  accountsUrl: emulatorUrl!,
})
const results = await Promise.allSettled(
  Array.from({ length: Number(callers) }, async () => {
    const session = await Initializer.initialize({
      environment,
      store,
      token: new OAuthToken({ id: tokenId! }),
    })
    return session.getAccessToken()
  }),
)
await store.close?.()
process.stdout.write(
  JSON.stringify({
    tokens: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    errors: results.flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    ),
  }),
)
