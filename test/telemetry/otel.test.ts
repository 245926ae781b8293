// OpenTelemetry: the spans and metrics of a web login, a forced refresh, a keeper pass with a
// failure and a revoke, read from the SDK's in-memory exporters; none carries a secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import {
  Initializer,
  MemoryStore,
  OAuthToken,
  TokenKeeper,
  UserSignature,
  instrumentTokenkeeper,
} from '../../src/index.ts'
import { recordUse } from '../../src/usage.ts'
import { signIn, startAccountsEmulator, type AccountsEmulator } from '../../src/testing/index.ts'

/** A reader collected on demand. */
class Reader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

let emulator: AccountsEmulator
beforeAll(async () => {
  emulator = await startAccountsEmulator({ accessTokenLimit: false, rotateRefreshTokens: true })
})
afterAll(async () => {
  await emulator.close()
})

/** Each metric's data points by name: attributes and value (a sum, or a histogram's count). */
function points(metrics: ResourceMetrics): Map<string, { attributes: object; value: unknown }[]> {
  const out = new Map<string, { attributes: object; value: unknown }[]>()
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      out.set(
        metric.descriptor.name,
        metric.dataPoints.map((p) => ({
          attributes: p.attributes,
          value: typeof p.value === 'object' ? (p.value as { count: number }).count : p.value,
        })),
      )
    }
  }
  return out
}

describe('instrumentTokenkeeper', () => {
  it('spans for exchange, refresh (with its store calls inside), revoke; metrics; no secret', async () => {
    const exporter = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    })
    const reader = new Reader()
    const meterProvider = new MeterProvider({ readers: [reader] })
    const store = new MemoryStore()
    const telemetry = await instrumentTokenkeeper({
      tracerProvider,
      meterProvider,
      store,
      stateIntervalMs: 0,
    })
    const secrets: string[] = []
    try {
      const session = await signIn(emulator, { store, user: 'otel@example.com' })
      secrets.push(
        emulator.clients[0]!.clientSecret,
        session.token.refreshToken!,
        session.token.accessToken!,
      )
      const refreshed = await session.refresh({ force: true })
      secrets.push(refreshed.refreshToken!, refreshed.accessToken!)

      // A failing refresh, through a keeper pass.
      const stored = (await store.findTokenById(session.id!))!
      stored.expiryTime = Date.now() - 1000
      await store.saveToken(stored)
      emulator.fail('http503', { times: 1, on: 'refresh' })
      const keeper = new TokenKeeper({ store, environment: emulator.environment, retries: 0 })
      expect(await keeper.runOnce()).toMatchObject({ failed: 1 })

      const spans = exporter.getFinishedSpans()
      const names = spans.map((s) => s.name)
      expect(names).toContain('tokenkeeper.exchange')
      expect(names.filter((n) => n === 'tokenkeeper.refresh')).toHaveLength(2)
      const refresh = spans.find((s) => s.name === 'tokenkeeper.refresh')!
      expect(refresh.attributes).toMatchObject({
        'tokenkeeper.token.id': session.id,
        'tokenkeeper.refresh.force': true,
        'tokenkeeper.refresh.outcome': 'refreshed',
      })
      const inside = spans.filter(
        (s) => s.parentSpanContext?.spanId === refresh.spanContext().spanId,
      )
      expect(inside.map((s) => s.name)).toEqual(
        expect.arrayContaining(['tokenkeeper.store.findById', 'tokenkeeper.store.saveIf']),
      )
      expect(inside.find((s) => s.name === 'tokenkeeper.store.findById')!.attributes).toMatchObject(
        {
          'tokenkeeper.store.name': 'MemoryStore',
        },
      )
      const failed = spans.filter((s) => s.name === 'tokenkeeper.refresh').at(-1)!
      expect(failed.status.code).toBe(2)
      expect(failed.attributes['error.type']).toBe('SERVER_ERROR')

      await session.revoke()
      expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('tokenkeeper.revoke')

      const { resourceMetrics } = await reader.collect()
      const metrics = points(resourceMetrics)
      expect(metrics.get('tokenkeeper.refreshes')).toEqual(
        expect.arrayContaining([
          { attributes: { 'tokenkeeper.refresh.outcome': 'refreshed' }, value: 1 },
          {
            attributes: { 'tokenkeeper.refresh.outcome': 'failed', 'error.type': 'SERVER_ERROR' },
            value: 1,
          },
        ]),
      )
      expect(metrics.get('tokenkeeper.refresh.duration')!.length).toBeGreaterThan(0)
      expect(metrics.get('tokenkeeper.token.state.changes')).toEqual([
        { attributes: { 'tokenkeeper.token.state': 'failing' }, value: 1 },
      ])
      expect(metrics.get('tokenkeeper.keeper.tokens')).toEqual([
        { attributes: { 'tokenkeeper.keeper.result': 'failed' }, value: 1 },
      ])
      expect(metrics.has('tokenkeeper.keeper.pass.duration')).toBe(true)
      expect(metrics.has('tokenkeeper.tokens')).toBe(true)
      // The exchange and each refresh took from Zoho's budgets (the emulator's environment has them).
      expect(metrics.get('tokenkeeper.budget.remaining')).toEqual(
        expect.arrayContaining([
          { attributes: { 'tokenkeeper.budget.kind': 'exchange' }, value: 1 },
          { attributes: { 'tokenkeeper.budget.kind': 'refresh' }, value: 2 },
        ]),
      )

      const everything = JSON.stringify({
        spans: exporter
          .getFinishedSpans()
          .map((s) => ({ n: s.name, a: s.attributes, st: s.status, e: s.events })),
        metrics: [...metrics.entries()],
      })
      for (const secret of secrets) expect(everything).not.toContain(secret.slice(0, 16))
    } finally {
      telemetry.uninstall()
    }
  })

  it('counts the stored tokens by state in the tokens gauge', async () => {
    const reader = new Reader()
    const store = new MemoryStore()
    await store.saveToken(
      new OAuthToken({ userSignature: new UserSignature('a@example.com'), accessToken: 'x' }),
    )
    await store.saveToken(
      new OAuthToken({ userSignature: new UserSignature('b@example.com'), accessToken: 'y' }),
    )
    const telemetry = await instrumentTokenkeeper({
      meterProvider: new MeterProvider({ readers: [reader] }),
      store,
    })
    try {
      const metrics = points((await reader.collect()).resourceMetrics)
      expect(metrics.get('tokenkeeper.tokens')).toEqual(
        expect.arrayContaining([
          { attributes: { 'tokenkeeper.token.state': 'active' }, value: 2 },
          { attributes: { 'tokenkeeper.token.state': 'failing' }, value: 0 },
        ]),
      )
    } finally {
      telemetry.uninstall()
    }
  })

  it('a keeper that keeps only tokens in use counts the idle ones it leaves', async () => {
    const reader = new Reader()
    const store = new MemoryStore()
    const telemetry = await instrumentTokenkeeper({
      meterProvider: new MeterProvider({ readers: [reader] }),
    })
    try {
      const session = await signIn(emulator, { store, user: 'idle-otel@example.com' })
      const token = session.token
      token.expiryTime = Date.now() - 1000
      await store.saveToken(token)
      const keeper = new TokenKeeper({
        store,
        environment: emulator.environment,
        usedWithinMs: 86_400_000,
      })
      expect(await keeper.runOnce()).toMatchObject({ due: 1, idle: 1, refreshed: 0 })
      const metrics = points((await reader.collect()).resourceMetrics)
      expect(metrics.get('tokenkeeper.keeper.tokens')).toEqual([
        { attributes: { 'tokenkeeper.keeper.result': 'idle' }, value: 1 },
      ])
    } finally {
      telemetry.uninstall()
    }
  })

  it('a recorded use is traced as the store calls it makes', async () => {
    const exporter = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    })
    const store = new MemoryStore()
    const session = await signIn(emulator, { store, user: 'use-otel@example.com' })
    const telemetry = await instrumentTokenkeeper({ tracerProvider })
    try {
      expect(await recordUse(store, session.id!, Date.now())).toBe(true)
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(
        expect.arrayContaining(['tokenkeeper.store.findById', 'tokenkeeper.store.saveHealth']),
      )
    } finally {
      telemetry.uninstall()
    }
  })

  it('after uninstall, nothing is traced', async () => {
    const exporter = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    })
    const telemetry = await instrumentTokenkeeper({ tracerProvider })
    telemetry.uninstall()
    const store = new MemoryStore()
    const { clientId, clientSecret } = emulator.clients[0]!
    await Initializer.initialize({
      environment: emulator.environment,
      store,
      token: new OAuthToken({ clientId, clientSecret, grantToken: emulator.issueGrantCode() }),
    })
    expect(exporter.getFinishedSpans()).toEqual([])
  })
})
