import { execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileStore, Initializer, OAuthToken, UserSignature } from '../../src/index.ts'
import { DBStore } from '../../src/stores/mysql.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { describeWithService, SERVICES } from '../helpers/services.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')
const dir = scratchDir('tokenkeeper-cli-')

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI as a child process, from the project root, with a clean environment. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env }
  for (const name of ['TOKENKEEPER_STORE', 'TOKENKEEPER_KEYS', 'TOKENKEEPER_ACTIVE_KEY']) {
    delete base[name]
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, env: { ...base, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Every secret a seeded token holds starts with this. */
const SECRET = 'SeCrEt'
const HOUR = 3_600_000

/** A FileStore with one token of each state. */
async function seededFile(): Promise<{ path: string; url: string; ids: Record<string, string> }> {
  const path = scratchPath(dir, 'tokens.txt')
  const store = new FileStore(path)
  const make = (name: string, init: Partial<ConstructorParameters<typeof OAuthToken>[0]>) =>
    new OAuthToken({
      userSignature: new UserSignature(`${name}@zylker.example`),
      clientId: '1000.ABCDEFGHIJKLMNXY',
      clientSecret: `${SECRET}-client-${name}`,
      ...init,
    })
  const tokens = {
    valid: make('valid', {
      refreshToken: `${SECRET}-refresh-valid`,
      accessToken: `${SECRET}-access-valid`,
      expiryTime: Date.now() + 42 * 60_000 + 30_000,
    }),
    expired: make('expired', {
      refreshToken: `${SECRET}-refresh-expired`,
      accessToken: `${SECRET}-access-expired`,
      expiryTime: Date.now() - 3 * HOUR - 60_000,
    }),
    noaccess: make('noaccess', { refreshToken: `${SECRET}-refresh-noaccess` }),
    grant: make('grant', { grantToken: `${SECRET}-grant` }),
  }
  await Promise.all(Object.values(tokens).map((token) => store.saveToken(token)))
  await store.close()
  const ids = Object.fromEntries(Object.entries(tokens).map(([name, t]) => [name, t.id!]))
  return { path, url: `file:${path}`, ids }
}

function expectNoSecret(run: Run): void {
  expect(run.stdout).not.toContain(SECRET)
  expect(run.stderr).not.toContain(SECRET)
}

/** An error in one line, without a stack. */
function expectOneLineError(run: Run): void {
  const lines = run.stderr.trimEnd().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^tokenkeeper: /)
  expect(run.stderr).not.toMatch(/\n\s+at /)
}

const COMMANDS = [
  'list',
  'show',
  'delete',
  'purge',
  'refresh',
  'revoke',
  'migrate',
  'rekey',
  'doctor',
  'emulator',
]

describe.concurrent('tokenkeeper CLI: help and usage', () => {
  it('documents the commands and exit codes in the main --help', async () => {
    const run = await cli(['--help'])
    expect(run.code).toBe(0)
    for (const command of COMMANDS) expect(run.stdout).toContain(command)
    expect(run.stdout).toMatch(/Exit codes:/)
    expect(run.stdout).toMatch(/2\s+usage error/)
    expect(run.stdout).toMatch(/3\s+not found/)
  })

  for (const command of COMMANDS) {
    it(`${command} --help shows an example`, async () => {
      const run = await cli([command, '--help'])
      expect(run.code).toBe(0)
      expect(run.stdout).toMatch(/Examples?:\n\s+\$ tokenkeeper /)
    })
  }

  it('bad usage exits 2 with one line on stderr', async () => {
    const runs = await Promise.all([
      cli(['list', '--bogus', '--store', 'memory:']),
      cli(['show', '--store', 'memory:']),
      cli(['frobnicate']),
      cli(['list']), // no store
      cli(['list', '--store', 'nonsense']),
      cli(['purge', '--store', 'memory:']),
      cli(['purge', '--idle', '3 fortnights', '--store', 'memory:']),
      // Two accounts servers (a token's own is found without either, since the keeper issue).
      cli([
        'refresh',
        'abcdefghij',
        '--dc',
        'US',
        '--accounts-url',
        'http://127.0.0.1:1',
        '--store',
        'memory:',
      ]),
      cli(['refresh', 'abcdefghij', '--dc', 'XX', '--store', 'memory:']),
      cli(['list', '--store', 'memory:', '--key', 'k1=notbase64-and-short']),
      cli(['rekey', '--store', 'memory:']),
    ])
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(2)
      expectOneLineError(run)
    }
    expect(runs[9].stderr).not.toContain('notbase64')
  })

  it('errors are one line without a stack, with the stack under --verbose', async () => {
    // A writing command (a read-only one stops earlier: no store there, exit 3).
    const store = `sqlite:${join(dir, 'no', 'such', 'dir', 'x.db')}`
    const plain = await cli(['purge', '--expired', '--store', store])
    expect(plain.code).toBe(1)
    expectOneLineError(plain)
    const verbose = await cli(['purge', '--expired', '--store', store, '--verbose'])
    expect(verbose.code).toBe(1)
    expect(verbose.stderr).toMatch(/^tokenkeeper: /)
    expect(verbose.stderr).toMatch(/\n\s+at /)
  })
})

describe.concurrent('tokenkeeper CLI: list, show, delete, purge', () => {
  it('list prints a table with masked client ids, countdowns and states', async () => {
    const { url, ids } = await seededFile()
    const run = await cli(['list', '--store', url])
    expect(run.code).toBe(0)
    expectNoSecret(run)
    expect(run.stdout).toMatch(/^ID\s+USER\s+CLIENT ID\s+EXPIRES\s+STATE/)
    for (const id of Object.values(ids)) expect(run.stdout).toContain(id)
    expect(run.stdout).toContain('1000.AB…XY')
    expect(run.stdout).not.toContain('ABCDEFGHIJKLMNXY')
    expect(run.stdout).toMatch(new RegExp(`${ids.valid}.*in 42m\\s+valid`))
    expect(run.stdout).toMatch(new RegExp(`${ids.expired}.*expired 3h ago\\s+expired`))
    expect(run.stdout).toMatch(new RegExp(`${ids.noaccess}.*no access token`))
    expect(run.stdout).toMatch(new RegExp(`${ids.grant}.*grant only`))
  })

  it('list --json redacts secrets; TOKENKEEPER_STORE chooses the store', async () => {
    const { url, ids } = await seededFile()
    const run = await cli(['list', '--json'], { TOKENKEEPER_STORE: url })
    expect(run.code).toBe(0)
    expectNoSecret(run)
    const rows = JSON.parse(run.stdout) as Record<string, unknown>[]
    expect(rows.map((row) => row.id).sort()).toEqual(Object.values(ids).sort())
    const valid = rows.find((row) => row.id === ids.valid)!
    expect(valid).toMatchObject({
      userName: 'valid@zylker.example',
      clientSecret: '[redacted]',
      accessToken: '[redacted]',
      refreshToken: '[redacted]',
      state: 'valid',
    })
  })

  it('show masks secrets unless --reveal, and exits 3 for an unknown id', async () => {
    const { url, ids } = await seededFile()
    const [masked, json, revealed, revealedJson, missing] = await Promise.all([
      cli(['show', ids.valid!, '--store', url]),
      cli(['show', ids.valid!, '--store', url, '--json']),
      cli(['show', ids.valid!, '--store', url, '--reveal']),
      cli(['show', ids.valid!, '--store', url, '--reveal', '--json']),
      cli(['show', 'NoSuchId00', '--store', url]),
    ])
    for (const run of [masked, json]) {
      expect(run.code).toBe(0)
      expectNoSecret(run)
      expect(run.stdout).toContain('valid@zylker.example')
    }
    expect(masked.stdout).toMatch(/access token:\s+\[redacted\]/)
    expect(revealed.code).toBe(0)
    expect(revealed.stdout).toContain(`${SECRET}-access-valid`)
    expect(revealed.stdout).toContain(`${SECRET}-refresh-valid`)
    expect(revealed.stdout).toContain(`${SECRET}-client-valid`)
    expect(JSON.parse(revealedJson.stdout)).toMatchObject({
      id: ids.valid,
      accessToken: `${SECRET}-access-valid`,
      userName: 'valid@zylker.example',
    })
    expect(missing.code).toBe(3)
    expectOneLineError(missing)
  })

  it('delete removes one row; an unknown id exits 3', async () => {
    const { path, url, ids } = await seededFile()
    const run = await cli(['delete', ids.expired!, '--store', url])
    expect(run.code).toBe(0)
    expect(run.stdout).toContain(ids.expired)
    const left = await new FileStore(path).getTokens()
    expect(left.map((t) => t.id).sort()).toEqual(
      [ids.valid, ids.noaccess, ids.grant].map(String).sort(),
    )
    const again = await cli(['delete', ids.expired!, '--store', url])
    expect(again.code).toBe(3)
    expectOneLineError(again)
  })

  it('purge --idle, --expired and --grant-only print how many were deleted', async () => {
    const path = scratchPath(dir, 'idle.txt')
    const store = new FileStore(path)
    const token = (name: string, expiryTime: number) =>
      new OAuthToken({
        userSignature: new UserSignature(name),
        clientId: '1000.X',
        clientSecret: `${SECRET}-c`,
        refreshToken: `${SECRET}-r-${name}`,
        accessToken: `${SECRET}-a-${name}`,
        expiryTime,
      })
    const day = 24 * HOUR
    const old = token('old', Date.now() - 40 * day)
    const recent = token('recent', Date.now() - 2 * day)
    const fresh = token('fresh', Date.now() + HOUR)
    const grant = new OAuthToken({
      userSignature: new UserSignature('grant'),
      clientId: '1000.X',
      clientSecret: `${SECRET}-c`,
      grantToken: `${SECRET}-g`,
    })
    await Promise.all([old, recent, fresh, grant].map((t) => store.saveToken(t)))
    const url = `file:${path}`

    const idle = await cli(['purge', '--idle', '30d', '--store', url])
    expect(idle.code).toBe(0)
    expect(idle.stdout).toMatch(/purged 1 token\b/)
    expectNoSecret(idle)
    const ids = async () => (await new FileStore(path).getTokens()).map((t) => t.id).sort()
    expect(await ids()).toEqual([recent.id, fresh.id, grant.id].map(String).sort())

    const grantOnly = await cli(['purge', '--grant-only', '--store', url])
    expect(grantOnly.stdout).toMatch(/purged 1 token\b/)
    const expired = await cli(['purge', '--expired', '--store', url])
    expect(expired.stdout).toMatch(/purged 1 token\b/)
    expect(await ids()).toEqual([fresh.id])
  })
})

describe('tokenkeeper CLI: refresh and revoke against the accounts emulator', () => {
  let emulator: AccountsEmulator
  const users = ['ada@zylker.example', 'grace@zylker.example', 'emmy@erlangen.example']

  beforeAll(async () => {
    emulator = await startAccountsEmulator({
      users: users.map((email) => ({ email })),
      accessTokenLimit: false,
    })
  })
  afterAll(async () => {
    await emulator.close()
  })

  /** A SQLite store with a signed-in token for each user, through Initializer. */
  async function signedIn(): Promise<{ url: string; path: string; ids: Record<string, string> }> {
    const path = scratchPath(dir, 'signed.db')
    const store = new SQLiteStore({ path })
    const { clientId, clientSecret } = emulator.clients[0]!
    const ids: Record<string, string> = {}
    for (const user of users) {
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({
          clientId,
          clientSecret,
          grantToken: emulator.issueGrantCode({ user }),
        }),
        config: { findUser: true },
      })
      ids[user] = session.id!
    }
    await store.close()
    return { url: `sqlite:${path}`, path, ids }
  }

  function expectNoTokenSecret(run: Run, ...values: (string | undefined)[]): void {
    for (const value of [...values, emulator.clients[0]!.clientSecret]) {
      if (!value) continue
      expect(run.stdout).not.toContain(value)
      expect(run.stderr).not.toContain(value)
    }
  }

  it('refresh <id> gets a new access token, saves it and keeps the api domain', async () => {
    const { url, path, ids } = await signedIn()
    const id = ids['ada@zylker.example']!
    const store = new SQLiteStore({ path })
    const before = (await store.findTokenById(id))!
    before.apiDomain = 'https://www.zohoapis.eu'
    await store.saveToken(before)
    const refreshes = emulator.counts.refresh

    const run = await cli(['refresh', id, '--store', url, '--accounts-url', emulator.url])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`refreshed ${id}: the access token expires in \\d+m`))
    expectNoTokenSecret(run, before.accessToken, before.refreshToken)
    expect(emulator.counts.refresh).toBe(refreshes + 1)
    const after = (await store.findTokenById(id))!
    expect(after.accessToken).not.toBe(before.accessToken)
    expect(emulator.isValid(after.accessToken!)).toBe(true)
    expect(after.apiDomain).toBe('https://www.zohoapis.eu')
    expect(after.userSignature?.name).toBe('ada@zylker.example')
    await store.close()

    const missing = await cli([
      'refresh',
      'NoSuchId00',
      '--store',
      url,
      '--accounts-url',
      emulator.url,
    ])
    expect(missing.code).toBe(3)
    expectOneLineError(missing)
  })

  it('revoke <id>, --user and --client revoke at the server, then delete', async () => {
    const { url, path, ids } = await signedIn()
    const store = new SQLiteStore({ path })
    const tokens = await store.getTokens()
    const refreshOf = (id: string) => tokens.find((t) => t.id === id)!.refreshToken!
    const secrets = tokens.flatMap((t) => [t.refreshToken, t.accessToken])

    const one = await cli([
      'revoke',
      ids['ada@zylker.example']!,
      '--store',
      url,
      '--accounts-url',
      emulator.url,
    ])
    expect(one.code, one.stderr).toBe(0)
    expect(one.stdout).toMatch(/revoked 1, failed 0/)
    expectNoTokenSecret(one, ...secrets)
    expect(emulator.isValid(refreshOf(ids['ada@zylker.example']!))).toBe(false)
    expect(await store.findTokenById(ids['ada@zylker.example']!)).toBeNull()

    const byUser = await cli([
      'revoke',
      '--user',
      'grace@zylker.example',
      '--store',
      url,
      '--accounts-url',
      emulator.url,
    ])
    expect(byUser.code, byUser.stderr).toBe(0)
    expect(byUser.stdout).toMatch(/revoked 1, failed 0/)
    expect(emulator.isValid(refreshOf(ids['grace@zylker.example']!))).toBe(false)

    const byClient = await cli([
      'revoke',
      '--client',
      emulator.clients[0]!.clientId,
      '--store',
      url,
      '--accounts-url',
      emulator.url,
    ])
    expect(byClient.code, byClient.stderr).toBe(0)
    expect(byClient.stdout).toMatch(/revoked 1, failed 0/)
    expectNoTokenSecret(byClient, ...secrets)
    expect(await store.getTokens()).toEqual([])
    await store.close()

    const missing = await cli(['revoke', 'NoSuchId00', '--store', url, '--dc', 'US'])
    expect(missing.code).toBe(3)
    const both = await cli(['revoke', 'x', '--user', 'y', '--store', url, '--dc', 'US'])
    expect(both.code).toBe(2)
  })

  it('doctor: ok on a fresh 0600 store, warn on a 0644 file, fail when the server is down', async () => {
    const { path, url } = await seededFile()
    chmodSync(path, 0o600)
    const ok = await cli(['doctor', '--store', url, '--accounts-url', emulator.url])
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/^ok\s+store: .*4 tokens/m)
    expect(ok.stdout).toMatch(/^ok\s+schema: /m)
    expect(ok.stdout).toMatch(/^ok\s+permissions: .*0600/m)
    expect(ok.stdout).toMatch(/^ok\s+clock: skew [+-]\d+s/m)
    expectNoSecret(ok)

    chmodSync(path, 0o644)
    const warn = await cli(['doctor', '--store', url])
    expect(warn.code).toBe(0)
    expect(warn.stdout).toMatch(/^warn\s+permissions: .*readable by group or others/m)
    expect(warn.stdout).toMatch(/^skip\s+clock: /m)

    const down = await cli(['doctor', '--store', url, '--accounts-url', 'http://127.0.0.1:1'])
    expect(down.code).toBe(1)
    expect(down.stdout).toMatch(/^fail\s+clock: /m)
  })

  it('doctor names the ids the official SDKs cannot number, and says what that breaks', async () => {
    const path = scratchPath(dir, 'ids.txt')
    const store = new FileStore(path)
    const row = (id: string, user: string) =>
      new OAuthToken({ id, userSignature: new UserSignature(user), refreshToken: `1000.r.${user}` })
    await store.saveToken(row('0wod457ssD', 'old@zylker.example'))
    await store.saveToken(row('0000000042', 'zeros@zylker.example'))
    const fresh = row('', 'new@zylker.example')
    fresh.id = undefined
    await store.saveToken(fresh)
    expect(fresh.id).toBe('43')
    await store.close()
    chmodSync(path, 0o600)
    const run = await cli(['doctor', '--store', `file:${path}`])
    expect(run.code, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toMatch(
      /^warn\s+ids: 1 row has an id that is not a number \(first: 0wod457ssD\)/m,
    )
    expect(run.stdout).toMatch(/int\(\) fails/)
    expect(run.stdout).toMatch(/1 row has a numeric id with a leading zero .*first: 0000000042/)

    const clean = scratchPath(dir, 'ids-clean.txt')
    const numbered = new FileStore(clean)
    await numbered.saveToken(fresh.clone())
    await numbered.close()
    const ok = await cli(['doctor', '--store', `file:${clean}`])
    expect(ok.stdout).toMatch(/^ok\s+ids: every id is a number/m)
  })

  it('doctor on SQLite checks the table', async () => {
    const { path, url } = await signedIn()
    chmodSync(path, 0o600)
    const run = await cli(['doctor', '--store', url])
    expect(run.code, run.stdout).toBe(0)
    expect(run.stdout).toMatch(/^ok\s+schema: table oauthtoken has \d+ columns/m)
  })
})

describe.concurrent('tokenkeeper CLI: rekey and emulator', () => {
  it('rekey moves an encrypted FileStore to the active key', async () => {
    const k1 = randomBytes(32).toString('base64')
    const k2 = randomBytes(32).toString('base64')
    const path = scratchPath(dir, 'encrypted.txt')
    const store = new FileStore({ path, encryption: { keys: { k1 }, activeKeyId: 'k1' } })
    const names = ['a', 'b', 'c']
    await Promise.all(
      names.map((name) =>
        store.saveToken(
          new OAuthToken({
            userSignature: new UserSignature(name),
            clientId: '1000.X',
            clientSecret: `${SECRET}-c-${name}`,
            refreshToken: `${SECRET}-r-${name}`,
          }),
        ),
      ),
    )
    await store.close()
    expect(readFileSync(path, 'utf8')).not.toContain(SECRET)
    const url = `file:${path}`

    const run = await cli([
      'rekey',
      '--store',
      url,
      '--key',
      `k1=${k1}`,
      '--key',
      `k2=${k2}`,
      '--active-key',
      'k2',
    ])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('rekeyed 3, already current 0')
    expect(run.stdout + run.stderr).not.toContain(k1)

    const again = await cli(['rekey', '--store', url], {
      TOKENKEEPER_KEYS: `k1=${k1},k2=${k2}`,
      TOKENKEEPER_ACTIVE_KEY: 'k2',
    })
    expect(again.stdout).toContain('rekeyed 0, already current 3')

    const onlyK2 = new FileStore({ path, encryption: { keys: { k2 }, activeKeyId: 'k2' } })
    const tokens = await onlyK2.getTokens()
    expect(tokens.map((t) => t.refreshToken).sort()).toEqual(names.map((n) => `${SECRET}-r-${n}`))

    // Without the keys the secrets are ciphertext; list still shows nothing secret.
    const list = await cli(['list', '--store', url, '--key', `k2=${k2}`])
    expect(list.code).toBe(0)
    expectNoSecret(list)
  })

  it('emulator runs until SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'emulator', '--port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const match = /listening on (http:\/\/\S+)/.exec(out)
        if (match) resolve(match[1]!)
      })
      child.once('exit', () => reject(new Error(`emulator exited: ${out}`)))
    })
    const response = await fetch(`${url}/oauth/v2/token`, { method: 'POST' })
    expect(response.status).toBeLessThan(500)
    await response.body?.cancel()
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(out).toContain('stopped')
  })
})

// ---------------------------------------------------------------------------------------------
// migrate
// ---------------------------------------------------------------------------------------------

const BIG = 10_000
let bigSource: Promise<string> | undefined

/** A FileStore of 10,000 tokens, made once (concurrent saves are written in one batch). */
function bigFile(): Promise<string> {
  bigSource ??= (async () => {
    const path = scratchPath(dir, 'big.txt')
    const store = new FileStore(path)
    await Promise.all(
      Array.from({ length: BIG }, (_, i) =>
        store.saveToken(
          new OAuthToken({
            userSignature: new UserSignature(`user${i}@zylker.example`),
            clientId: '1000.CLIENTID',
            clientSecret: `${SECRET}-c`,
            refreshToken: `${SECRET}-r-${i}`,
            accessToken: i % 2 ? `${SECRET}-a-${i}` : undefined,
            expiryTime: Date.now() + (i % 7) * HOUR,
            apiDomain: 'https://www.zohoapis.com',
          }),
        ),
      ),
    )
    await store.close()
    return path
  })()
  return bigSource
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

describe('tokenkeeper CLI: migrate', () => {
  it('copies 10,000 tokens from a FileStore to SQLite, verified and resumable', async () => {
    const source = await bigFile()
    const digest = sha(source)
    const target = scratchPath(dir, 'migrated.db')
    const args = ['migrate', '--from', `file:${source}`, '--to', `sqlite:${target}`]

    const first = await cli(args)
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toContain(`migrate: copied 1000/${BIG}`)
    expect(first.stderr).toContain(`migrate: copied ${BIG}/${BIG}`)
    // The passes that only read report every --progress-every tokens too (stderr only).
    expect(first.stderr).toContain(`migrate: ${BIG} tokens compared with the target`)
    expect(first.stderr).toContain(`migrate: ${BIG} tokens verified`)
    expect(first.stdout).not.toMatch(/compared with the target|tokens verified/)
    expect(first.stdout).toContain(`${BIG} copied, 0 skipped`)
    expect(first.stdout).toContain(
      `verify: source ${BIG} tokens, target ${BIG} tokens; 0 missing, 0 different - ok`,
    )
    expectNoSecret(first)
    expect(sha(source)).toBe(digest)

    const sqlite = new SQLiteStore({ path: target })
    const copied = await sqlite.getTokens()
    expect(copied).toHaveLength(BIG)
    const original = await new FileStore(source).getTokens()
    const byId = new Map(copied.map((t) => [t.id, t]))
    for (const token of original) expect(byId.get(token.id)?.fields()).toEqual(token.fields())
    await sqlite.close()

    const second = await cli([...args, '--progress-every', '100'])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toContain(`0 copied, ${BIG} skipped`)
    expect(second.stderr).not.toContain('copied')
    expect(sha(source)).toBe(digest)

    const quiet = await cli([...args, '--quiet'])
    expect(quiet.code).toBe(0)
    expect(quiet.stdout + quiet.stderr).toBe('')
  })

  it('resumes: only tokens missing or different in the target are copied', async () => {
    const { path, url } = await seededFile()
    const target = scratchPath(dir, 'partial.db')
    const sqlite = new SQLiteStore({ path: target })
    const tokens = await new FileStore(path).getTokens()
    await sqlite.saveToken(tokens[0]!)
    const changed = tokens[1]!.clone()
    changed.accessToken = 'other'
    await sqlite.saveToken(changed)
    await sqlite.close()
    const run = await cli(['migrate', '--to', `sqlite:${target}`], { TOKENKEEPER_STORE: url })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('3 copied, 1 skipped')
    expect(run.stdout).toContain('0 missing, 0 different - ok')
  })
})

describe('tokenkeeper CLI: long passes', () => {
  const ROWS = 25_000
  /**
   * A token file in the official format, written directly: ROWS rows, every 1000th expired
   * (each delete rewrites the file: a purge of many would measure the FileStore, not the pass).
   */
  function generatedFile(): string {
    const path = scratchPath(dir, 'long.txt')
    const now = Date.now()
    const lines = [
      'id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain',
    ]
    for (let i = 1; i <= ROWS; i += 1) {
      const expiry = i % 1000 === 0 ? now - 2 * HOUR : now + HOUR
      lines.push(
        `${i},user${i}@zylker.example,1000.CLIENTID,${SECRET}-c,${SECRET}-r-${i},${SECRET}-a-${i},,${expiry},,https://www.zohoapis.com`,
      )
    }
    writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 })
    return path
  }

  it('list --json to a pipe: one valid array, progress on stderr only, no secret', async () => {
    const path = generatedFile()
    const [json, text] = await Promise.all([
      cli(['list', '--json', '--store', `file:${path}`]),
      cli(['list', '--store', `file:${path}`]),
    ])
    expect(json.code, json.stderr).toBe(0)
    const rows = JSON.parse(json.stdout) as { id: string; accessToken: string }[]
    expect(rows).toHaveLength(ROWS)
    expect(rows[ROWS - 1]).toMatchObject({ id: String(ROWS), accessToken: '[redacted]' })
    for (const run of [json, text]) {
      expectNoSecret(run)
      expect(run.stderr).toBe('list: 10000 tokens listed\nlist: 20000 tokens listed\n')
    }
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines).toHaveLength(ROWS + 1)
    expect(lines[0]).toMatch(/^ID\s+USER\s+CLIENT ID\s+EXPIRES\s+STATE$/)
  })

  it('doctor and purge report their progress on stderr', async () => {
    const path = generatedFile()
    const doctor = await cli(['doctor', '--store', `file:${path}`])
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0)
    expect(doctor.stdout).toMatch(new RegExp(`^ok\\s+store: .* reachable, ${ROWS} tokens$`, 'm'))
    expect(doctor.stdout).toMatch(/^ok\s+ids: every id is a number/m)
    expect(doctor.stderr).toBe('doctor: 10000 tokens read\ndoctor: 20000 tokens read\n')
    const purge = await cli(['purge', '--expired', '--store', `file:${path}`])
    expect(purge.code, purge.stderr).toBe(0)
    expect(purge.stdout).toMatch(new RegExp(`^purged ${ROWS / 1000} tokens$`, 'm'))
    expect(purge.stderr).toBe('purge: 10000 tokens examined\npurge: 20000 tokens examined\n')
    expectNoSecret(purge)
    expect(await new FileStore(path).getTokens()).toHaveLength(ROWS - ROWS / 1000)
  })
})

describe('tokenkeeper CLI: migrate refuses id collisions', () => {
  /** A SQLite target holding one token, and its rows as they are before the migration. */
  async function targetWith(
    token: OAuthToken,
  ): Promise<{ url: string; rows: () => Promise<unknown> }> {
    const path = scratchPath(dir, 'collide.db')
    const sqlite = new SQLiteStore({ path })
    await sqlite.saveToken(token)
    await sqlite.close()
    const rows = async () => {
      const store = new SQLiteStore({ path })
      const all = (await store.getTokens()).map((t) => t.fields())
      await store.close()
      return all
    }
    return { url: `sqlite:${path}`, rows }
  }

  it('an id that holds another user in the target: exit 1, the id named, nothing written', async () => {
    const { url, ids } = await seededFile()
    const target = await targetWith(
      new OAuthToken({
        id: ids.valid,
        userSignature: new UserSignature('mallory@evil.example'),
        clientId: '1000.OTHERCLIENT',
        clientSecret: `${SECRET}-client-mallory`,
        refreshToken: `${SECRET}-refresh-mallory`,
      }),
    )
    const before = await target.rows()
    const run = await cli(['migrate', '--from', url, '--to', target.url])
    expect(run.code, run.stdout).toBe(1)
    expectOneLineError(run)
    expect(run.stderr).toContain(`id ${ids.valid} holds another user or client in the target`)
    expect(run.stderr).toMatch(/Nothing was written: delete or rename those rows in the target/)
    expect(run.stderr).toContain('or migrate into an empty store')
    expectNoSecret(run)
    expect(await target.rows()).toEqual(before)
  })

  it('a user the target holds under another id: refused before anything is copied', async () => {
    const { url, ids } = await seededFile()
    const target = await targetWith(
      new OAuthToken({
        id: '999', // another id than the source's (numbered ids of both start at 1)
        userSignature: new UserSignature('valid@zylker.example'),
        clientId: '1000.ABCDEFGHIJKLMNXY',
        clientSecret: `${SECRET}-client-elsewhere`,
        refreshToken: `${SECRET}-refresh-elsewhere`,
      }),
    )
    const before = await target.rows()
    const run = await cli(['migrate', '--from', url, '--to', target.url])
    expect(run.code, run.stdout).toBe(1)
    expect(run.stderr).toMatch(
      new RegExp(`the user of id ${ids.valid} is stored in the target under id \\S+`),
    )
    expectNoSecret(run)
    expect(await target.rows()).toEqual(before)
  })
  it('a token refreshed in the target since (a later expiry) is not overwritten: exit 1', async () => {
    const { url, ids, path } = await seededFile()
    const newer = (await new FileStore(path).findTokenById(ids.valid!))!
    newer.refreshToken = `${SECRET}-refresh-newer`
    newer.expiryTime = newer.expiryTime! + HOUR
    const target = await targetWith(newer)
    const before = await target.rows()
    const run = await cli(['migrate', '--from', url, '--to', target.url])
    expect(run.code, run.stdout).toBe(1)
    expect(run.stdout).toContain(
      `failed ${ids.valid}: the target holds a newer token (later expiry); kept`,
    )
    expectNoSecret(run)
    const after = (await target.rows()) as { id: string }[]
    expect(after.find((row) => row.id === ids.valid)).toEqual(
      (before as { id: string }[]).find((row) => row.id === ids.valid),
    )
  })
})

const DATABASE = 'tokenkeeper_test'
await describeWithService('mariadb', 'tokenkeeper CLI: migrate to MariaDB', () => {
  const table = `tk_cli_${process.pid}`
  let admin: mysql.Connection
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_ready\``)
    await admin.end()
  })

  it('copies 10,000 tokens from a FileStore to a DBStore', async () => {
    const source = await bigFile()
    const digest = sha(source)
    const to = `${SERVICES.mariadb.url}/${DATABASE}?table=${table}`
    const first = await cli(['migrate', '--from', `file:${source}`, '--to', to])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stderr).toContain(`migrate: copied ${BIG}/${BIG}`)
    expect(first.stdout).toContain(`0 missing, 0 different - ok`)
    const db = new DBStore({ url: `${SERVICES.mariadb.url}/${DATABASE}`, table })
    expect(await db.getTokens()).toHaveLength(BIG)
    await db.close()
    const second = await cli(['migrate', '--from', `file:${source}`, '--to', to])
    expect(second.stdout).toContain(`0 copied, ${BIG} skipped`)
    expect(sha(source)).toBe(digest)
  })
})

describe.concurrent('tokenkeeper CLI: hostile stored values and URL credentials', () => {
  /** A FileStore holding values that try to forge rows and recolour the terminal. */
  async function hostileFile(): Promise<{ url: string; ids: Record<string, string> }> {
    const path = scratchPath(dir, 'hostile.txt')
    const store = new FileStore(path)
    const make = (name: string, extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {}) =>
      new OAuthToken({
        userSignature: new UserSignature(name),
        clientId: '1000.ABCDEFGHIJKLMNXY',
        clientSecret: `${SECRET}-client`,
        refreshToken: `${SECRET}-refresh-${name.length}`,
        ...extra,
      })
    const tokens = {
      forger: make(
        'eve@zylker.example\n1111111111  admin@zylker.example  1000.AB…XY  in 9d  valid',
      ),
      colour: make('\x1b[31mmallory@zylker.example\x1b[0m\x1b[2J\r'),
      bidi: make('trudy@zylker.example\u202e\u2028\x9b31m\u2066', {
        redirectUrl: 'https://app.example/cb\x1b]8;;https://evil.example\x07',
      }),
    }
    await Promise.all(Object.values(tokens).map((token) => store.saveToken(token)))
    await store.close()
    const ids = Object.fromEntries(Object.entries(tokens).map(([name, t]) => [name, t.id!]))
    return { url: `file:${path}`, ids }
  }
  /** Any raw control character, line separator or bidirectional override. */
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

  it('list escapes control characters: one row per token, no forged row, no colour', async () => {
    const { url, ids } = await hostileFile()
    const run = await cli(['list', '--store', url])
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    expect(lines.filter((line) => line.startsWith('1111111111'))).toEqual([])
    expect(lines).toHaveLength(4) // the header and three tokens
    expect(run.stdout).not.toMatch(RAW)
    expect(run.stdout).toContain('eve@zylker.example\\n1111111111  admin@zylker.example')
    expect(run.stdout).toContain('\\x1b[31mmallory@zylker.example\\x1b[0m\\x1b[2J\\r')
    expect(run.stdout).toContain('trudy@zylker.example\\u202e\\u2028\\x9b31m\\u2066')
    // Every row still starts with its id: the columns did not shift.
    for (const id of Object.values(ids)) expect(lines.some((l) => l.startsWith(id))).toBe(true)
  })

  it('show escapes them in every field; --json keeps the value and escapes what JSON leaves raw', async () => {
    const { url, ids } = await hostileFile()
    const [plain, json] = await Promise.all([
      cli(['show', ids.bidi!, '--store', url]),
      cli(['show', ids.forger!, '--store', url, '--json']),
    ])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).not.toMatch(RAW)
    expect(plain.stdout).toMatch(/^user:\s+trudy@zylker.example\\u202e\\u2028\\x9b31m\\u2066$/m)
    expect(plain.stdout).toMatch(/^redirect url:\s+https:\/\/app.example\/cb\\x1b\]8;;/m)
    expect(plain.stdout.trimEnd().split('\n')).toHaveLength(11)
    expect(json.code).toBe(0)
    expect(json.stdout).not.toMatch(RAW)
    expect(JSON.parse(json.stdout)).toMatchObject({
      userName: 'eve@zylker.example\n1111111111  admin@zylker.example  1000.AB…XY  in 9d  valid',
    })
    const bidi = await cli(['list', '--store', url, '--json'])
    expect(bidi.stdout).not.toMatch(RAW)
    const rows = JSON.parse(bidi.stdout) as { userName: string }[]
    expect(rows.map((row) => row.userName)).toContain(
      'trudy@zylker.example\u202e\u2028\x9b31m\u2066',
    )
  })

  it('an error message with a control character is one escaped line', async () => {
    const run = await cli(['show', 'x\x1b[2Jy', '--store', 'memory:'])
    expect(run.code).toBe(3)
    expectOneLineError(run)
    expect(run.stderr).not.toMatch(RAW)
    expect(run.stderr).toContain('x\\x1b[2Jy')
  })

  it('a store URL parameter nobody reads is refused, naming it and not its value', async () => {
    const path = scratchPath(dir, 'typo.db')
    const run = await cli(['list', '--store', `sqlite:${path}?tabel=${SECRET}-value`])
    expect(run.code).toBe(2)
    expectOneLineError(run)
    expect(run.stderr).toContain("'tabel'")
    expectNoSecret(run)
  })
})

await describeWithService('postgres', 'tokenkeeper CLI: URL credentials in every output', () => {
  const table = `tk_cli_pw_${process.pid}`
  afterAll(async () => {
    const pg = await import('pg')
    const admin = new pg.default.Client({ connectionString: SERVICES.postgres.url })
    await admin.connect()
    await admin.query(`DROP TABLE IF EXISTS "${table}"`)
    await admin.end()
  })

  it('doctor, migrate and show mask ?password=, user:password@ and a stored URL', async () => {
    // The server trusts local connections: the passwords are carried, never checked.
    const to = `postgres://postgres:${SECRET}-userinfo@127.0.0.1:5432/postgres?password=${SECRET}-query&table=${table}`
    const { url, ids } = await seededFile()
    const migrated = await cli(['migrate', '--from', url, '--to', to])
    expect(migrated.code, migrated.stderr).toBe(0)
    expectNoSecret(migrated)
    expect(migrated.stdout).toContain('0 missing, 0 different - ok')
    expect(migrated.stdout).toMatch(
      /-> postgres:\/\/postgres:\[redacted\]@127.0.0.1:5432\/postgres\?password=\[redacted\]/,
    )

    const doctor = await cli(['doctor', '--store', to])
    expect(doctor.stdout).toMatch(
      /^ok\s+store: postgres:\/\/postgres:\[redacted\]@.*\?password=\[redacted\].* reachable, 4 tokens/m,
    )
    expectNoSecret(doctor)

    const store = new FileStore(url.slice('file:'.length))
    const token = (await store.findTokenById(ids.valid!))!
    token.redirectUrl = `https://app:${SECRET}-redirect@app.example/cb?auth=${SECRET}-auth&x=1`
    await store.saveToken(token)
    await store.close()
    const show = await cli(['show', ids.valid!, '--store', url])
    expect(show.stdout).toMatch(
      /^redirect url:\s+https:\/\/app:\[redacted\]@app.example\/cb\?auth=\[redacted\]&x=1$/m,
    )
    expectNoSecret(show)
  })
})
