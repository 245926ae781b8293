// The demo portal, runnable: `npx tsx examples/portal/main.ts`, then open http://127.0.0.1:3000.
// Without configuration it signs in against the accounts emulator it starts beside it; with
// ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REDIRECT_URL and ZOHO_DC (e.g. US) set, against Zoho.
import { startPortal } from './app.ts'

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, got ${process.env.PORT}`)
  process.exit(2)
}

const portal = await startPortal({ port }).catch((err: unknown) => {
  if ((err as { code?: unknown }).code === 'EADDRINUSE') {
    // Most often a portal started before is still running.
    console.error(
      `portal: port ${port} is taken (is another portal still running?); stop it, or start ` +
        `this one on another port: PORT=${port === 3000 ? 3001 : 3000} npm start`,
    )
  } else {
    console.error(`portal: cannot start: ${err instanceof Error ? err.message : String(err)}`)
  }
  process.exit(1)
})
console.log(`tokenkeeper portal on ${portal.url} (tokens in portal.db)`)
console.log(
  portal.accounts
    ? `accounts emulator on ${portal.environment.accountsUrl}: sign in as ada@zylker.example or grace@zylker.example, or lise@zylker.example of its EU data center`
    : `signing in with Zoho ${portal.environment.name} (${portal.environment.accountsUrl})`,
)

let stopping = false
const shutdown = (signal: string): void => {
  if (stopping) return
  stopping = true
  console.log(`${signal}: shutting down`)
  portal.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error('shutdown failed:', err)
      process.exit(1)
    },
  )
}
process.once('SIGINT', () => shutdown('SIGINT'))
process.once('SIGTERM', () => shutdown('SIGTERM'))
