/**
 * Runs the accounts emulator on its own, until Ctrl-C:
 *
 *   npx tsx src/testing/emulator-main.ts --port 4000 --auto-approve
 *
 * It prints the URL and the client's id and secret (test values, made for this emulator).
 */
import { parseArgs } from 'node:util'
import { startAccountsEmulator, type AccountsEmulatorOptions } from './emulator.js'

const USAGE = `Usage: tsx src/testing/emulator-main.ts [options]

  --host <host>             interface to listen on (default 127.0.0.1)
  --port <port>             port (default 0: a free port)
  --auto-approve            approve the consent page at once for the first user
  --latency-ms <ms>         delay added before every response (default 0)
  --rotate-refresh-tokens   return a new refresh token on every refresh
  --no-limit                lift the limit of 10 access tokens per refresh token per 10 minutes
  --error-style <style>     zoho (HTTP 200 {"error"}) or oauth2 (HTTP 400/401) (default zoho)
  --client-id <id>          the client id (default 1000.EMULATORCLIENT0000000000000000)
  --client-secret <secret>  the client secret (default emulator-client-secret)
  --redirect-uri <uri>      a registered redirect URI (repeatable; default: any)
  -h, --help                show this help
`

/** Reads a non-negative integer option, or fails with a message. */
function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer`)
  return Number(value)
}

function readOptions(args: string[]): AccountsEmulatorOptions | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'auto-approve': { type: 'boolean' },
      'latency-ms': { type: 'string' },
      'rotate-refresh-tokens': { type: 'boolean' },
      'no-limit': { type: 'boolean' },
      'error-style': { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  const errorStyle = values['error-style']
  if (errorStyle !== undefined && errorStyle !== 'zoho' && errorStyle !== 'oauth2') {
    throw new Error('--error-style must be zoho or oauth2')
  }
  const options: AccountsEmulatorOptions = {
    autoApprove: values['auto-approve'] === true,
    rotateRefreshTokens: values['rotate-refresh-tokens'] === true,
  }
  if (values.host !== undefined) options.host = values.host
  const port = integer(values.port, 'port')
  if (port !== undefined) options.port = port
  const latencyMs = integer(values['latency-ms'], 'latency-ms')
  if (latencyMs !== undefined) options.latencyMs = latencyMs
  if (values['no-limit'] === true) options.accessTokenLimit = false
  if (errorStyle !== undefined) options.errorStyle = errorStyle
  const clientId = values['client-id']
  const clientSecret = values['client-secret']
  const redirectUris = values['redirect-uri']
  if (clientId !== undefined || clientSecret !== undefined || redirectUris !== undefined) {
    options.clients = [
      {
        clientId: clientId ?? '1000.EMULATORCLIENT0000000000000000',
        clientSecret: clientSecret ?? 'emulator-client-secret',
        ...(redirectUris === undefined ? {} : { redirectUris }),
      },
    ]
  }
  return options
}

async function main(): Promise<void> {
  let options: AccountsEmulatorOptions | 'help'
  try {
    options = readOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`)
    process.exitCode = 2
    return
  }
  if (options === 'help') {
    process.stdout.write(USAGE)
    return
  }

  const emulator = await startAccountsEmulator(options)
  const client = emulator.clients[0]
  process.stdout.write(
    [
      `Accounts emulator listening on ${emulator.url}`,
      `  client id:     ${client?.clientId ?? ''}`,
      `  client secret: ${client?.clientSecret ?? ''}`,
      `  consent page:  ${emulator.environment.authorizeUrl}`,
      `  token URL:     ${emulator.environment.tokenUrl}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  )

  const stop = (): void => {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    emulator.close().then(
      () => process.stdout.write('Accounts emulator stopped.\n'),
      (err: unknown) => {
        process.stderr.write(`Could not stop cleanly: ${String(err)}\n`)
        process.exitCode = 1
      },
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

await main()
