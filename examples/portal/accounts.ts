// The portal's own accounts emulator, on the same ports and with the same client after a restart:
// the rows in portal.db name that client and that server, so a new port or client would leave
// them pointing at a server that is gone (NETWORK_ERROR) or a client it does not know
// (invalid_client). It serves a second data center (EU) too, on a port of its own, so that the
// demo shows Zoho's multi-data-center sign-in.
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startAccountsEmulator, type AccountsEmulator } from 'tokenkeeper/testing'

/** The file, next to portal.db, holding the emulator's port and client (a secret: mode 0600). */
export const EMULATOR_FILE = '.tokenkeeper-portal-emulator.json'

/** The emulator's second data center, and its user, offered on the consent page. */
export const OTHER_DATA_CENTER = 'eu'
export const OTHER_DATA_CENTER_USER = {
  email: 'lise@zylker.example',
  fullName: 'Lise Meitner',
  dataCenter: OTHER_DATA_CENTER,
}

interface Kept {
  port: number
  /** The EU data center's port; absent in files written before it existed. */
  euPort?: number
  clientId: string
  clientSecret: string
}

const isPort = (value: unknown): boolean =>
  Number.isInteger(value) && (value as number) > 0 && (value as number) < 65536

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
    isPort(kept.port) &&
    (kept.euPort === undefined || isPort(kept.euPort)) &&
    typeof kept.clientId === 'string' &&
    typeof kept.clientSecret === 'string'
  if (!valid) throw new Error(`${path} does not hold the emulator's port and client; delete it`)
  return kept as Kept
}

/**
 * Starts the emulator with the ports and client kept in `cwd`, or free ports and a new client
 * the first time (then kept). When a kept port is taken, a new one is chosen and kept: the
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
  const start = (port: number, euPort: number): Promise<AccountsEmulator> =>
    startAccountsEmulator({
      port,
      clients: [client],
      users: [
        { email: 'ada@zylker.example', fullName: 'Ada Lovelace' },
        { email: 'grace@zylker.example', fullName: 'Grace Hopper' },
        OTHER_DATA_CENTER_USER,
      ],
      dataCenters: [{ location: OTHER_DATA_CENTER, port: euPort }],
    })
  let ports = { main: kept?.port ?? 0, eu: kept?.euPort ?? 0 }
  let accounts: AccountsEmulator | undefined
  // At most one retry per kept port: the one taken (Node names it) is replaced by a free one.
  for (let attempt = 0; accounts === undefined; attempt += 1) {
    try {
      accounts = await start(ports.main, ports.eu)
    } catch (err) {
      const { code, port } = err as NodeJS.ErrnoException & { port?: number }
      if (code !== 'EADDRINUSE' || attempt >= 2) throw err
      const which = port === ports.eu ? 'eu' : 'main'
      console.warn(
        `portal: the accounts emulator's port ${port} is taken; using a new one (sign in again)`,
      )
      ports = { ...ports, [which]: 0 }
    }
  }
  const port = Number(new URL(accounts.url).port)
  const euPort = Number(new URL(accounts.dataCenter(OTHER_DATA_CENTER).url).port)
  if (port !== kept?.port || euPort !== kept.euPort || kept.clientId !== client.clientId) {
    const value: Kept = {
      port,
      euPort,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
    }
    writeFileSync(path, JSON.stringify(value) + '\n', { mode: 0o600 })
    chmodSync(path, 0o600)
  }
  return accounts
}
