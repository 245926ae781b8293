import { Initializer, OAuthToken } from 'tokenkeeper'
import { SQLiteStore } from 'tokenkeeper/stores/sqlite'
import { startAccountsEmulator } from 'tokenkeeper/testing'

// A local stand-in for Zoho Accounts and the CRM API; with real Zoho, use DataCenter.US.PRODUCTION
// and the grant code from the consent page or the API console.
const accounts = await startAccountsEmulator()
const { clientId, clientSecret } = accounts.clients[0]!

const session = await Initializer.initialize({
  environment: accounts.environment,
  token: new OAuthToken({ clientId, clientSecret, grantToken: accounts.issueGrantCode() }),
  store: new SQLiteStore({ path: 'session-example.db' }),
  config: { findUser: true }, // name the row after the user, as the official SDKs do
})
console.log(`signed in as ${session.userName}, token id ${session.id}`)

const response = await session.fetch('/crm/v8/Leads') // refreshed first if it is about to expire
const { data } = (await response.json()) as { data: { Last_Name: string; Company: string }[] }
for (const lead of data) console.log(`lead: ${lead.Last_Name} (${lead.Company})`)

await accounts.close()
