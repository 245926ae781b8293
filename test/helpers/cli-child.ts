// The CLI as a child process whose output a test watches as it comes.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')

export interface Child {
  /** Resolves when the output so far matches. */
  saw(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<void>
  readonly done: Promise<{ code: number | null; stdout: string; stderr: string }>
  /** Sends the process a signal. */
  kill(signal: NodeJS.Signals): void
}

/** The CLI as a child process, its output watched as it comes. */
export function cli(args: string[]): Child {
  const env = { ...process.env }
  for (const name of ['TOKENKEEPER_STORE', 'TOKENKEEPER_KEYS', 'TOKENKEEPER_ACTIVE_KEY']) {
    delete env[name]
  }
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out = { stdout: '', stderr: '' }
  const watchers: { stream: 'stdout' | 'stderr'; pattern: RegExp; done: () => void }[] = []
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].on('data', (chunk: Buffer) => {
      out[stream] += chunk.toString()
      for (const watcher of watchers.filter((w) => w.stream === stream)) {
        if (watcher.pattern.test(out[stream])) {
          watchers.splice(watchers.indexOf(watcher), 1)
          watcher.done()
        }
      }
    })
  }
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, ...out })),
  )
  return {
    saw: (stream, pattern) =>
      pattern.test(out[stream])
        ? Promise.resolve()
        : new Promise((resolve) => watchers.push({ stream, pattern, done: resolve })),
    done,
    kill: (signal) => void child.kill(signal),
  }
}
