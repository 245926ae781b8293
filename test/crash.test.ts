// Crash safety, proven: a child process saves tokens in a loop and is killed with SIGKILL at a
// random moment, 200 times per store, on the same file each time. After every kill the store is
// opened fresh and must be whole (every row readable, the file or the database intact), hold
// every save that was acknowledged before the kill, and leave no stray files behind for good.
// The child is bundled once with esbuild and run with plain `node`, and the next children are
// started while the current one runs and is checked, so 400 kills take about a minute on a quiet
// machine (no clock bounds them: see NO_CLOCK).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type BetterSqlite3 from 'better-sqlite3'
import { parse } from 'csv-parse/sync'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TokenStore } from '../src/store.ts'
import { FileStore } from '../src/stores/file.ts'
import { SQLiteStore } from '../src/stores/sqlite.ts'
import { OAuthToken, UserSignature } from '../src/token.ts'
import { scratchDir } from './helpers/common.ts'

const KILLS = 200
/** Children started ahead, waiting for `go`: a start-up costs more than a kill cycle. */
const SPARES = 2
/** Kills right at start-up: 0–4 ms after `go`, before or while the store opens. */
const STARTUP_KILLS = 0.15
/** Kills while the store opens, takes over the lock, sweeps, and writes for the first time. */
const OPENING_KILLS = 0.2
const OPENING_MAX_MS = 40
/** The others: 5–60 ms after the first acknowledged save, when writes follow each other. */
const MIN_DELAY_MS = 5
const MAX_DELAY_MS = 60
/** A first save slower than this is reported. */
const SLOW_START_MS = 1000
/** Saves a child runs at a time. */
const WORKERS = 8
/**
 * The last save may wait for a lock the last child left until this long before the lease that
 * lock names runs out: enough for the look at its age and the look at the waiting time to fall
 * on either side of a stall, so that only a take-over because the holder is dead can succeed.
 */
const BEFORE_STALE_MS = 2000
/**
 * No vitest timeout: every wait here ends on an event (an ack, a child's exit, a save's own
 * lock timeout), so the loops are bounded by their kills. The time they take depends on the
 * machine's load alone: a loop of about 40 s took 131 s when starved beside a mutation run
 * (no child stuck: it was CPU throughout), near the 180 s limit this replaced.
 */
const NO_CLOCK = 0

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHILD = fileURLToPath(new URL('./children/crash-saver.ts', import.meta.url))
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31)
const dir = scratchDir('tokenkeeper-crash-')

type Kind = 'file' | 'sqlite'

/** What the child saved for one user, as it announced it. */
interface Fields {
  userName: string
  clientId: string
  clientSecret: string
  refreshToken: string
  accessToken: string
  apiDomain: string
  expiryTime: number
}

/** How to start the child: plain `node` on a bundle of it when esbuild is there, else tsx. */
interface Launcher {
  readonly args: string[]
  readonly env: NodeJS.ProcessEnv
}

let launcher: Launcher

/**
 * Bundles the child and the store code it imports from src into one .mjs, which plain `node`
 * starts in a fraction of the time `node --import tsx` takes. The drivers stay outside the
 * bundle and are found through NODE_PATH in the project's node_modules.
 */
async function prepareLauncher(): Promise<Launcher> {
  try {
    const esbuild = await import('esbuild')
    const outfile = join(dir, 'crash-saver.mjs')
    await esbuild.build({
      entryPoints: [CHILD],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['better-sqlite3', 'mysql2', 'pg', 'ioredis'],
      logLevel: 'silent',
    })
    const modules = join(ROOT, 'node_modules')
    const nodePath = process.env.NODE_PATH
    return {
      args: [outfile],
      env: { ...process.env, NODE_PATH: nodePath ? `${modules}:${nodePath}` : modules },
    }
  } catch (err) {
    console.warn(`crash: cannot bundle the child (${String(err)}); running it with tsx (slower)`)
    return { args: ['--import', 'tsx', CHILD], env: process.env }
  }
}

/** A small seeded generator (mulberry32), so that a failing schedule can be named by its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void
  let reject!: (e: Error) => void
  const promise = new Promise<void>((yes, no) => {
    resolve = yes
    reject = no
  })
  // Rejected when the child dies first; whoever does not wait for it must not see that.
  promise.catch(() => undefined)
  return { promise, resolve, reject }
}

const running = new Set<Saver>()
afterAll(async () => {
  for (const saver of running) saver.child.kill('SIGKILL')
  await Promise.all([...running].map((saver) => saver.closed))
})

/** One child: its output lines as they come, and when it said what. */
class Saver {
  readonly child: ChildProcess
  readonly lines: string[] = []
  readonly ready = deferred()
  readonly saving = deferred()
  readonly acked = deferred()
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  stderr = ''
  readonly spawnedAt = performance.now()
  readyAt = 0
  savingAt = 0
  firstAckAt = 0

  constructor(kind: Kind, path: string) {
    this.child = spawn(process.execPath, [...launcher.args, kind, path, String(WORKERS)], {
      env: launcher.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    running.add(this)
    this.child.stdin!.on('error', () => undefined)
    let partial = ''
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop()!
      for (const line of parts) {
        this.lines.push(line)
        if (line === 'ready') {
          this.readyAt = performance.now()
          this.ready.resolve()
        } else if (line === 'saving') {
          this.savingAt = performance.now()
          this.saving.resolve()
        } else if (line.startsWith('ack ') && this.firstAckAt === 0) {
          this.firstAckAt = performance.now()
          this.acked.resolve()
        }
      }
    })
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    this.closed = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        running.delete(this)
        const error = new Error(`the child ended before it was killed: ${this.stderr.trim()}`)
        this.ready.reject(error)
        this.saving.reject(error)
        this.acked.reject(error)
        resolve({ code, signal })
      })
    })
  }

  /** True at its first acknowledged save, false when it ends before one. */
  ackedOrEnded(): Promise<boolean> {
    return this.acked.promise.then(
      () => true,
      () => false,
    )
  }

  go(next: number): void {
    this.child.stdin!.write(`go ${next}\n`)
  }
}

/** What the test knows of one user: the latest acknowledged save, and saves in flight since. */
interface UserState {
  readonly name: string
  acked: string | undefined
  readonly pending: Set<string>
}

interface Tally {
  survived: number
  lost: number
  acks: number
  startupKills: number
  openingKills: number
  locksLeft: number
  takeovers: number
  slowestTakeoverMs: number
  /** Children whose first save took longer than SLOW_START_MS, and what they found. */
  slowStarts: string[]
  failures: string[]
  /** Kills after which a file of an earlier child was still there though a save had since completed. */
  strayKills: number
  strays: string[]
  /** Where the loop's time went (ms), to tell a slow machine from a stuck child. */
  waitReadyMs: number
  slowestStartUpMs: number
  runMs: number
  closeMs: number
  checkMs: number
}

/** What a crash loop found, for the tests to judge. */
interface Report extends Tally {
  rows: number
  finalRows: number
  lastSaveMs: number
  /** How much of its lease the lock the last child left still had (FileStore), if it left one. */
  lastLockLeaseLeftMs: number | undefined
  /** The directory after a last save from the test process, the store's own file left out. */
  finalLeftovers: string[]
  /** What an independent CSV parser finds in the file at the end (FileStore). */
  parsedRows: number | undefined
}

/** The files a crashed writer may leave beside a FileStore file, and the pid each belongs to. */
function fileLeftovers(directory: string, base: string): { name: string; pid: number }[] {
  const found: { name: string; pid: number }[] = []
  for (const name of readdirSync(directory)) {
    if (name === base) continue
    const side = /^\.(.+)\.(\d+)\.[0-9a-f]{12}\.(tmp|old)$/.exec(name)
    const lockTemp = /^(.+)\.lock\.(\d+)\.[0-9a-f]{12}(?:\.new)?$/.exec(name)
    let pid = NaN
    if (side && side[1] === base) pid = Number(side[2])
    else if (lockTemp && lockTemp[1] === base) pid = Number(lockTemp[2])
    else if (name === `${base}.lock`) {
      pid = Number((JSON.parse(readFileSync(join(directory, name), 'utf8')) as { pid: number }).pid)
    } else if (name === `${base}.lock.break`) {
      pid = Number(readFileSync(join(directory, name), 'utf8'))
    }
    found.push({ name, pid })
  }
  return found
}

/** The leftovers by name, the lock's own temporary files only counted. */
function describeLeftovers(names: string[], base: string): string {
  const temps = names.filter((name) => /\.lock\.\d+\.[0-9a-f]{12}(\.new)?$/.test(name)).length
  const others = names.filter((name) => !/\.lock\.\d+\.[0-9a-f]{12}(\.new)?$/.test(name))
  const parts = [...others, ...(temps > 0 ? [`${temps} × ${base}.lock.<pid>.<random>`] : [])]
  return parts.join(', ') || 'nothing'
}

async function openFresh(kind: Kind, path: string): Promise<{ store: TokenStore; bad: string[] }> {
  if (kind === 'file') {
    const store = new FileStore(path)
    await store.getTokens()
    return { store, bad: store.problems.map((p) => `line ${p.line}: ${p.reason}`) }
  }
  const store = new SQLiteStore({ path })
  const db = store.database as BetterSqlite3.Database
  const check = db.pragma('integrity_check', { simple: true }) as string
  return { store, bad: check === 'ok' ? [] : [`integrity_check: ${check}`] }
}

async function crashLoop(kind: Kind, label: string): Promise<Report> {
  const started = performance.now()
  const directory = join(dir, kind)
  mkdirSync(directory)
  const base = kind === 'file' ? 'sdk_tokens.txt' : 'zohooauth.db'
  const path = join(directory, base)
  const rand = random(SEED + (kind === 'file' ? 0 : 1))
  const users = new Map<number, UserState>()
  const saved = new Map<string, Fields>()
  let next = 0
  const tally: Tally = {
    survived: 0,
    lost: 0,
    acks: 0,
    startupKills: 0,
    openingKills: 0,
    locksLeft: 0,
    takeovers: 0,
    slowestTakeoverMs: 0,
    slowStarts: [],
    failures: [],
    strayKills: 0,
    strays: [],
    waitReadyMs: 0,
    slowestStartUpMs: 0,
    runMs: 0,
    closeMs: 0,
    checkMs: 0,
  }
  const killOf = new Map<number, number>()
  // The pids of the children since the last one that completed a save: only they may have
  // files lying about (a completed save has swept those of the dead before it).
  let recentPids: number[] = []
  let lockLeft = false
  let leftovers: string[] = []
  let rows = 0

  const spares: Saver[] = []
  for (let i = 0; i < SPARES; i += 1) spares.push(new Saver(kind, path))

  for (let kill = 1; kill <= KILLS; kill += 1) {
    const saver = spares.shift()!
    // Its successor starts now, so that SPARES children are always starting up while this one
    // runs and is checked: under load a start-up takes longer than a whole kill cycle.
    spares.push(new Saver(kind, path))
    let t0 = performance.now()
    await saver.ready.promise
    tally.waitReadyMs += performance.now() - t0
    tally.slowestStartUpMs = Math.max(tally.slowestStartUpMs, saver.readyAt - saver.spawnedAt)
    t0 = performance.now()
    const pid = saver.child.pid!
    recentPids.push(pid)
    killOf.set(pid, kill)

    // Kill it: right at start-up, while it opens the store, or a random moment into its saves.
    const problems: string[] = []
    saver.go(next)
    const moment = rand()
    if (moment < STARTUP_KILLS) {
      tally.startupKills += 1
      await sleep(Math.floor(rand() * 5))
    } else if (moment < STARTUP_KILLS + OPENING_KILLS) {
      tally.openingKills += 1
      await saver.saving.promise.catch(() => undefined)
      await sleep(rand() * OPENING_MAX_MS)
    } else if (await saver.ackedOrEnded()) {
      // No clock here: a child either acknowledges a save or ends on its own, since a save that
      // cannot finish fails after the store's own lock or busy timeout and rejects the child's
      // Promise.all (and a child waiting on nothing at all exits: its top-level await is left
      // unsettled). That exit is reported below with what the child wrote to stderr.
      await sleep(MIN_DELAY_MS + rand() * (MAX_DELAY_MS - MIN_DELAY_MS))
    }
    tally.runMs += performance.now() - t0
    t0 = performance.now()
    saver.child.kill('SIGKILL')
    const exit = await saver.closed
    tally.closeMs += performance.now() - t0
    t0 = performance.now()
    if (exit.signal !== 'SIGKILL') {
      problems.push(`the child exited on its own (${exit.code}): ${saver.stderr.trim()}`)
    }

    // What it said: every save it started, and those it had acknowledged.
    const ackedNow = new Set<number>()
    for (const line of saver.lines) {
      if (line.startsWith('start ')) {
        const { index, fields } = JSON.parse(line.slice(6)) as { index: number; fields: Fields }
        let user = users.get(index)
        if (!user) {
          user = { name: fields.userName, acked: undefined, pending: new Set() }
          users.set(index, user)
        }
        user.pending.add(fields.accessToken)
        saved.set(fields.accessToken, fields)
        next = Math.max(next, index + 1)
      } else if (line.startsWith('ack ')) {
        const [, index, accessToken] = line.split(' ')
        const user = users.get(Number(index))!
        user.acked = accessToken
        user.pending.clear()
        ackedNow.add(Number(index))
        tally.acks += 1
      }
    }
    if (ackedNow.size > 0) {
      const firstSaveMs = saver.firstAckAt - saver.savingAt
      if (lockLeft) {
        tally.takeovers += 1
        tally.slowestTakeoverMs = Math.max(tally.slowestTakeoverMs, firstSaveMs)
      }
      if (firstSaveMs > SLOW_START_MS && tally.slowStarts.length < 5) {
        tally.slowStarts.push(
          `kill ${kill}: first save after ${firstSaveMs.toFixed(0)} ms; found beside the file: ` +
            describeLeftovers(leftovers, base),
        )
      }
    }
    if (ackedNow.size > 0) recentPids = [pid]

    // Open it fresh: it opens, every row reads, and every acknowledged save is there.
    let lostNow = 0
    try {
      const { store, bad } = await openFresh(kind, path)
      try {
        problems.push(...bad)
        const tokens = await store.getTokens()
        rows = tokens.length
        const byName = new Map<string, OAuthToken>()
        for (const token of tokens) {
          const name = token.userSignature?.name ?? ''
          if (byName.has(name)) problems.push(`user ${JSON.stringify(name)} has two rows`)
          byName.set(name, token)
          const fields = saved.get(token.accessToken ?? '')
          const { id: _id, userSignature: _user, ...rest } = token.fields()
          if (!fields || fields.userName !== name) {
            problems.push(`row ${token.id} is not a token that was saved`)
          } else if (JSON.stringify(rest) !== JSON.stringify(fieldsOf(fields))) {
            problems.push(`row ${token.id} differs from what was saved: ${token.accessToken}`)
          }
        }
        for (const [index, user] of users) {
          const row = byName.get(user.name)
          const allowed = new Set(user.pending)
          if (user.acked !== undefined) allowed.add(user.acked)
          if (row === undefined ? user.acked !== undefined : !allowed.has(row.accessToken!)) {
            lostNow += 1
            problems.push(
              `user ${index}: acknowledged ${user.acked ?? 'nothing'}, found ${row?.accessToken ?? 'no row'}`,
            )
          }
          // The store says what is durable now: a save in flight that landed counts from here.
          if (row !== undefined) user.acked = row.accessToken
          user.pending.clear()
          // The look-ups of a fresh store find what this child acknowledged.
          if (ackedNow.has(index) && row !== undefined) {
            const found = await store.findToken(
              new OAuthToken({ userSignature: new UserSignature(user.name) }),
            )
            const byId = await store.findTokenById(row.id!)
            if (found?.accessToken !== row.accessToken || byId?.accessToken !== row.accessToken) {
              problems.push(`user ${index}: findToken or findTokenById disagrees with getTokens`)
            }
          }
        }
      } finally {
        await store.close?.()
      }
    } catch (err) {
      problems.push(`the store did not open or read: ${String(err)}`)
    }

    // Nothing left lying about for good.
    const strays: string[] = []
    if (kind === 'file') {
      lockLeft = false
      const found = fileLeftovers(directory, base)
      leftovers = found.map(({ name }) => name)
      for (const { name, pid: owner } of found) {
        if (name === `${base}.lock`) lockLeft = true
        if (!recentPids.includes(owner)) {
          strays.push(`${name} of the child killed at kill ${killOf.get(owner) ?? '?'}`)
        }
      }
      if (lockLeft) tally.locksLeft += 1
    } else {
      for (const name of readdirSync(directory)) {
        if (![base, `${base}-wal`, `${base}-shm`].includes(name)) strays.push(name)
      }
    }

    tally.checkMs += performance.now() - t0
    tally.lost += lostNow
    if (problems.length === 0) tally.survived += 1
    else if (tally.failures.length < 10) tally.failures.push(`kill ${kill}: ${problems.join('; ')}`)
    if (strays.length > 0) {
      tally.strayKills += 1
      if (tally.strays.length < 5) {
        tally.strays.push(`after kill ${kill}, though a save completed since: ${strays.join(', ')}`)
      }
    }
  }
  for (const spare of spares) spare.child.kill('SIGKILL')
  await Promise.all(spares.map((spare) => spare.closed))

  // A last save from here: a lock the last child left is taken over because its holder is dead,
  // not once its lease has run out: the save waits for the lock only until shortly before then
  // (a take-over by age would end in a LockTimeoutError). Afterwards nothing stray is left.
  const leaseLeft = kind === 'file' ? lockLeaseLeftMs(`${path}.lock`) : undefined
  const store: TokenStore =
    kind === 'sqlite'
      ? new SQLiteStore({ path })
      : leaseLeft === undefined
        ? new FileStore(path)
        : new FileStore({ path, lockTimeoutMs: Math.max(1, leaseLeft - BEFORE_STALE_MS) })
  const saveStarted = performance.now()
  await store.saveToken(
    new OAuthToken({ userSignature: new UserSignature('last@crash.example'), accessToken: 'x' }),
  )
  const lastSaveMs = performance.now() - saveStarted
  const finalRows = (await store.getTokens()).length
  await store.close?.()
  const expected = kind === 'file' ? [base] : [base, `${base}-wal`, `${base}-shm`]
  const report: Report = {
    ...tally,
    rows,
    finalRows,
    lastSaveMs,
    lastLockLeaseLeftMs: leaseLeft,
    finalLeftovers: readdirSync(directory).filter((name) => !expected.includes(name)),
    parsedRows:
      kind === 'file'
        ? parse<Record<string, string>>(readFileSync(path, 'utf8'), { columns: true }).length
        : undefined,
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.log(
    `crash ${label}: ${tally.survived}/${KILLS} kills survived, ${tally.lost} acknowledged saves lost, ${rows} rows`,
  )
  console.log(
    `  (${tally.acks} acknowledged saves, ${tally.startupKills} kills at start-up, ` +
      `${tally.openingKills} while opening, ` +
      `${tally.locksLeft} locks left by a killed child, ${tally.takeovers} taken over by the next ` +
      `one within ${tally.slowestTakeoverMs.toFixed(0)} ms, last save ${lastSaveMs.toFixed(0)} ms` +
      (leaseLeft === undefined
        ? ''
        : ` over a lock of the last child with ${leaseLeft.toFixed(0)} ms of lease left`) +
      '; ' +
      `stray files after ${tally.strayKills} kills, ${report.finalLeftovers.length} at the end; ` +
      `${seconds} s, seed ${SEED})`,
  )
  for (const slow of tally.slowStarts) console.log(`  slow start: ${slow}`)
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
  console.log(
    `  time: ${secs(tally.waitReadyMs)} waiting for a child to start (slowest start-up ` +
      `${secs(tally.slowestStartUpMs)}), ${secs(tally.runMs)} from go to kill, ` +
      `${secs(tally.closeMs)} from kill to exit, ${secs(tally.checkMs)} checking the store`,
  )
  return report
}

/** The checks of data safety, the same for every store. */
function expectSurvived(report: Report): void {
  expect(report.failures, `seed ${SEED}`).toEqual([])
  expect(report.survived).toBe(KILLS)
  expect(report.lost).toBe(0)
  expect(report.acks).toBeGreaterThan(KILLS)
  expect(report.finalRows).toBe(report.rows + 1)
  // A lock left by the last child was taken over because its holder is dead (the last save
  // succeeded while the lock was not yet stale by age): meaningful only with lease enough left,
  // which a lock renewed every third of its 30 s lease has.
  if (report.lastLockLeaseLeftMs !== undefined) {
    expect(report.lastLockLeaseLeftMs).toBeGreaterThan(BEFORE_STALE_MS + 1000)
  }
}

/** How long until the lock file at `lock` is stale by age, or undefined when there is none. */
function lockLeaseLeftMs(lock: string): number | undefined {
  if (!existsSync(lock)) return undefined
  const { lease } = JSON.parse(readFileSync(lock, 'utf8')) as { lease: number }
  expect(lease, 'the lock file names its lease').toBeGreaterThan(0)
  return statSync(lock).mtimeMs + lease - Date.now()
}

/** No file of a killed writer outlives the next completed save. */
function expectNoStrays(report: Report): void {
  expect(report.strays, `seed ${SEED}`).toEqual([])
  expect(report.finalLeftovers).toEqual([])
}

function fieldsOf(fields: Fields): Record<string, unknown> {
  const { userName: _name, ...rest } = fields
  return new OAuthToken(rest).fields() as Record<string, unknown>
}

describe(`SIGKILL at random moments, ${KILLS} times per store, on one growing file`, () => {
  beforeAll(async () => {
    launcher = await prepareLauncher()
  }, NO_CLOCK)

  let fileReport: Report | undefined

  it(
    'FileStore: every acknowledged save survives, the file stays whole',
    async () => {
      fileReport = await crashLoop('file', 'FileStore')
      expectSurvived(fileReport)
      // An independent CSV parser reads the file the crashes left, with every row.
      expect(fileReport.parsedRows).toBe(fileReport.finalRows)
    },
    NO_CLOCK,
  )

  // A writer killed while taking the lock leaves the file the lock is linked from; the next
  // store's lock removes those of processes that are gone.
  it('FileStore: files a killed writer left are gone after the next save', () => {
    expect(fileReport).toBeDefined()
    expectNoStrays(fileReport!)
  })

  // A writer killed while taking over a dead lock leaves `<file>.lock.break` with its pid: the
  // next writer sees that pid is gone and goes on at once. Its lock timeout (2 s) is below the
  // age at which the marker counts as abandoned anyway (5 s) and the age at which the lock goes
  // stale (30 s, the store's default, as the lock names no lease), both fresh here: the save can
  // only succeed by judging both by their dead pid.
  it(
    'FileStore: a writer killed while taking over a dead lock does not hold the next one up',
    async () => {
      const directory = join(dir, 'break')
      mkdirSync(directory)
      const path = join(directory, 'sdk_tokens.txt')
      const dead = spawnSync(process.execPath, ['-e', '0']).pid
      writeFileSync(`${path}.lock`, JSON.stringify({ pid: dead, host: hostname(), nonce: 'gone' }))
      writeFileSync(`${path}.lock.break`, String(dead))
      const store = new FileStore({ path, lockTimeoutMs: 2000 })
      await store.saveToken(
        new OAuthToken({
          userSignature: new UserSignature('next@crash.example'),
          accessToken: 'x',
        }),
      )
      expect((await store.getTokens()).map((t) => t.accessToken)).toEqual(['x'])
      expect(readdirSync(directory)).toEqual(['sdk_tokens.txt'])
    },
    NO_CLOCK,
  )

  it(
    'SQLiteStore: every acknowledged save survives, integrity_check is ok',
    async () => {
      const report = await crashLoop('sqlite', 'SQLiteStore')
      expectSurvived(report)
      expectNoStrays(report)
    },
    NO_CLOCK,
  )
})
