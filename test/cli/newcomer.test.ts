// The CLI as a newcomer meets it (issue 17): a mistyped path, a URL written as a URL, an
// encrypted store without its keys, and the messages that say what to do next.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../src/index.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { createStore } from '../../src/stores/create.ts'
import { withEncryption } from '../../src/stores/encrypted.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')
const dir = scratchDir('tokenkeeper-cli-newcomer-')
const SECRET = 'SeCrEt'
const CLIENT_ID = '1000.ABCDEFGHIJKLMNXY'

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI as a child process, from the project root, without the TOKENKEEPER_ variables. */
function cli(args: string[]): Promise<Run> {
  const env = { ...process.env }
  for (const name of ['TOKENKEEPER_STORE', 'TOKENKEEPER_KEYS', 'TOKENKEEPER_ACTIVE_KEY']) {
    delete env[name]
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { cwd: ROOT, env },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

const token = (user: string) =>
  new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: CLIENT_ID,
    clientSecret: `${SECRET}-client`,
    refreshToken: `${SECRET}-refresh`,
  })

/** A FileStore of one token, sealed under `k1` when a key is given. */
async function seeded(key?: string): Promise<string> {
  const path = scratchPath(dir, 'tokens.txt')
  const plain = new FileStore(path)
  const store = key ? withEncryption(plain, { keys: { k1: key }, activeKeyId: 'k1' }) : plain
  await store.saveToken(token('a@zylker.example'))
  await store.close()
  return path
}

const newKey = () => randomBytes(32).toString('base64')

describe('read-only commands on a store that does not exist', () => {
  it('list, show and doctor exit 3 with the path and what to do, and create nothing', async () => {
    const db = scratchPath(dir, 'mistyped.db')
    const file = scratchPath(dir, 'mistyped.txt')
    const runs = await Promise.all([
      cli(['list', '--store', `sqlite:${db}`]),
      cli(['show', '1', '--store', `sqlite:${db}`]),
      cli(['doctor', '--store', `sqlite:${db}`]),
      cli(['list', '--store', `file:${file}`]),
      cli(['show', '1', '--store', `file:${file}`]),
      cli(['doctor', '--store', `file:${file}`]),
      cli(['migrate', '--from', `sqlite:${db}`, '--to', 'memory:']),
    ])
    for (const [index, run] of runs.entries()) {
      expect(run.code).toBe(3)
      expect(run.stdout).toBe('')
      expect(run.stderr).toContain(`no token store at ${[0, 1, 2, 6].includes(index) ? db : file}`)
      expect(run.stderr).toContain('check the path, or create it by saving a token')
    }
    expect(existsSync(db)).toBe(false)
    expect(existsSync(file)).toBe(false)
  })

  it('a writing command still creates its store', async () => {
    const db = scratchPath(dir, 'new.db')
    const run = await cli(['purge', '--expired', '--store', `sqlite:${db}`])
    expect(run.code).toBe(0)
    expect(existsSync(db)).toBe(true)
  })
})

describe('store URLs written as URLs', () => {
  it('sqlite:///abs and file:///abs open the absolute path', async () => {
    const file = await seeded()
    const db = scratchPath(dir, 'abs.db')
    const sqlite = new SQLiteStore({ path: db })
    await sqlite.saveToken(token('b@zylker.example'))
    await sqlite.close()
    const [fromFile, fromDb] = await Promise.all([
      cli(['list', '--store', `file://${file}`]),
      cli(['list', '--store', `sqlite://${db}`]),
    ])
    expect(fromFile.code).toBe(0)
    expect(fromFile.stdout).toContain('a@zylker.example')
    expect(fromDb.code).toBe(0)
    expect(fromDb.stdout).toContain('b@zylker.example')
    // createStore reads the same URL the same way.
    const store = await createStore(`sqlite://${db}`)
    expect((await store.getTokens()).map((t) => t.userSignature?.name)).toEqual([
      'b@zylker.example',
    ])
    await store.close?.()
  })

  it('sqlite://x and file://./x are refused with exit 2 and the right form', async () => {
    const runs = await Promise.all([
      cli(['list', '--store', 'sqlite://zohooauth.db']),
      cli(['list', '--store', 'file://./sdk_tokens.txt']),
      cli(['list', '--store', 'file:./100%.txt']),
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1)
      expect(run.stderr).not.toMatch(/ERR_|TypeError|URIError/)
    }
    expect(runs[0].stderr).toContain('write sqlite:./path (relative) or sqlite:///absolute/path')
    expect(runs[1].stderr).toContain('write file:./path (relative) or file:///absolute/path')
    expect(runs[2].stderr).toContain('write % as %25')
    await expect(createStore('file://./sdk_tokens.txt')).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
  })
})

describe('encrypted stores', () => {
  it('show --reveal without keys refuses and names the option, printing no ciphertext', async () => {
    const path = await seeded(newKey())
    const run = await cli(['show', '1', '--reveal', '--store', `file:${path}`])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('the store is encrypted')
    expect(run.stderr).toContain('--key id=base64')
    expect(run.stderr).not.toContain('tk2.')
  })

  it('doctor reports the keys given, the key ids in use and rows not under the active key', async () => {
    const k1 = newKey()
    const path = await seeded(k1)
    const store = `file:${path}`
    const [none, current, behind, missing] = await Promise.all([
      cli(['doctor', '--store', store]),
      cli(['doctor', '--store', store, '--key', `k1=${k1}`]),
      cli([
        'doctor',
        '--store',
        store,
        '--key',
        `k1=${k1}`,
        '--key',
        `k2=${newKey()}`,
        '--active-key',
        'k2',
      ]),
      cli(['doctor', '--store', store, '--key', `k2=${newKey()}`]),
    ])
    expect(none.code).toBe(0)
    expect(none.stdout).toMatch(
      /^warn\s+encryption: rows sealed under key 'k1' \(1 row\), and no keys given: pass them with --key/m,
    )
    expect(current.code).toBe(0)
    expect(current.stdout).toMatch(
      /^ok\s+encryption: keys given: k1 \(active 'k1'\); key ids in use: 'k1' \(1 row\); every row under the active key$/m,
    )
    expect(behind.code).toBe(0)
    expect(behind.stdout).toMatch(
      /^warn\s+encryption: .*1 row not yet under the active key \(first: token 1\): run tokenkeeper rekey$/m,
    )
    expect(missing.code).toBe(1)
    expect(missing.stdout).toMatch(
      /^fail\s+encryption: .*sealed under key 'k1' \(first: token 1\), which is not given: add --key k1=<base64>/m,
    )
    for (const run of [none, current, behind, missing]) {
      expect(run.stdout).toMatch(/^ok\s+store: .* reachable, 1 token$/m)
      expect(run.stdout + run.stderr).not.toContain(SECRET)
    }
  })

  it('doctor tells a wrong key from an unreachable store', async () => {
    const path = await seeded(newKey())
    const run = await cli(['doctor', '--store', `file:${path}`, '--key', `k1=${newKey()}`])
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/^ok\s+store: .* reachable, 1 token$/m)
    expect(run.stdout).toMatch(
      /^fail\s+encryption: wrong key: .*key 'k1'.*check the value given for that key id/m,
    )
    expect(run.stdout).not.toMatch(/not reachable|cannot be read/)
    expect(run.stderr).toBe('tokenkeeper: 1 check failed: see the fail lines above\n')
  })
})

describe('messages', () => {
  it('migrate on a user-name conflict says which rows and how to resolve, in right plurals', async () => {
    const source = scratchPath(dir, 'twice.txt')
    const header =
      'id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain\n'
    const row = (id: number) =>
      `${id},a@zylker.example,${CLIENT_ID},${SECRET}${id},${SECRET}r${id},,,,,\n`
    writeFileSync(source, header + row(1) + row(2), { mode: 0o600 })
    const target = scratchPath(dir, 'target.db')
    const run = await cli(['migrate', '--from', `file:${source}`, '--to', `sqlite:${target}`])
    expect(run.code).toBe(1)
    expect(run.stdout).toContain('verify: source 2 tokens, target 1 token; 1 missing')
    expect(run.stdout + run.stderr).not.toMatch(/\b1 tokens\b/)
    expect(run.stderr).not.toContain('run it again to resume')
    expect(run.stderr).toContain(
      'Token 2 cannot be copied: its user name is already in the target under id 1',
    )
    expect(run.stderr).toContain(`tokenkeeper delete 2 --store file:${source}`)
    expect(run.stderr).toContain(`tokenkeeper delete 1 --store sqlite:${target}`)
  })

  it('errors say what to do next', async () => {
    const store = `file:${await seeded()}`
    const [missing, badKey, activeOnly, same] = await Promise.all([
      cli(['show', '999', '--store', store]),
      cli(['list', '--store', store, '--key', 'k1=c2hvcnQ=']),
      cli(['list', '--store', store, '--active-key', 'k1']),
      cli(['migrate', '--from', store, '--to', store]),
    ])
    expect([missing.code, badKey.code, activeOnly.code, same.code]).toEqual([3, 2, 2, 2])
    expect(missing.stderr).toContain("no token with id '999' in the store; tokenkeeper list shows")
    expect(badKey.stderr).toContain('(a new one: openssl rand -base64 32)')
    expect(activeOnly.stderr).toContain('at least one --key id=base64 (or TOKENKEEPER_KEYS)')
    expect(same.stderr).toContain('give --to another store')
  })

  it('--json masks the client id as the text does, unless --reveal', async () => {
    const store = `file:${await seeded()}`
    const [show, list, revealed] = await Promise.all([
      cli(['show', '1', '--json', '--store', store]),
      cli(['list', '--json', '--store', store]),
      cli(['show', '1', '--json', '--reveal', '--store', store]),
    ])
    expect(JSON.parse(show.stdout)).toMatchObject({ clientId: '1000.AB…XY' })
    expect((JSON.parse(list.stdout) as { clientId: string }[])[0]).toMatchObject({
      clientId: '1000.AB…XY',
    })
    for (const run of [show, list]) expect(run.stdout).not.toContain(CLIENT_ID)
    expect(JSON.parse(revealed.stdout)).toMatchObject({ clientId: CLIENT_ID })
  })
})
