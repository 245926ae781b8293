// Runs the worker processes of the lease tests and freezes one of them with SIGSTOP.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Initializer, OAuthToken, UserSignature } from '../../src/index.ts'
import type { AccountsEmulator } from '../../src/testing/index.ts'
import { openStore, type WorkerSpec } from '../children/lease-stores.ts'
import { scratchPath } from './common.ts'

const WORKER = fileURLToPath(new URL('../children/lease-worker.ts', import.meta.url))
/** The token lease of these tests (ms). */
export const LEASE_MS = 300
/** How long the accounts emulator takes to answer (ms): longer than the lease. */
export const LATENCY_MS = 1000
export const PROCESSES = 3
export const CALLERS = 5

export interface WorkerResult {
  pid: number
  tokens: string[]
  errors: string[]
  events: string[]
  timeline: [string, number][]
}

/** Whether a process is stopped (state T in /proc), to be sure SIGSTOP landed. */
function stopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'T'
}

/**
 * Runs the worker processes; the one that prints STALL is stopped with SIGSTOP for `stallMs`,
 * then continued. Resolves to each worker's result and how many were stopped.
 */
export async function runWorkers(
  dir: string,
  spec: Omit<WorkerSpec, 'barrier' | 'processes' | 'callers' | 'stallMarker'>,
  stallMs: number,
): Promise<{ results: WorkerResult[]; stalls: number }> {
  const barrier = scratchPath(dir, 'barrier')
  writeFileSync(barrier, '')
  const full: WorkerSpec = {
    ...spec,
    barrier,
    processes: PROCESSES,
    callers: CALLERS,
    stallMarker: scratchPath(dir, 'stall'),
  }
  const children: ChildProcess[] = []
  let stalls = 0
  try {
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () => {
        const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(full)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        children.push(child)
        let out = ''
        let err = ''
        let handled = false
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (!handled && out.includes('STALL\n')) {
            handled = true
            child.kill('SIGSTOP')
            // The worker holds still until the signal lands; make sure it did.
            const deadline = Date.now() + 200
            while (!stopped(child.pid!) && Date.now() < deadline);
            if (stopped(child.pid!)) stalls += 1
            setTimeout(() => child.kill('SIGCONT'), stallMs)
          }
        })
        return new Promise<WorkerResult>((resolve, reject) => {
          child.on('error', reject)
          child.on('close', (code) => {
            const last = out.trim().split('\n').at(-1) ?? ''
            if (code !== 0 || !last.startsWith('{')) {
              reject(new Error(`worker ${child.pid} exited with ${code}: ${err.slice(0, 2000)}`))
              return
            }
            resolve({ pid: child.pid!, ...(JSON.parse(last) as Omit<WorkerResult, 'pid'>) })
          })
        })
      }),
    )
    return { results, stalls }
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT')
        child.kill('SIGKILL')
      }
    }
  }
}

/** The events of every worker in time order, for reading a run. */
export function timelineOf(results: WorkerResult[]): string {
  const all = results.flatMap((r) => r.timeline.map(([event, at]) => ({ pid: r.pid, event, at })))
  const start = Math.min(...all.map((e) => e.at))
  return all
    .sort((x, y) => x.at - y.at)
    .map((e) => `${String(e.at - start).padStart(5)} ms  ${e.pid}  ${e.event}`)
    .join('\n')
}

/** A token signed in through the emulator and saved, then made to expire now. */
export async function expiredToken(
  emulator: AccountsEmulator,
  storeSpec: WorkerSpec['store'],
): Promise<{ id: string; refreshToken: string }> {
  const client = emulator.clients[0]!
  const store = await openStore(storeSpec)
  try {
    const session = await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({
        userSignature: new UserSignature('ada@zylker.example'),
        clientId: client.clientId,
        clientSecret: client.clientSecret,
        grantToken: emulator.issueGrantCode(),
      }),
    })
    const stored = (await store.findTokenById(session.id!))!
    stored.expiryTime = Date.now() - 1000
    await store.saveToken(stored)
    return { id: stored.id!, refreshToken: stored.refreshToken! }
  } finally {
    await store.close?.()
  }
}

export async function storedToken(storeSpec: WorkerSpec['store'], id: string): Promise<OAuthToken> {
  const store = await openStore(storeSpec)
  try {
    return (await store.findTokenById(id))!
  } finally {
    await store.close?.()
  }
}
