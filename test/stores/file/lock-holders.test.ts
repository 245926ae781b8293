// Who holds a lock file: a pid alone is not an identity. A lock file naming a live process that
// is not the one that took the lock (its pid was reused: another start time, or another boot)
// is taken over at once; one naming its real, live holder is respected until it lapses.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { basename, dirname } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../../src/index.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()
const sleepers: ChildProcess[] = []
afterAll(() => {
  for (const child of sleepers) child.kill('SIGKILL')
})

/** A live process unrelated to any lock: its pid stands for a pid the system gave again. */
function unrelatedProcess(): number {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' })
  sleepers.push(child)
  return child.pid!
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!
}

const BOOT = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()

/** A lock file as a holder writes it, naming `pid` with the given start time and boot. */
function forge(path: string, pid: number, start: string, boot = BOOT): void {
  const holder = { pid, host: hostname(), nonce: 'forged', start, boot, lease: 60_000 }
  writeFileSync(path, JSON.stringify(holder))
}

function token(user: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${user}`,
    accessToken: `1000.access.${user}`,
    expiryTime: Date.now() + 3_600_000,
  })
}

/** The name of the lease file a store uses for a token: seen once, while it is held. */
async function leaseFileOf(store: FileStore | SQLiteStore, id: string, base: string) {
  const before = new Set(readdirSync(dirname(base)))
  const lock = await store.lockToken(id)
  const name = readdirSync(dirname(base)).find(
    (entry) => !before.has(entry) && entry.startsWith(`${basename(base)}.lock-`),
  )
  await lock.release()
  expect(name).toBeDefined()
  return `${dirname(base)}/${name!}`
}

describe('a lock file naming a reused pid', () => {
  it('FileStore: a save is not blocked by a write lock whose pid now names another process', async () => {
    const path = scratchPath(dir, 'tokens.csv')
    const pid = unrelatedProcess()
    forge(`${path}.lock`, pid, String(Number(startOf(pid)) - 1000))
    // A 1 ms lock timeout: a save that waited at all for this lock would fail.
    const store = new FileStore({ path, lockTimeoutMs: 1 })
    await store.saveToken(token('ada@example.com'))
    expect((await store.getTokens()).length).toBe(1)
  })

  it('FileStore: a token lease whose pid now names another process is taken over at once', async () => {
    const path = scratchPath(dir, 'tokens.csv')
    const store = new FileStore({ path })
    const lockFile = await leaseFileOf(store, '0abcdefghi', path)
    const pid = unrelatedProcess()
    forge(lockFile, pid, String(Number(startOf(pid)) - 1000))
    // timeoutMs 0: one try, no wait; taken over in that try or refused.
    const lock = await store.lockToken('0abcdefghi', { timeoutMs: 0 })
    await lock.release()
  })

  it('SQLiteStore: a token lease left by a process of an earlier boot is taken over at once', async () => {
    const path = scratchPath(dir, 'tokens.db')
    const store = new SQLiteStore({ path })
    const lockFile = await leaseFileOf(store, '0abcdefghi', path)
    // Even a pid that is alive now, with the same start time: the machine has rebooted since.
    const pid = unrelatedProcess()
    forge(lockFile, pid, startOf(pid), '00000000-0000-0000-0000-000000000000')
    // timeoutMs 0: one try, no wait; taken over in that try or refused.
    const lock = await store.lockToken('0abcdefghi', { timeoutMs: 0 })
    await lock.release()
    await store.close()
  })

  it('a lock file naming its real, live holder is respected until its lease lapses', async () => {
    const path = scratchPath(dir, 'tokens.csv')
    const store = new FileStore({ path })
    const lockFile = await leaseFileOf(store, '0abcdefghi', path)
    const pid = unrelatedProcess()
    forge(lockFile, pid, startOf(pid))
    await expect(store.lockToken('0abcdefghi', { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'lock',
      message: expect.stringContaining(`pid ${pid}`) as unknown,
    })
    forge(`${path}.lock`, pid, startOf(pid))
    const writer = new FileStore({ path, lockTimeoutMs: 300 })
    await expect(writer.saveToken(token('ada@example.com'))).rejects.toMatchObject({
      operation: 'lock',
    })
  })

  it('a lease file records who holds it: pid, host, start time, boot, lease and a nonce', async () => {
    const path = scratchPath(dir, 'tokens.csv')
    const store = new FileStore({ path, lockLeaseMs: 5000 })
    const before = new Set(readdirSync(dir))
    const lock = await store.lockToken('0abcdefghi')
    const name = readdirSync(dir).find((entry) => !before.has(entry))!
    const holder = JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')) as Record<string, unknown>
    await lock.release()
    expect(holder).toMatchObject({
      pid: process.pid,
      host: hostname(),
      start: startOf(process.pid),
      boot: BOOT,
      lease: 5000,
    })
    expect(holder.nonce).toMatch(/^[0-9a-f]{24}$/)
  })
})
