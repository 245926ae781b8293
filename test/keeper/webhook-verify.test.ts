// Checking a webhook as a receiver does (signature, timestamp tolerance, secret forms), and the
// sender's options refused when wrong, before anything is sent.
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import { WebhookSender, WebhookVerificationError, verifyWebhook } from '../../src/keeper/webhook.ts'
import {
  FAILING,
  KEY_TEXT,
  SECRET,
  expectNoSecret,
  receiver,
  sender,
  texts,
  useReceivers,
  type Received,
} from './receivers.ts'

useReceivers()

const ZOHO_TOKEN = `1000.${'ab'.repeat(16)}.${'cd'.repeat(16)}`

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
    [{ concurrency: 0 }, 'concurrency', /concurrency must be a whole number of at least 1/],
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
      [
        { type: 'token.failing', data: { ...data, user: ZOHO_TOKEN } },
        /data.user looks like a secret/,
      ],
      [
        { type: 'token.failing', data: { ...data, lastErrorCode: `Bearer ${ZOHO_TOKEN}` } },
        /data.lastErrorCode looks like a secret/,
      ],
      [
        { type: 'token.failing', data: { ...data, attempts: 1.5 } },
        /data.attempts must be a whole/,
      ],
      [
        { type: 'token.failing', data: { ...data, nextAttemptAt: 'soon' } },
        /data.nextAttemptAt must/,
      ],
      [{ type: 'token.failing', data: { ...data, user: 42 } }, /data.user must be a string/],
      [{ type: 'token.failing', data, id: 'a b\r\nx-evil: 1' }, /id must be 1 to 100/],
      [{ type: 'token.failing', data, occurredAt: new Date('nope') }, /occurredAt must be a valid/],
    ] as const) {
      const error = await webhooks.send(input as never).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect((error as Error).message).toMatch(message)
      expect((error as Error).message).not.toContain(ZOHO_TOKEN)
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
