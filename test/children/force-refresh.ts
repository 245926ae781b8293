// One of the processes of the budget storm: forces `times` refreshes of each given token, started
// together with the other processes (a barrier file), and prints what each caller got: an access
// token, or an error's code and retryAfterMs.
import { appendFileSync, readFileSync } from 'node:fs'
import { Environment, Initializer, OAuthToken, createStore } from '../../src/index.ts'

const [storeUrl, emulatorUrl, ids, times, processes, barrier] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
]
const store = await createStore(storeUrl)
const environment = new Environment({
  name: 'emulator',
  apiDomain: emulatorUrl,
  accountsUrl: emulatorUrl,
})
const sessions = await Promise.all(
  ids
    .split(',')
    .map((id) => Initializer.initialize({ environment, store, token: new OAuthToken({ id }) })),
)
appendFileSync(barrier, 'ready\n')
while (readFileSync(barrier, 'utf8').trim().split('\n').length < Number(processes)) {
  await new Promise((go) => setTimeout(go, 2))
}
// Each token's refreshes one after another (each replaces the token the last one gave), the
// tokens side by side.
const results = (
  await Promise.all(
    sessions.map(async (session) => {
      const settled: PromiseSettledResult<OAuthToken>[] = []
      for (let i = 0; i < Number(times); i += 1) {
        settled.push(
          await session.refresh({ force: true }).then(
            (value) => ({ status: 'fulfilled', value }) as const,
            (reason: unknown) => ({ status: 'rejected', reason }) as const,
          ),
        )
      }
      return settled
    }),
  )
).flat()
await store.close?.()
process.stdout.write(
  JSON.stringify(
    results.map((r) =>
      r.status === 'fulfilled'
        ? { accessToken: r.value.accessToken }
        : {
            code: (r.reason as { code?: string }).code,
            retryAfterMs: (r.reason as { retryAfterMs?: number }).retryAfterMs,
          },
    ),
  ),
)
