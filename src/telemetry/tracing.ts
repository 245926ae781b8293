import { AsyncLocalStorage } from 'node:async_hooks'
import * as diagnostics from 'node:diagnostics_channel'

/** The operations tokenkeeper traces, each on a `node:diagnostics_channel` tracing channel. */
export const TRACED = ['exchange', 'refresh', 'revoke', 'store'] as const
export type TracedOperation = (typeof TRACED)[number]

/** Attribute values a trace may carry: ids, names, codes and outcomes, never a secret. */
export type TraceAttributes = Record<string, string | number | boolean | undefined>

/**
 * What a traced operation publishes on its channel (`tokenkeeper:<operation>`): its span name,
 * attributes, the traced operation it runs inside, and, once it ended, what Node's tracing
 * channel adds (`result` or `error`). Subscribers may keep their own state on it.
 */
export interface TraceContext {
  readonly name: string
  readonly attributes: TraceAttributes
  readonly parent: TraceContext | undefined
  result?: unknown
  error?: unknown
  [state: symbol]: unknown
}

const channels = new Map<TracedOperation, diagnostics.TracingChannel<object, TraceContext>>()

/** The tracing channel of one operation, for subscribers. */
export function tracingChannelOf(
  operation: TracedOperation,
): diagnostics.TracingChannel<object, TraceContext> {
  let found = channels.get(operation)
  if (!found) {
    found = diagnostics.tracingChannel<object, TraceContext>(`tokenkeeper:${operation}`)
    channels.set(operation, found)
  }
  return found
}

/** The traced operation the current code runs inside, for parenting. */
const current = new AsyncLocalStorage<TraceContext>()

/**
 * Runs `work` as a traced operation: published on its tracing channel (start, end, error) when
 * someone subscribes (an OpenTelemetry bridge, see `instrumentTokenkeeper`), and nothing but a
 * call otherwise.
 */
export function traced<T>(
  operation: TracedOperation,
  name: string,
  attributes: TraceAttributes,
  work: () => Promise<T>,
): Promise<T> {
  const channel = tracingChannelOf(operation)
  if (!channel.hasSubscribers) return work()
  const context: TraceContext = { name, attributes, parent: current.getStore() }
  return current.run(context, () => channel.tracePromise(work, context))
}

/** A store operation, traced as `tokenkeeper.store.<operation>`. */
export function storeOp<T>(
  store: object,
  operation: string,
  work: () => Promise<T>,
  attributes: TraceAttributes = {},
): Promise<T> {
  return traced(
    'store',
    `tokenkeeper.store.${operation}`,
    {
      'tokenkeeper.store.name': store.constructor.name,
      'tokenkeeper.store.operation': operation,
      ...attributes,
    },
    work,
  )
}
