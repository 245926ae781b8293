// Real receivers for the webhook tests: an HTTPS server with a self-signed certificate made by
// openssl for the run, or plain http on loopback, each answering as a test scripts it; and the
// checks that no secret is let out. `useReceivers()` registers the set-up and the clean-up.
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import { WebhookSender, type WebhookSenderOptions } from '../../src/keeper/webhook.ts'

export const SECRET = `whsec_${Buffer.from('a-signing-key-of-32-bytes-long!!').toString('base64')}`
export const KEY_TEXT = 'a-signing-key-of-32-bytes-long!!'
export const FAILING = {
  type: 'token.failing',
  data: {
    tokenId: '42',
    user: 'ada@zylker.example',
    state: 'failing',
    attempts: 2,
    nextAttemptAt: '2026-11-30T13:00:00.000Z',
    lastErrorCode: 'NETWORK_ERROR',
  },
} as const

/** The certificate and key of the HTTPS receivers, made once per test file. */
export let tls: { key: string; cert: string }
let dir: string
const servers: Server[] = []
const senders: WebhookSender[] = []

/** Makes the certificate before the tests, closes every receiver and sender after each. */
export function useReceivers(): void {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'webhook-tls-'))
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    )
    tls = {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    }
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  afterEach(async () => {
    for (const sender of senders.splice(0)) sender.close()
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections()
        return new Promise((done) => server.close(done))
      }),
    )
  })
}

export interface Received {
  headers: IncomingMessage['headers']
  body: string
  path: string
  /** When it arrived, epoch milliseconds. */
  at: number
}

/**
 * A receiver that answers each request with the next of `answers` (the last one repeats): a
 * status, `[status, location]` for a redirect, `[429, seconds]` with a Retry-After, or `'hang'`
 * for no answer at all.
 */
export async function receiver(
  answers: Array<number | [number, string] | 'hang'>,
  secure = false,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      received.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        path: req.url ?? '',
        at: Date.now(),
      })
      const answer = answers[Math.min(received.length, answers.length) - 1]!
      if (answer === 'hang') return
      // [3xx, location] redirects; [429, seconds] asks to wait.
      const [status, value] = Array.isArray(answer) ? answer : [answer]
      const headers =
        value === undefined ? {} : status === 429 ? { 'retry-after': value } : { location: value }
      res.writeHead(status, headers).end('{"ok":true}')
    })
  }
  const server = secure ? createHttpsServer(tls, handler) : createHttpServer(handler)
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return { url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}/hooks/tokens`, received }
}

export function sender(options: Partial<WebhookSenderOptions> & { url: string }): WebhookSender {
  const made = new WebhookSender({ secret: SECRET, minDelayMs: 10, maxDelayMs: 50, ...options })
  senders.push(made)
  return made
}

/** Every text a sender or its error lets out, to look for the secret in. */
export function texts(...values: unknown[]): string {
  return values
    .flatMap((value) => [
      inspect(value, { depth: 10, showHidden: true }),
      JSON.stringify(value) ?? '',
      String(value),
      value instanceof Error ? `${value.stack} ${inspect(value.cause, { depth: 10 })}` : '',
    ])
    .join('\n')
}

export function expectNoSecret(text: string): void {
  for (const secret of [SECRET, KEY_TEXT, SECRET.slice(6), 'a-signing-key']) {
    expect(text).not.toContain(secret)
  }
}

/** A loopback http server of the test's own, closed after it like the receivers. */
export function track(server: Server): Server {
  servers.push(server)
  return server
}

/** Closes the last receiver made, for a test that needs a port nobody listens on. */
export async function closeLast(): Promise<void> {
  const server = servers.pop()!
  await new Promise((done) => server.close(done))
}
