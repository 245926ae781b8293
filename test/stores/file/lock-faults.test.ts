// Storage faults around the lock file (FileStore's write lock, the token leases of FileStore and
// SQLiteStore): the temporary file a lock is created from is never left behind, not on a real
// full disk nor when removing it fails once; a lock file that cannot be removed on release does
// not block the process that held it; an empty take-over marker (its writer killed between
// creating it and writing its pid) does not hold take-overs up for 5 s.
import { spawnSync } from 'node:child_process'
import fs, {
  readdirSync,
  utimesSync,
  writeFileSync,
  existsSync,
  mkdtempSync,
  rmSync,
} from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, TokenStoreError, UserSignature } from '../../../src/index.ts'
import { SQLiteStore } from '../../../src/stores/sqlite.ts'
import { FsFaults, type FsCall } from '../../helpers/fs-faults.ts'
import { describeWithTmpfs } from '../../helpers/tmpfs.ts'

const root = mkdtempSync(join(tmpdir(), 'tokenkeeper-lock-faults-'))
const faults = new FsFaults(root)
beforeAll(() => faults.install())
afterAll(() => {
  faults.uninstall()
  rmSync(root, { recursive: true, force: true })
})

let counter = 0
function pathIn(dir: string, name: string): string {
  counter += 1
  return join(dir, `${counter}-${name}`)
}

function token(user: string, accessToken = `1000.access.${user}`): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${user}`,
    accessToken,
    expiryTime: Date.now() + 3_600_000,
  })
}

/** The temporary files locks are created from, left in `dir`. */
function temporaries(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.endsWith('.new'))
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T | Error }> {
  const started = Date.now()
  const result = await work().catch((err: unknown) => err as Error)
  return { ms: Date.now() - started, result }
}

/** The 1-based index of the first call matching, in a run counted with `faults.arm()`. */
function indexOf(calls: readonly FsCall[], match: (call: FsCall) => boolean): number {
  const index = calls.findIndex(match)
  expect(index, 'the call was made').toBeGreaterThanOrEqual(0)
  return index + 1
}

/** Makes every unlink of `path` fail with EIO until the returned function is called. */
function unlinkFails(path: string): () => void {
  const real = fs.promises.unlink
  fs.promises.unlink = async (target: fs.PathLike) => {
    if (String(target) === path) {
      throw Object.assign(new Error(`EIO: i/o error, unlink '${path}' (injected)`), {
        code: 'EIO',
        errno: -5,
        syscall: 'unlink',
      })
    }
    return real(target)
  }
  return () => (fs.promises.unlink = real)
}

/** A pid no process has now: a child that has exited and been reaped. */
function deadPid(): number {
  const child = spawnSync('true')
  return child.pid
}

describeWithTmpfs('a lock attempt on a full disk (a real tmpfs)', '64k', (tmpfs) => {
  it('FileStore: the save rejects naming the full disk and leaves no temporary lock file', async () => {
    const path = join(tmpfs.dir, 'tokens.csv')
    const store = new FileStore({ path })
    await store.saveToken(token('ada@example.com'))
    tmpfs.fill(0)
    let err: unknown
    try {
      err = (await timed(() => store.saveToken(token('bob@example.com')))).result
      console.log(
        `full disk, saveToken: ${(err as Error).message}; left: ${temporaries(tmpfs.dir).join(', ') || 'nothing'}`,
      )
      expect(err).toBeInstanceOf(TokenStoreError)
      expect((err as Error).message).toMatch(/write lock.*the disk is full \(ENOSPC\)/)
      expect(temporaries(tmpfs.dir)).toEqual([])
    } finally {
      tmpfs.unfill()
    }
    await store.saveToken(token('bob@example.com'))
    expect((await new FileStore({ path }).getTokens()).length).toBe(2)
  })

  it('FileStore.lockToken: rejects naming ENOSPC and leaves no temporary lock file', async () => {
    const path = join(tmpfs.dir, 'lease.csv')
    const store = new FileStore({ path })
    tmpfs.fill(0)
    try {
      const { result } = await timed(() => store.lockToken('0abcdefghi', { timeoutMs: 1000 }))
      console.log(`full disk, lockToken: ${(result as Error).message}`)
      expect(result).toBeInstanceOf(TokenStoreError)
      expect((result as Error).message).toMatch(
        /could not lock token .*the disk is full \(ENOSPC\)/,
      )
      expect(temporaries(tmpfs.dir)).toEqual([])
    } finally {
      tmpfs.unfill()
    }
    await (await store.lockToken('0abcdefghi')).release()
  })
})

describe('removing the temporary lock file fails once (EIO)', () => {
  it('the lock is taken and the temporary file is still removed', async () => {
    const dir = mkdtempSync(join(root, 'temp-'))
    const path = pathIn(dir, 'tokens.csv')
    const store = new FileStore({ path })
    faults.arm()
    await (await store.lockToken('0abcdefghi')).release()
    const k = indexOf(faults.calls, (c) => c.name === 'promises.unlink' && c.file.endsWith('.new'))
    faults.arm(k, 'EIO')
    const lock = await store.lockToken('0abcdefghi')
    faults.disarm()
    const left = temporaries(dir)
    await lock.release()
    console.log(
      `EIO on ${faults.injected?.name} ${faults.injected?.file}: left ${left.join(', ') || 'nothing'}`,
    )
    expect(faults.injected?.file).toMatch(/\.new$/)
    expect(left).toEqual([])
  })
})

describe('releasing the lock fails (EIO on the unlink of the lock file)', () => {
  it('FileStore: once: the next save takes the lock at once', async () => {
    const dir = mkdtempSync(join(root, 'release-once-'))
    const path = pathIn(dir, 'tokens.csv')
    await new FileStore({ path }).saveToken(token('ada@example.com'))
    const lockFile = `${path}.lock`
    faults.arm()
    await new FileStore({ path }).saveToken(token('bob@example.com'))
    const k = indexOf(faults.calls, (c) => c.name === 'promises.unlink' && c.file.endsWith('.lock'))
    // A 1 ms lock timeout: a save that waited at all for the lock left behind would fail.
    const store = new FileStore({ path, lockTimeoutMs: 1 })
    faults.arm(k, 'EIO')
    await store.saveToken(token('cid@example.com'))
    faults.disarm()
    expect(faults.injected).toMatchObject({ name: 'promises.unlink' })
    const next = await timed(() => store.saveToken(token('dee@example.com')))
    console.log(
      `one EIO on release: next save ${next.result instanceof Error ? `rejected: ${next.result.message}` : 'resolved'} after ${next.ms} ms`,
    )
    expect(next.result).toBeUndefined()
    expect(existsSync(lockFile)).toBe(false)
  })

  it('FileStore: every time: the save resolves, and the next saves take the lock at once', async () => {
    const dir = mkdtempSync(join(root, 'release-always-'))
    const path = pathIn(dir, 'tokens.csv')
    const lockFile = `${path}.lock`
    // A 1 ms lock timeout: a save that waited at all for the lock left behind would fail.
    const store = new FileStore({ path, lockTimeoutMs: 1 })
    const restore = unlinkFails(lockFile)
    try {
      await store.saveToken(token('ada@example.com'))
      expect(existsSync(lockFile), 'the lock file could not be removed').toBe(true)
      for (const user of ['bob@example.com', 'cid@example.com']) {
        const next = await timed(() => store.saveToken(token(user)))
        console.log(
          `unlink of the lock always EIO: save ${next.result instanceof Error ? `rejected: ${next.result.message}` : 'resolved'} after ${next.ms} ms`,
        )
        expect(next.result).toBeUndefined()
      }
      // Another store in this process, on the same file, too.
      await new FileStore({ path, lockTimeoutMs: 2000 }).saveToken(token('dee@example.com'))
    } finally {
      restore()
    }
    await store.saveToken(token('eve@example.com'))
    expect(existsSync(lockFile)).toBe(false)
    expect((await new FileStore({ path }).getTokens()).length).toBe(5)
  })

  it('SQLiteStore: a token lease whose file cannot be removed is taken again at once', async () => {
    const dir = mkdtempSync(join(root, 'release-lease-'))
    const path = pathIn(dir, 'tokens.db')
    const store = new SQLiteStore({ path })
    const before = new Set(readdirSync(dir))
    const first = await store.lockToken('0abcdefghi', { timeoutMs: 1000 })
    const name = readdirSync(dir).find((entry) => !before.has(entry) && entry.includes('.lock-'))!
    const restore = unlinkFails(join(dir, name))
    try {
      await first.release()
      expect(existsSync(join(dir, name))).toBe(true)
      // timeoutMs 0: one try, no wait; taken again in that try or refused.
      const next = await timed(async () => {
        const lock = await store.lockToken('0abcdefghi', { timeoutMs: 0 })
        await lock.renew?.()
        await lock.release()
      })
      console.log(
        `lease file not removable: next lockToken ${next.result instanceof Error ? `rejected: ${next.result.message}` : 'resolved'} after ${next.ms} ms`,
      )
      expect(next.result).toBeUndefined()
    } finally {
      restore()
      await store.close()
    }
  })
})

describe('an empty take-over marker beside a stale lock', () => {
  /** A write lock left by a process that is gone, and an empty marker `ageMs` old beside it. */
  function plant(path: string, ageMs: number): void {
    const holder = { pid: deadPid(), host: hostname(), nonce: 'gone', lease: 60_000 }
    writeFileSync(`${path}.lock`, JSON.stringify(holder))
    writeFileSync(`${path}.lock.break`, '')
    const then = new Date(Date.now() - ageMs)
    utimesSync(`${path}.lock.break`, then, then)
  }

  it('left a while ago: the next save takes the lock over at once', async () => {
    const path = pathIn(root, 'tokens.csv')
    plant(path, 2000)
    // A 1 ms lock timeout: a save that waited at all would fail.
    const { ms, result } = await timed(() =>
      new FileStore({ path, lockTimeoutMs: 1 }).saveToken(token('ada@example.com')),
    )
    console.log(
      `empty marker 2 s old: save ${result instanceof Error ? `rejected: ${result.message}` : 'resolved'} after ${ms} ms`,
    )
    expect(result).toBeUndefined()
    expect(existsSync(`${path}.lock.break`)).toBe(false)
  })

  it('just left: the next save takes the lock over well within the 5 s of a live take-over', async () => {
    const path = pathIn(root, 'tokens.csv')
    plant(path, 0)
    const { ms, result } = await timed(() =>
      new FileStore({ path }).saveToken(token('ada@example.com')),
    )
    console.log(
      `empty marker just made: save ${result instanceof Error ? `rejected: ${result.message}` : 'resolved'} after ${ms} ms`,
    )
    expect(result).toBeUndefined()
    expect(ms).toBeLessThan(2500)
  })
})
