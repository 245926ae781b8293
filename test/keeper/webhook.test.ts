// Signed webhooks sent to real receivers (HTTPS with a self-signed certificate, http on
// loopback): delivery, retries after 5xx and 429 and Retry-After, no redirect followed, a bound
// on requests in flight, giving up, timeouts, and no secret in errors or inspect.
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { WebhookDeliveryError, verifyWebhook, type WebhookEvent } from '../../src/keeper/webhook.ts'
import {
  FAILING,
  SECRET,
  closeLast,
  expectNoSecret,
  receiver,
  sender,
  texts,
  tls,
  track,
  useReceivers,
  type Received,
} from './receivers.ts'

useReceivers()

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

describe('WebhookSender: a storm', () => {
  it('sends at most `concurrency` requests at once, and delivers them all', async () => {
    let inFlight = 0
    let most = 0
    const bodies: string[] = []
    const server = track(
      createHttpServer((req, res) => {
        inFlight += 1
        most = Math.max(most, inFlight)
        const chunks: Buffer[] = []
        req.on('data', (chunk: Buffer) => chunks.push(chunk))
        req.on('end', () => {
          bodies.push(Buffer.concat(chunks).toString('utf8'))
          // Held a moment, so that the requests overlap.
          setTimeout(() => {
            inFlight -= 1
            res.writeHead(204).end()
          }, 20)
        })
      }),
    )
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const webhooks = sender({ url: `http://127.0.0.1:${port}/hooks`, concurrency: 3 })
    const events = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        webhooks.send({ type: 'token.failing', data: { tokenId: String(i), state: 'failing' } }),
      ),
    )
    expect(events).toHaveLength(20)
    expect(bodies).toHaveLength(20)
    expect(most).toBe(3)
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
    await closeLast()
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
