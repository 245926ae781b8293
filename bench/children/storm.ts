// One of 8 processes of the refresh storm (bench/official.ts): it starts up with the shared token
// file while the token is still valid, then at `goAt` its callers all ask for the access token,
// which by then is within 5 seconds of its expiry (the official SDK's refresh margin; our
// sessions are given the same margin). Prints the tokens its callers got and their errors.
//
// argv: side ('official' | 'tokenkeeper'), token file, emulator URL, user name, callers, goAt
// (epoch ms).
import { Environment, FileStore, Initializer, OAuthToken, UserSignature } from '../../src/index.ts'
import { initializeOfficial, officialSdk, officialTokenFor } from '../official-sdk.ts'

const [side, path, emulatorUrl, user, callers, goAt] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
]
const environment = new Environment({
  name: 'emulator',
  apiDomain: emulatorUrl,
  accountsUrl: emulatorUrl,
})
const count = Number(callers)
let ask: () => Promise<string>
if (side === 'official') {
  await initializeOfficial(
    emulatorUrl,
    environment.tokenUrl,
    officialTokenFor(user),
    new officialSdk.FileStore(path),
  )
  // Each caller with its own token object, as the concurrent requests of a web app make them.
  ask = () => officialTokenFor(user).getToken()
} else {
  const store = new FileStore(path)
  const sessions = await Promise.all(
    Array.from({ length: count }, () =>
      Initializer.initialize({
        environment,
        store,
        token: new OAuthToken({ userSignature: new UserSignature(user) }),
        config: { refreshSkewMs: 5000 },
      }),
    ),
  )
  let next = 0
  ask = () => sessions[next++ % count]!.getAccessToken()
}
const ready = Date.now()
await new Promise((go) => setTimeout(go, Math.max(0, Number(goAt) - Date.now())))
const results = await Promise.allSettled(Array.from({ length: count }, () => ask()))
process.stdout.write(
  JSON.stringify({
    late: ready > Number(goAt),
    tokens: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    errors: results.flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    ),
  }),
)
process.exit(0)
