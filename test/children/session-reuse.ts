// A second process initializing with the same details: prints the id it found, the status of a
// request to the sample API, without logging in again.
import { Environment, FileStore, Initializer, OAuthToken, UserSignature } from '../../src/index.ts'

const [url, path, clientId, clientSecret, grantToken, user] = process.argv.slice(2)
const session = await Initializer.initialize({
  environment: new Environment({ name: 'emulator', apiDomain: url!, accountsUrl: url! }),
  store: new FileStore(path),
  token: new OAuthToken({
    clientId,
    clientSecret,
    grantToken,
    userSignature: new UserSignature(user!),
  }),
})
const response = await session.fetch('/crm/v8/Leads')
process.stdout.write(JSON.stringify({ id: session.id, leads: response.status }))
