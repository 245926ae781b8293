// Signed webhooks against real receivers: an HTTPS server with a self-signed certificate made
// for the test (openssl), and plain http on loopback. Delivery, signature check, retries after
// 5xx and 429, no redirect followed, giving up, timeouts, and no secret in errors or inspect.
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
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import {
  WebhookDeliveryError,
  WebhookSender,
  WebhookVerificationError,
  verifyWebhook,
  type WebhookEvent,
  type WebhookSenderOptions,
} from '../../src/keeper/webhook.ts'

const SECRET = `whsec_${Buffer.from('a-signing-key-of-32-bytes-long!!').toString('base64')}`
const KEY_TEXT = 'a-signing-key-of-32-bytes-long!!'
const FAILING = {
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

let tls: { key: string; cert: string }
let dir: string
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

interface Received {
  headers: IncomingMessage['headers']
  body: string
  path: string
  /** When it arrived, epoch milliseconds. */
  at: number
}

const servers: Server[] = []
const senders: WebhookSender[] = []
afterEach(async () => {
  for (const sender of senders.splice(0)) sender.close()
  await Promise.all(
    servers.splice(0).map((server) => {
      server.closeAllConnections()
      return new Promise((done) => server.close(done))
    }),
  )
})

/**
 * A receiver that answers each request with the next of `answers` (the last one repeats): a
 * status, `[status, location]` for a redirect, `[429, seconds]` with a Retry-After, or `'hang'`
 * for no answer at all.
 */
async function receiver(
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

function sender(options: Partial<WebhookSenderOptions> & { url: string }): WebhookSender {
  const made = new WebhookSender({ secret: SECRET, minDelayMs: 10, maxDelayMs: 50, ...options })
  senders.push(made)
  return made
}

/** Every text a sender or its error lets out, to look for the secret in. */
function texts(...values: unknown[]): string {
  return values
    .flatMap((value) => [
      inspect(value, { depth: 10, showHidden: true }),
      JSON.stringify(value) ?? '',
      String(value),
      value instanceof Error ? `${value.stack} ${inspect(value.cause, { depth: 10 })}` : '',
    ])
    .join('\n')
}

function expectNoSecret(text: string): void {
  for (const secret of [SECRET, KEY_TEXT, SECRET.slice(6), 'a-signing-key']) {
    expect(text).not.toContain(secret)
  }
}

describe('WebhookSender: delivery', () => {
  it('POSTs over HTTPS a signed JSON event that verifyWebhook accepts, with no secret in it', async () => {
    const { url, received } = await receiver([204], true)
    const webhooks = sender({ url, ca: tls.cert })
    const delivered: unknown[] = []
    webhooks.on('delivered', (info) => delivered.push(info))
    const event = await webhooks.send({ ...FAILING, data: { ...FAILING.data } })

    expect(received).toHaveLength(1)
    const [request] = received as [Received]
    expect(request.path).toBe('/hooks/tokens')
    expect(request.headers['content-type']).toBe('application/json')
    expect(request.headers['webhook-id']).toBe(event.id)
    expect(request.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/)
    expect(request.headers['webhook-timestamp']).toMatch(/^\d{10}$/)
    expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/)
    const verified = verifyWebhook({ secret: SECRET, headers: request.headers, body: request.body })
    expect(verified).toEqual(event)
    expect(verified).toEqual({
      type: 'token.failing',
      id: event.id,
      occurredAt: event.occurredAt,
      data: FAILING.data,
    })
    expect(Date.parse(verified.occurredAt)).toBeGreaterThan(Date.now() - 60_000)
    expect(delivered).toEqual([{ event, attempts: 1, status: 204 }])
    expectNoSecret(JSON.stringify(request))
  })

  it('refuses a certificate the system does not trust, at once (a retry would fail the same)', async () => {
    const { url, received } = await receiver([200], true)
    const error = await sender({ url, attempts: 3 })
      .send({ ...FAILING })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WebhookDeliveryError)
    expect(error).toMatchObject({ code: 'WEBHOOK_DELIVERY_FAILED', attempts: 1 })
    expect((error as Error).message).toMatch(/SELF_SIGNED|CERT/)
    expect(received).toHaveLength(0)
  })

  it('tries again after 500 and 429, with the same id, then is delivered', async () => {
    const { url, received } = await receiver([500, 429, 200])
    const delivered: Array<{ attempts: number }> = []
    const webhooks = sender({ url })
    webhooks.on('delivered', (info) => delivered.push(info))
    const event = await webhooks.send({
      type: 'token.recovered',
      data: { tokenId: '42', state: 'active' },
    })
    expect(received).toHaveLength(3)
    expect(new Set(received.map((r) => r.headers['webhook-id']))).toEqual(new Set([event.id]))
    for (const request of received) {
      expect(
        verifyWebhook({ secret: SECRET, headers: request.headers, body: request.body }),
      ).toEqual(event)
    }
    expect(delivered).toMatchObject([{ attempts: 3 }])
  })

  it("waits at least a 429's Retry-After before trying again", async () => {
    const { url, received } = await receiver([[429, '1'], 200])
    await sender({ url, maxDelayMs: 5000 }).send({ ...FAILING })
    expect(received).toHaveLength(2)
    const [first, second] = received.map((r) => r.at) as [number, number]
    expect(second - first).toBeGreaterThanOrEqual(1000)
  })

  it('never follows a redirect, nor tries again after one', async () => {
    const elsewhere = await receiver([200])
    const { url, received } = await receiver([[307, elsewhere.url]])
    const error = await sender({ url, attempts: 4 })
      .send({ ...FAILING })
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WebhookDeliveryError)
    expect(error).toMatchObject({ attempts: 1, status: 307 })
    expect((error as Error).message).toMatch(/redirect \(HTTP 307\), which is never followed/)
    expect(received).toHaveLength(1)
    expect(elsewhere.received).toHaveLength(0)
  })

  it('does not try again after a 4xx other than 429', async () => {
    const { url, received } = await receiver([400])
    const error = await sender({ url, attempts: 4 })
      .send({ ...FAILING })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ attempts: 1, status: 400 })
    expect(received).toHaveLength(1)
  })
})

describe('WebhookSender: giving up', () => {
  it('after N attempts of 503: rejects and emits failed, naming the origin alone, no secret', async () => {
    const { url, received } = await receiver([503])
    const webhooks = sender({ url: `${url}?path-secret=s3cr3t-path`, attempts: 3 })
    const failed: Array<{ event: WebhookEvent; error: WebhookDeliveryError }> = []
    webhooks.on('failed', (info) => failed.push(info))
    const error = await webhooks.send({ ...FAILING }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WebhookDeliveryError)
    expect(error).toMatchObject({ attempts: 3, status: 503, code: 'WEBHOOK_DELIVERY_FAILED' })
    expect((error as Error).message).toMatch(
      /^webhook token\.failing \(msg_[0-9a-f]{32}\) to http:\/\/127\.0\.0\.1:\d+ given up after 3 attempts: the receiver answered HTTP 503$/,
    )
    expect(received).toHaveLength(3)
    expect(failed).toHaveLength(1)
    expect(failed[0]!.error).toBe(error)
    const all = texts(error, webhooks, failed)
    expectNoSecret(all)
    expect(all).not.toContain('s3cr3t-path')
  })

  it('after N network failures, with the error code and the cause kept', async () => {
    const { url } = await receiver([200])
    const server = servers.pop()!
    await new Promise((done) => server.close(done))
    const error = await sender({ url, attempts: 2 })
      .send({ ...FAILING })
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ attempts: 2, status: undefined })
    expect((error as Error).message).toMatch(/the request failed \(ECONNREFUSED\)$/)
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' })
    expectNoSecret(texts(error))
  })

  it('gives each attempt timeoutMs, then tries again', async () => {
    const { url, received } = await receiver(['hang', 200])
    const started = Date.now()
    // Long enough for the second answer on a loaded machine, short enough for the test.
    await sender({ url, timeoutMs: 500 }).send({ ...FAILING })
    expect(received).toHaveLength(2)
    expect(Date.now() - started).toBeGreaterThanOrEqual(500)

    const hung = await receiver(['hang'])
    const error = await sender({ url: hung.url, timeoutMs: 100, attempts: 2 })
      .send({ ...FAILING })
      .catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/given up after 2 attempts: no answer within 100 ms$/)
  })

  it('close() gives up a delivery waiting for its retry', async () => {
    const { url } = await receiver([503])
    const webhooks = sender({ url, attempts: 5, minDelayMs: 60_000, maxDelayMs: 60_000 })
    const pending = webhooks.send({ ...FAILING }).catch((e: unknown) => e)
    await new Promise((resolve) => setTimeout(resolve, 100))
    webhooks.close()
    const error = await pending
    expect(error).toBeInstanceOf(WebhookDeliveryError)
    expect(error).toMatchObject({ attempts: 1 })
  })
})

describe('verifyWebhook', () => {
  async function delivered(): Promise<Received> {
    const { url, received } = await receiver([200])
    await sender({ url }).send({ ...FAILING })
    return received[0]!
  }

  it('refuses a tampered body, a wrong secret, a missing header, or a stale timestamp', async () => {
    const request = await delivered()
    const check = (changes: Partial<Parameters<typeof verifyWebhook>[0]>) => () =>
      verifyWebhook({ secret: SECRET, headers: request.headers, body: request.body, ...changes })
    expect(check({})()).toMatchObject({ type: 'token.failing' })
    // Bytes work as well as text.
    expect(check({ body: Buffer.from(request.body) })()).toMatchObject({ type: 'token.failing' })

    const tampered = request.body.replace('"42"', '"43"')
    expect(check({ body: tampered })).toThrow(WebhookVerificationError)
    expect(check({ body: tampered })).toThrow(/no webhook-signature matches the body/)
    expect(check({ secret: 'another-secret-of-at-least-24-bytes' })).toThrow(
      /no webhook-signature matches/,
    )
    const { 'webhook-signature': _dropped, ...unsigned } = request.headers
    expect(check({ headers: unsigned })).toThrow(/header is missing/)

    const sentAt = Number(request.headers['webhook-timestamp']) * 1000
    expect(check({ now: () => sentAt + 300_000 })()).toMatchObject({ type: 'token.failing' })
    expect(check({ now: () => sentAt + 301_000 })).toThrow(/not within 300 s of now/)
    expect(check({ now: () => sentAt - 301_000 })).toThrow(/not within 300 s of now/)
    expect(check({ now: () => sentAt + 11_000, toleranceSec: 10 })).toThrow(/not within 10 s/)
  })

  it('refuses a timestamp changed to look fresh, and accepts one right signature among several', async () => {
    const request = await delivered()
    const moved = String(Number(request.headers['webhook-timestamp']) + 1)
    expect(() =>
      verifyWebhook({
        secret: SECRET,
        headers: { ...request.headers, 'webhook-timestamp': moved },
        body: request.body,
      }),
    ).toThrow(/no webhook-signature matches/)
    const signature = request.headers['webhook-signature'] as string
    const rotated = `v1,${Buffer.alloc(32).toString('base64')} v2,abc ${signature}`
    const headers = new Headers()
    for (const name of ['webhook-id', 'webhook-timestamp'] as const) {
      headers.set(name, request.headers[name] as string)
    }
    headers.set('webhook-signature', rotated)
    expect(verifyWebhook({ secret: SECRET, headers, body: request.body })).toMatchObject({
      data: { tokenId: '42' },
    })
  })

  it('takes the secret as whsec_ base64 or as plain text, the same key', async () => {
    const { url, received } = await receiver([200])
    await sender({ url, secret: KEY_TEXT }).send({ ...FAILING })
    const [request] = received as [Received]
    expect(
      verifyWebhook({ secret: SECRET, headers: request.headers, body: request.body }),
    ).toMatchObject({ type: 'token.failing' })
  })
})

describe('WebhookSender: options', () => {
  it.each([
    [
      { url: 'http://hooks.example/x' },
      'url',
      /url must be https \(plain http only to this machine/,
    ],
    [{ url: 'ftp://127.0.0.1/x' }, 'url', /url must be https/],
    [{ url: 'hooks/tokens' }, 'url', /url must be an absolute URL/],
    [{ url: 'https://user:pw@hooks.example/x' }, 'url', /must not hold a user name or password/],
    [{ secret: 'short' }, 'secret', /secret is too short: give at least 24 bytes/],
    [{ secret: 'whsec_c2hvcnQ=' }, 'secret', /secret is too short/],
    [{ attempts: 0 }, 'attempts', /attempts must be a whole number of at least 1/],
    [{ timeoutMs: 1.5 }, 'timeoutMs', /timeoutMs must be a whole number/],
    [{ retries: 3 }, 'retries', /WebhookSender has no option 'retries'/],
  ])('refuses %j with InvalidArgumentError naming it', (options, argument, message) => {
    const make = () =>
      new WebhookSender({ url: 'https://hooks.example/x', secret: SECRET, ...options })
    expect(make).toThrow(InvalidArgumentError)
    expect(make).toThrow(message)
    expect(() => make()).toThrow(expect.objectContaining({ argument }) as Error)
    expectNoSecret(
      texts(
        (() => {
          try {
            make()
          } catch (err) {
            return err
          }
        })(),
      ),
    )
  })

  it('refuses data that could carry a secret, or an unknown type or state, before sending', async () => {
    const { url, received } = await receiver([200])
    const webhooks = sender({ url })
    const data = { tokenId: '42', state: 'failing' } as const
    for (const [input, message] of [
      [
        { type: 'token.failing', data: { ...data, accessToken: '1000.abc' } },
        /no option 'accessToken'/,
      ],
      [{ type: 'token.saved', data }, /type must be one of/],
      [{ type: 'token.failing', data: { ...data, state: 'dead' } }, /data.state must be one of/],
      [{ type: 'token.failing', data: { state: 'failing' } }, /data.tokenId must be/],
      [{ type: 'token.failing', data, id: 'a b\r\nx-evil: 1' }, /id must be 1 to 100/],
      [{ type: 'token.failing', data, occurredAt: new Date('nope') }, /occurredAt must be a valid/],
    ] as const) {
      await expect(webhooks.send(input as never)).rejects.toThrow(message)
    }
    expect(received).toHaveLength(0)
  })

  it('shows neither the key nor the path in inspect or JSON', () => {
    const webhooks = new WebhookSender({
      url: 'https://hooks.example/t/s3cr3t-path',
      secret: SECRET,
    })
    expect(inspect(webhooks)).toBe(
      "WebhookSender { receiver: 'https://hooks.example', attempts: 5 }",
    )
    expect(JSON.stringify(webhooks)).toBe('{"receiver":"https://hooks.example"}')
    expectNoSecret(texts(webhooks))
  })
})
