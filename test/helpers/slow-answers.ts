// A real HTTP proxy in front of the accounts emulator that holds back the answers to refreshes:
// the emulator has already rotated the refresh token, the client has not heard of it yet. That is
// the moment a refresh is most fragile, and the moment maintenance must not write.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Environment } from '../../src/index.ts'

/** A proxy from {@link slowAnswers}. */
export interface SlowAnswers {
  /** The proxy's URL: use it as the accounts URL (and API domain). */
  readonly url: string
  readonly environment: Environment
  /** Holds the answers of the next `count` refreshes until {@link release}, or `ms` if given. */
  hold(count: number, ms?: number): void
  /** Resolves once `count` refresh answers (counted from the start) are being held. */
  held(count?: number): Promise<void>
  /** Lets every held answer go. */
  release(): void
  close(): Promise<void>
}

/** Starts a proxy to `upstream` (an emulator's URL). */
export async function slowAnswers(upstream: string): Promise<SlowAnswers> {
  let toHold = 0
  let holdMs: number | undefined
  let heldSoFar = 0
  let waiting: (() => void)[] = []
  const watchers: { count: number; done: () => void }[] = []

  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
    const body = Buffer.concat(chunks)
    const refresh =
      req.url === '/oauth/v2/token' && /grant_type=refresh_token/.test(body.toString('utf8'))
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) {
        headers.set(name, value)
      }
    }
    const answer = await fetch(new URL(req.url ?? '/', upstream), {
      method: req.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
    })
    const text = Buffer.from(await answer.arrayBuffer())
    if (refresh && toHold > 0) {
      toHold -= 1
      heldSoFar += 1
      for (const watcher of watchers.filter((w) => heldSoFar >= w.count)) {
        watchers.splice(watchers.indexOf(watcher), 1)
        watcher.done()
      }
      await new Promise<void>((resolve) => {
        waiting.push(resolve)
        if (holdMs !== undefined) setTimeout(resolve, holdMs)
      })
    }
    const out: Record<string, string> = {}
    answer.headers.forEach((value, name) => {
      if (!['content-length', 'transfer-encoding', 'connection'].includes(name)) out[name] = value
    })
    res.writeHead(answer.status, out).end(text)
  }

  const server = createServer((req, res) => {
    forward(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end()
      else res.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const release = (): void => {
    const now = waiting
    waiting = []
    for (const resolve of now) resolve()
  }
  return {
    url,
    environment: new Environment({ name: 'slow-emulator', apiDomain: url, accountsUrl: url }),
    hold(count, ms) {
      toHold = count
      holdMs = ms
    },
    held(count = 1) {
      if (heldSoFar >= count) return Promise.resolve()
      return new Promise((done) => watchers.push({ count, done }))
    },
    release,
    async close() {
      release()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
