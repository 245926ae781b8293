import * as diagnostics from 'node:diagnostics_channel'
import type * as OTel from '@opentelemetry/api'
import { SDKException } from '../errors.js'
import type { TokenEventName, TokenEvents } from '../events.js'
import { storeStatus } from '../keeper/status.js'
import type { TokenStore } from '../store.js'
import { TRACED, tracingChannelOf, type TraceContext } from './tracing.js'

/** A `TracerProvider` of `@opentelemetry/api` (structurally, so that the API stays optional). */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): unknown
}
/** A `MeterProvider` of `@opentelemetry/api`. */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): unknown
}

/** What {@link instrumentTokenkeeper} takes. */
export interface InstrumentOptions {
  /** Default: the global one of `@opentelemetry/api`. */
  tracerProvider?: TracerProviderLike | undefined
  /** Default: the global one of `@opentelemetry/api`. */
  meterProvider?: MeterProviderLike | undefined
  /**
   * With a store, the gauge `tokenkeeper.tokens` counts its tokens by state: a pass over the
   * store at most every `stateIntervalMs` (default 60000), in the background.
   */
  store?: TokenStore | undefined
  stateIntervalMs?: number | undefined
}

/** Instrumentation in place; `uninstall()` stops it. */
export interface Instrumentation {
  uninstall(): void
}

const SCOPE = 'tokenkeeper'
const SPAN = Symbol('tokenkeeper.span')
const STARTED = Symbol('tokenkeeper.started')

/**
 * Turns tokenkeeper's tracing channels and events into OpenTelemetry spans and metrics, through
 * `@opentelemetry/api` (an optional peer dependency: install it, and an SDK, to use this).
 * Spans: `tokenkeeper.exchange`, `tokenkeeper.refresh`, `tokenkeeper.revoke`,
 * `tokenkeeper.store.<operation>`, nested as they ran. Metrics: see docs/operations.md. Spans
 * and metrics carry token ids, user-free outcomes, store names and error codes: never a secret.
 *
 * @example
 * const telemetry = await instrumentTokenkeeper({ store })
 * // ... later
 * telemetry.uninstall()
 */
export async function instrumentTokenkeeper(
  options: InstrumentOptions = {},
): Promise<Instrumentation> {
  let api: typeof OTel
  try {
    api = await import('@opentelemetry/api')
  } catch (err) {
    throw new SDKException(
      'OPTIONAL_DEPENDENCY_MISSING',
      'instrumentTokenkeeper needs @opentelemetry/api: npm install @opentelemetry/api (and an SDK, such as @opentelemetry/sdk-node)',
      { cause: err },
    )
  }
  const tracer = (
    (options.tracerProvider ?? api.trace.getTracerProvider()) as OTel.TracerProvider
  ).getTracer(SCOPE)
  const meter = (
    (options.meterProvider ?? api.metrics.getMeterProvider()) as OTel.MeterProvider
  ).getMeter(SCOPE)
  const undo: (() => void)[] = []

  // Spans, parented as the operations nested.
  for (const operation of TRACED) {
    const channel = tracingChannelOf(operation)
    const handlers = {
      start(context: TraceContext) {
        const parentSpan = context.parent?.[SPAN] as OTel.Span | undefined
        const parent = parentSpan
          ? api.trace.setSpan(api.context.active(), parentSpan)
          : api.context.active()
        context[SPAN] = tracer.startSpan(
          context.name,
          {
            kind: operation === 'store' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL,
            attributes: defined(context.attributes),
          },
          parent,
        )
        context[STARTED] = performance.now()
      },
      end() {},
      asyncStart() {},
      asyncEnd(context: TraceContext) {
        const span = context[SPAN] as OTel.Span | undefined
        if (!span) return
        const outcome = outcomeOf(context.result)
        if (outcome) span.setAttribute('tokenkeeper.refresh.outcome', outcome)
        if (operation === 'refresh' && context.error === undefined) {
          refreshes.add(1, { 'tokenkeeper.refresh.outcome': outcome ?? 'refreshed' })
          refreshDuration.record(seconds(context), {
            'tokenkeeper.refresh.outcome': outcome ?? 'refreshed',
          })
        }
        span.end()
      },
      error(context: TraceContext) {
        const span = context[SPAN] as OTel.Span | undefined
        const code = codeOf(context.error)
        if (operation === 'refresh') {
          const outcome = code === 'REAUTH_REQUIRED' ? 'reauth_required' : 'failed'
          refreshes.add(1, { 'tokenkeeper.refresh.outcome': outcome, 'error.type': code })
          refreshDuration.record(seconds(context), { 'tokenkeeper.refresh.outcome': outcome })
        }
        if (!span) return
        // The error's code only: its message may quote what a server said.
        span.setAttribute('error.type', code)
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: code })
      },
    }
    channel.subscribe(handlers)
    undo.push(() => channel.unsubscribe(handlers))
  }

  // Metrics.
  const refreshes = meter.createCounter('tokenkeeper.refreshes', {
    description: 'Refreshes asked of the refresh coordination, by outcome',
    unit: '{refresh}',
  })
  const refreshDuration = meter.createHistogram('tokenkeeper.refresh.duration', {
    description: 'How long a refresh took, lease and store included',
    unit: 's',
  })
  const leaseWait = meter.createHistogram('tokenkeeper.lease.wait.duration', {
    description: "How long a refresh waited for the token's lease",
    unit: 's',
  })
  const stateChanges = meter.createCounter('tokenkeeper.token.state.changes', {
    description: 'Changes of a token state, by the state entered',
    unit: '{change}',
  })
  const passDuration = meter.createHistogram('tokenkeeper.keeper.pass.duration', {
    description: 'How long a keeper pass took',
    unit: 's',
  })
  const passTokens = meter.createCounter('tokenkeeper.keeper.tokens', {
    description: 'Due tokens met by keeper passes, by what became of them',
    unit: '{token}',
  })
  const on = <N extends TokenEventName>(
    name: N,
    handler: (event: TokenEvents[N]) => void,
  ): void => {
    const listener = (event: unknown) => handler(event as TokenEvents[N])
    diagnostics.subscribe(`tokenkeeper:${name}`, listener)
    undo.push(() => diagnostics.unsubscribe(`tokenkeeper:${name}`, listener))
  }
  on('token.lock_waited', (e) => leaseWait.record(e.waitedMs / 1000))
  on('token.failing', () => stateChanges.add(1, { 'tokenkeeper.token.state': 'failing' }))
  on('token.recovered', () => stateChanges.add(1, { 'tokenkeeper.token.state': 'active' }))
  on('token.reauthRequired', () =>
    stateChanges.add(1, { 'tokenkeeper.token.state': 'reauth_required' }),
  )
  const budgetRemaining = meter.createHistogram('tokenkeeper.budget.remaining', {
    description: "Uses left in a provider budget's window after each use taken",
    unit: '{use}',
  })
  const budgetRefusals = meter.createCounter('tokenkeeper.budget.refusals', {
    description: 'Uses refused because a provider budget was spent (nothing was sent)',
    unit: '{use}',
  })
  on('budget.taken', (e) => {
    if (e.granted) budgetRemaining.record(e.remaining, { 'tokenkeeper.budget.kind': e.kind })
    else budgetRefusals.add(1, { 'tokenkeeper.budget.kind': e.kind })
  })
  on('keeper.pass', (e) => {
    passDuration.record(e.durationMs / 1000)
    for (const what of [
      'refreshed',
      'fresh',
      'busy',
      'failed',
      'reauthRequired',
      'deferred',
      'limited',
      'skipped',
      'idle',
    ] as const) {
      if (e[what] > 0) passTokens.add(e[what], { 'tokenkeeper.keeper.result': what })
    }
  })

  // Tokens by state: a pass over the store now and then, never more than one at a time.
  const { store, stateIntervalMs = 60_000 } = options
  if (store) {
    let counts: Record<string, number> | undefined
    let countedAt = -Infinity
    let counting: Promise<void> | undefined
    const recount = (): void => {
      if (counting || performance.now() - countedAt < stateIntervalMs) return
      counting = storeStatus(store, Date.now())
        .then((status) => {
          counts = status.states
          countedAt = performance.now()
        })
        .catch(() => undefined)
        .finally(() => {
          counting = undefined
        })
    }
    const gauge = meter.createObservableGauge('tokenkeeper.tokens', {
      description: 'Stored tokens by state (counted at most every stateIntervalMs)',
      unit: '{token}',
    })
    const observe = (result: OTel.ObservableResult): void => {
      recount()
      for (const [state, n] of Object.entries(counts ?? {})) {
        result.observe(n, { 'tokenkeeper.token.state': state })
      }
    }
    gauge.addCallback(observe)
    undo.push(() => gauge.removeCallback(observe))
    recount()
    await counting
  }
  return {
    uninstall() {
      for (const step of undo.splice(0)) step()
    },
  }
}

function defined(
  attributes: TraceContext['attributes'],
): Record<string, string | number | boolean> {
  return Object.fromEntries(
    Object.entries(attributes).filter(
      (entry): entry is [string, string | number | boolean] => entry[1] !== undefined,
    ),
  )
}

function seconds(context: TraceContext): number {
  const started = context[STARTED]
  return typeof started === 'number' ? (performance.now() - started) / 1000 : 0
}

function outcomeOf(result: unknown): string | undefined {
  const status = (result as { status?: unknown } | undefined)?.status
  return typeof status === 'string' ? status : undefined
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && /^[\w.-]{1,60}$/.test(code) ? code : 'UNKNOWN'
}
