// Storage faults, SQLite's ioerr discipline applied to FileStore: a save is run once to count
// the file-system calls it makes, then again for each k, with the k-th call failing (ENOSPC,
// EIO), or, when it writes, writing only part of its bytes (then either the next write fails
// with ENOSPC, as when a disk fills up mid-file, or later writes work). The faulted save is a
// batch of three operations (a new user, an update, a delete). The oracle after each run: every
// operation of the batch has the same outcome; a rejected batch left the file byte-identical and
// says what went wrong (disk full, I/O error) and what to do, with the system's error as cause;
// a resolved batch left exactly the new state, as a fresh FileStore reads it; the same store
// reads the file as it is and can save the batch again once the fault has cleared; no file that
// holds tokens is left beside the token file. Runs cold (a new store's first save) and warm
// (a store that has saved before and serves from its snapshot).
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, TokenStoreError, UserSignature } from '../../../src/index.ts'
import { FsFaults, listDirectory, type FaultKind, type FsCall } from '../../helpers/fs-faults.ts'
import { scratchDir } from '../../helpers/common.ts'
import { errorTexts } from '../../helpers/leak-capture.ts'

const root = scratchDir('tokenkeeper-storage-faults-')
const faults = new FsFaults(root)
beforeAll(() => faults.install())
afterAll(() => faults.uninstall())

const ROWS = 20
/** Short: a lock left behind by a failed release is taken over quickly. */
const OPTIONS = { lockTimeoutMs: 5000, staleLockMs: 100 }
const KINDS: FaultKind[] = ['ENOSPC', 'EIO', 'short-then-ENOSPC', 'stuck', 'short']
/** The faults every call gets; the others are for writes only. */
const ANY_CALL: FaultKind[] = ['ENOSPC', 'EIO']
/** What the message must say for each fault: the cause in words, and what to do. */
const SAYS: Record<FaultKind, RegExp> = {
  ENOSPC: /the disk is full \(ENOSPC\); free space on the volume/,
  EIO: /an I\/O error \(the disk or the connection to it failed\) \(EIO\); check the disk/,
  'short-then-ENOSPC': /the disk is full \(ENOSPC\); free space on the volume/,
  stuck: /the disk is full \(ESHORTWRITE\); free space on the volume/,
  short: /never rejects/,
  EROFS: /the file system is read-only \(EROFS\); remount it read-write/,
  EDQUOT: /the disk quota is used up \(EDQUOT\); free space or raise the quota/,
  EACCES: /permission denied \(EACCES\); give the user this process runs as write access/,
  EINVAL: /never rejects/,
}
/** The code of the error kept as `cause`. */
const CAUSE: Record<FaultKind, string> = {
  ENOSPC: 'ENOSPC',
  EIO: 'EIO',
  'short-then-ENOSPC': 'ENOSPC',
  stuck: 'ESHORTWRITE',
  short: 'none',
  EROFS: 'EROFS',
  EDQUOT: 'EDQUOT',
  EACCES: 'EACCES',
  EINVAL: 'EINVAL',
}
/** Files the lock leaves when it cannot remove them (they hold a pid and a nonce, no token). */
const LOCK_TEMP = /^tokens\.csv\.lock\.\d+\.[0-9a-f]{12}\.new$/

type Fields = Record<string, unknown>

function token(i: number, extra: Partial<Record<'accessToken' | 'id', string>> = {}): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(`user${i}@example.com`),
    clientId: '1000.CLIENT',
    clientSecret: `secret-${i}-CLIENTSECRETVALUE`,
    refreshToken: `1000.refresh.${i}.REFRESHTOKENVALUE`,
    accessToken: `1000.access.${i}.ACCESSTOKENVALUE`,
    expiryTime: 1_900_000_000_000 + i,
    apiDomain: 'https://www.zohoapis.com',
    ...extra,
  })
}

function fieldsOf(t: OAuthToken): Fields {
  const { userSignature, ...rest } = t.fields()
  return { ...rest, userName: userSignature?.name }
}

async function stateOf(store: FileStore): Promise<Map<string, Fields>> {
  return new Map((await store.getTokens()).map((t) => [t.id!, fieldsOf(t)]))
}

/** The seed file, written once: ROWS users, its bytes and its tokens by id. */
let seed: { bytes: Buffer; state: Map<string, Fields> }

beforeAll(async () => {
  const path = join(root, 'seed.csv')
  const store = new FileStore(path)
  for (let i = 0; i < ROWS; i++) await store.saveToken(token(i))
  await store.close()
  seed = { bytes: readFileSync(path), state: await stateOf(new FileStore(path)) }
})

let runs = 0

/** A directory of its own holding the seed file; a store on it, warmed up when asked. */
async function prepare(warm: boolean) {
  runs += 1
  const dir = join(root, `run-${runs}`)
  mkdirSync(dir)
  const path = join(dir, 'tokens.csv')
  copyFileSync(join(root, 'seed.csv'), path)
  const store = new FileStore({ path, ...OPTIONS })
  let state = new Map(seed.state)
  if (warm) {
    // A save of its own first: the store has swept, read the file and cached its snapshot.
    const first = token(0, { accessToken: '1000.access.0.WARMEDUP' })
    await store.saveToken(first)
    state = await stateOf(new FileStore(path))
  }
  return { dir, path, store, before: readFileSync(path), state }
}

/** The batch under test: a new user, an update of user 1, the deletion of user 2. */
function batch(store: FileStore, state: Map<string, Fields>) {
  const ids = [...state.keys()]
  const byName = (name: string) => ids.find((id) => state.get(id)!.userName === name)!
  const added = token(ROWS)
  const updated = token(1, { accessToken: '1000.access.1.ROTATED' })
  const removed = byName('user2@example.com')
  const run = () =>
    Promise.allSettled([
      store.saveToken(added),
      store.saveToken(updated),
      store.deleteToken(removed),
    ])
  /** What each operation does to the rows, once it has resolved. */
  const ops: ((rows: Map<string, Fields>) => void)[] = [
    (rows) => rows.set(added.id!, fieldsOf(added)),
    (rows) => rows.set(updated.id!, fieldsOf(updated)),
    (rows) => rows.delete(removed),
  ]
  const expected = () => {
    const next = new Map(state)
    for (const op of ops) op(next)
    return next
  }
  return { run, ops, expected }
}

/** The secrets of every token the runs handle: none may appear in an error. */
const SECRETS = [...Array.from({ length: ROWS + 1 }, (_, i) => i)].flatMap((i) => [
  `secret-${i}-CLIENTSECRETVALUE`,
  `1000.refresh.${i}.REFRESHTOKENVALUE`,
  `1000.access.${i}.ACCESSTOKENVALUE`,
])

interface Tally {
  runs: number
  rejectedUnchanged: number
  resolvedNew: number
  lockTaken: number
  lockTemps: number
  /** Acknowledged tokens missing or changed on reopen. */
  lost: number
  /** Rows changed by operations that were rejected. */
  changedByRejected: number
  /** Per fault point, what each fault gave. */
  table: Map<number, string[]>
  /** One message per step that failed, as an example. */
  messages: Map<string, string>
}

function same(a: Fields | undefined, b: Fields | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Runs the batch with the k-th call failing as `kind`; checks the oracle; counts. */
async function faultedRun(warm: boolean, k: number, kind: FaultKind, tally: Tally): Promise<void> {
  const { dir, path, store, before, state } = await prepare(warm)
  const { run, ops } = batch(store, state)
  faults.arm(k, kind)
  const outcomes = await run()
  const injected = faults.injected
  faults.disarm()
  const where = `${warm ? 'warm' : 'cold'} call ${k} (${injected?.name} ${injected?.file}) ${kind}`
  tally.runs += 1

  // What must be in the file: the rows before, with the operations that resolved applied.
  const acknowledged = new Map(state)
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') ops[i]!(acknowledged)
  })
  const after = readFileSync(path)
  const fresh = await stateOf(new FileStore(path))
  for (const [id, fields] of acknowledged) if (!same(fresh.get(id), fields)) tally.lost += 1
  for (const [id, fields] of fresh) {
    if (!same(acknowledged.get(id), fields)) tally.changedByRejected += 1
  }
  const statuses = new Set(outcomes.map((o) => o.status))
  const verdict = statuses.size === 1 ? [...statuses][0]! : 'mixed'
  tally.table.set(k, [...(tally.table.get(k) ?? []), `${kind} ${verdict}`])
  expect(fresh, `${where}: every acknowledged token, exactly, and nothing else`).toEqual(
    acknowledged,
  )
  expect.soft(verdict, `${where}: one batch, one outcome`).not.toBe('mixed')

  if (verdict === 'rejected') {
    expect(after.equals(before), `${where}: the file is byte-identical`).toBe(true)
    for (const outcome of outcomes) {
      const err = (outcome as PromiseRejectedResult).reason as TokenStoreError
      expect(err, where).toBeInstanceOf(TokenStoreError)
      expect.soft(err.message, where).toMatch(SAYS[kind])
      expect.soft((err.cause as NodeJS.ErrnoException).code, where).toBe(CAUSE[kind])
      for (const text of errorTexts(err)) {
        for (const secret of SECRETS) expect(text, where).not.toContain(secret)
      }
    }
    const error = (outcomes[0] as PromiseRejectedResult).reason as Error
    tally.messages.set(injected?.name ?? '?', error.message)
    // The same store reads the file as it is, not what it had applied in memory.
    expect(await stateOf(store), where).toEqual(state)
    tally.rejectedUnchanged += 1
    // Once the fault has cleared, the same batch saves.
    const again = await run()
    expect(
      again.map((o) => o.status),
      where,
    ).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
    const next = new Map(state)
    for (const op of ops) op(next)
    expect(await stateOf(new FileStore(path)), where).toEqual(next)
  } else {
    tally.resolvedNew += 1
    // Only a call made once the new file is in place (or a short write that was completed)
    // may fail without failing the save.
    if (kind !== 'short') expect(after.equals(before), `${where}: resolved, unchanged`).toBe(false)
  }
  expect(await stateOf(store), where).toEqual(await stateOf(new FileStore(path)))
  await store.close()
  const left = listDirectory(dir).filter((name) => name !== 'tokens.csv')
  if (left.includes('tokens.csv.lock')) tally.lockTaken += 1
  tally.lockTemps += left.filter((name) => LOCK_TEMP.test(name)).length
  // Nothing that holds a token is left beside the file (the lock's own files hold none).
  expect(
    left.filter((name) => name !== 'tokens.csv.lock' && !LOCK_TEMP.test(name)),
    where,
  ).toEqual([])
}

/** The calls a clean save makes, counted. */
async function countCalls(warm: boolean): Promise<readonly FsCall[]> {
  const { store, state } = await prepare(warm)
  const { run } = batch(store, state)
  faults.arm()
  const outcomes = await run()
  const calls = faults.calls
  faults.disarm()
  await store.close()
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
  return calls
}

describe('FileStore: each file-system call of a save fails in turn', () => {
  for (const warm of [false, true]) {
    it(`keeps every acknowledged token, exactly (${warm ? 'warm' : 'cold'} store)`, async () => {
      const calls = await countCalls(warm)
      const tally: Tally = {
        runs: 0,
        rejectedUnchanged: 0,
        resolvedNew: 0,
        lockTaken: 0,
        lockTemps: 0,
        lost: 0,
        changedByRejected: 0,
        table: new Map(),
        messages: new Map(),
      }
      const writing = (call: FsCall) => /\.(write|writev)$/.test(call.name)
      const writes = calls.filter(writing).length
      const label = warm ? 'warm' : 'cold'
      try {
        for (let k = 1; k <= calls.length; k++) {
          for (const kind of KINDS) {
            if (!ANY_CALL.includes(kind) && !writing(calls[k - 1]!)) continue
            await faultedRun(warm, k, kind, tally)
          }
        }
      } finally {
        const points = [...tally.table].map(
          ([k, results]) =>
            `  ${String(k).padStart(2)} ${calls[k - 1]!.name}(${calls[k - 1]!.file.replace(/\.\d+\.[0-9a-f]{12}\./, '.<pid>.<random>.')}): ${results.join(', ')}`,
        )
        console.log(
          [
            `FileStore save, ${label} store: ${calls.length} fault points (each fs call) × ` +
              `{ENOSPC, EIO} + ${writes} write${writes === 1 ? '' : 's'} × {short then ENOSPC, ` +
              `no progress, short} = ${tally.runs} runs; rejected with the file byte-identical: ` +
              `${tally.rejectedUnchanged}, resolved with exactly the new state: ${tally.resolvedNew}; ` +
              `lock left by a failed release (taken over later): ${tally.lockTaken}, lock ` +
              `temporary files left: ${tally.lockTemps}; rows changed by a rejected save: ` +
              `${tally.changedByRejected}; tokens lost: ${tally.lost}`,
            ...points,
            ...(warm ? [] : [...tally.messages].map(([step, text]) => `  e.g. ${step}: ${text}`)),
          ].join('\n'),
        )
      }
      expect(tally.lost).toBe(0)
      expect(tally.changedByRejected).toBe(0)
      expect(tally.rejectedUnchanged).toBeGreaterThan(0)
      expect(tally.runs).toBe(2 * calls.length + 3 * writes)
    })
  }
})

describe('FileStore: a directory that cannot be synced', () => {
  it('puts the previous version back when the directory sync fails with EIO', async () => {
    const { path, store, before, state } = await prepare(false)
    const { run, expected } = batch(store, state)
    const clean = await countCalls(false)
    const k = clean.findIndex((c) => c.name === 'fsyncSync') + 1
    expect(k).toBeGreaterThan(0)
    faults.arm(k, 'EIO')
    const outcomes = await run()
    faults.disarm()
    for (const outcome of outcomes) {
      expect(String((outcome as PromiseRejectedResult).reason)).toMatch(
        /\(sync the directory\): an I\/O error .*The previous version was put back; nothing was saved/,
      )
    }
    expect(readFileSync(path).equals(before)).toBe(true)
    expect((await run()).every((o) => o.status === 'fulfilled')).toBe(true)
    expect(await stateOf(new FileStore(path))).toEqual(expected())
    await store.close()
  })

  it('goes on when the file system cannot fsync a directory (EINVAL)', async () => {
    const { path, store, state } = await prepare(false)
    const { run, expected } = batch(store, state)
    const clean = await countCalls(false)
    faults.arm(clean.findIndex((c) => c.name === 'fsyncSync') + 1, 'EINVAL')
    const outcomes = await run()
    expect(faults.injected?.name).toBe('fsyncSync')
    faults.disarm()
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled'])
    expect(await stateOf(new FileStore(path))).toEqual(expected())
    await store.close()
  })
})

describe('FileStore: each cause is named, with what to do', () => {
  for (const kind of ['ENOSPC', 'EIO', 'EROFS', 'EDQUOT', 'EACCES'] as const) {
    it(`${kind} when the temporary file is created`, async () => {
      const { path, store, before, state } = await prepare(false)
      const { run } = batch(store, state)
      const clean = await countCalls(false)
      faults.arm(clean.findIndex((c) => c.name === 'promises.open') + 1, kind)
      const outcomes = await run()
      faults.disarm()
      for (const outcome of outcomes) {
        const err = (outcome as PromiseRejectedResult).reason as TokenStoreError
        expect(err).toBeInstanceOf(TokenStoreError)
        expect(err.code).toBe('TOKEN_STORE')
        expect(err.message).toContain(
          `FileStore.saveToken: cannot write ${path} (create the temporary file): `,
        )
        expect(err.message).toMatch(SAYS[kind])
        expect(err.message).toContain('The file was left as it was; nothing was saved')
        expect((err.cause as NodeJS.ErrnoException).code).toBe(kind)
      }
      expect(readFileSync(path).equals(before)).toBe(true)
      await store.close()
    })
  }

  it('names the cause when the write lock cannot be created', async () => {
    const { path, store, before, state } = await prepare(false)
    const { run } = batch(store, state)
    const clean = await countCalls(false)
    faults.arm(clean.findIndex((c) => c.name === 'promises.writeFile') + 1, 'ENOSPC')
    const outcomes = await run()
    faults.disarm()
    for (const outcome of outcomes) {
      expect(String((outcome as PromiseRejectedResult).reason)).toContain(
        `FileStore.lock: cannot create the write lock beside ${path}: the disk is full (ENOSPC); ` +
          `free space on the volume that holds ${path}, then try again; nothing was written`,
      )
    }
    expect(readFileSync(path).equals(before)).toBe(true)
    await store.close()
  })
})
