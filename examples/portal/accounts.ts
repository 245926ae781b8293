// The portal's own accounts emulator, on the same port and with the same client after a restart:
// the rows in portal.db name that client and that server, so a new port or client would leave
// them pointing at a server that is gone (NETWORK_ERROR) or a client it does not know
// (invalid_client).
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startAccountsEmulator, type AccountsEmulator } from 'tokenkeeper/testing'

/** The file, next to portal.db, holding the emulator's port and client (a secret: mode 0600). */
export const EMULATOR_FILE = '.tokenkeeper-portal-emulator.json'

interface Kept {
  port: number
  clientId: string
  clientSecret: string
}

function read(path: string): Kept | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const kept = JSON.parse(text) as Partial<Kept>
  const valid =
    Number.isInteger(kept.port) &&
    kept.port! > 0 &&
    kept.port! < 65536 &&
    typeof kept.clientId === 'string' &&
    typeof kept.clientSecret === 'string'
  if (!valid) throw new Error(`${path} does not hold the emulator's port and client; delete it`)
  return kept as Kept
}

/**
 * Starts the emulator with the port and client kept in `cwd`, or a free port and a new client
 * the first time (then kept). When the kept port is taken, a new one is chosen and kept: the
 * signed-in users then sign in again, which the portal says.
 */
export async function startKeptEmulator(
  cwd: string,
  redirectUrl: string,
): Promise<AccountsEmulator> {
  const path = join(cwd, EMULATOR_FILE)
  const kept = read(path)
  const client = {
    clientId: kept?.clientId ?? '1000.PORTALDEMO' + randomBytes(11).toString('hex').toUpperCase(),
    clientSecret: kept?.clientSecret ?? randomBytes(20).toString('hex'),
    redirectUris: [redirectUrl],
  }
  const start = (port: number): Promise<AccountsEmulator> =>
    startAccountsEmulator({
      port,
      clients: [client],
      users: [
        { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
        { email: 'grace@zylker.example', fullName: 'Grace Hopper' },
      ],
    })
  let accounts: AccountsEmulator
  try {
    accounts = await start(kept?.port ?? 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    console.warn(
      `portal: the accounts emulator's port ${kept?.port} is taken; using a new one (sign in again)`,
    )
    accounts = await start(0)
  }
  const port = Number(new URL(accounts.url).port)
  if (port !== kept?.port || kept.clientId !== client.clientId) {
    const value: Kept = { port, clientId: client.clientId, clientSecret: client.clientSecret }
    writeFileSync(path, JSON.stringify(value) + '\n', { mode: 0o600 })
    chmodSync(path, 0o600)
  }
  return accounts
}
