// Faults: the misbehaviours a test asks for with `emulator.fail(...)`, queued until the requests
// they apply to arrive, and the answers they give instead of the real one.
import { InvalidArgumentError } from '../../errors.js'
import { expiresIn } from './endpoints.js'
import { json, type Context, type Kind, type Reply } from './http.js'
import { html } from './pages.js'
import { checkNumber } from './settings.js'
import type { EmulatorEndpoint, EmulatorFault } from './types.js'

/** The kinds of request each endpoint of `fail` stands for, but `any`. */
const ENDPOINT_KINDS: Record<Exclude<EmulatorEndpoint, 'any'>, readonly Kind[]> = {
  exchange: ['exchange'],
  refresh: ['refresh'],
  token: ['exchange', 'refresh', 'token'],
  revoke: ['revoke'],
  api: ['api', 'currentUser'],
}

/** Every fault `fail()` takes (and it refuses any other). */
export const EMULATOR_FAULTS: readonly EmulatorFault[] = [
  'http500',
  'http503',
  'http429',
  'hang',
  'reset',
  'malformed-json',
  'html',
  'error-body',
  'no-access-token',
]

interface PendingFault {
  fault: EmulatorFault
  on: EmulatorEndpoint
  remaining: number
}

/** Whether a fault queued for `on` applies to a request of this kind. */
function faultApplies(on: EmulatorEndpoint, kind: Kind): boolean {
  return on === 'any' || ENDPOINT_KINDS[on].includes(kind)
}

/** The faults asked for and not yet spent, first asked first served. */
export class FaultQueue {
  private readonly pending: PendingFault[] = []

  /** Queues a fault for the next `times` requests to `on`; throws on an unknown one. */
  add(fault: EmulatorFault, options: { times?: number; on?: EmulatorEndpoint } = {}): void {
    if (!EMULATOR_FAULTS.includes(fault))
      throw new InvalidArgumentError('fault', 'fail: unknown fault')
    const on = options.on ?? 'any'
    if (on !== 'any' && !(on in ENDPOINT_KINDS)) {
      throw new InvalidArgumentError('on', 'fail: unknown endpoint')
    }
    const times = checkNumber(options.times, 'times', 1, 1)
    this.pending.push({ fault, on, remaining: times })
  }

  /** The fault for a request of this kind, if one is queued; spends one of its times. */
  take(kind: Kind): EmulatorFault | undefined {
    const index = this.pending.findIndex((pending) => faultApplies(pending.on, kind))
    const pending = this.pending[index]
    if (pending === undefined) return undefined
    pending.remaining -= 1
    if (pending.remaining <= 0) this.pending.splice(index, 1)
    return pending.fault
  }
}

/** The answer a fault gives, for the faults that answer at all. */
export function faultReply(
  fault: Exclude<EmulatorFault, 'hang' | 'reset'>,
  context: Context,
): Reply {
  switch (fault) {
    case 'malformed-json':
      return { ...json(200, {}), body: '{"access_token":"1000.3f2a9c' }
    case 'html':
      return html(502, '502 Bad Gateway', '<p>The upstream server is unreachable.</p>')
    case 'http500':
      return json(500, { error: 'internal_error', error_description: 'Internal server error' })
    case 'http503':
      return json(503, { error: 'temporarily_unavailable', error_description: 'Try again later' })
    case 'http429': {
      const reply = json(429, { error: 'too_many_requests', error_description: 'Slow down' })
      return { ...reply, headers: { ...reply.headers, 'retry-after': '1' } }
    }
    case 'error-body':
      return json(200, { error: 'internal_error' })
    case 'no-access-token':
      return json(200, {
        api_domain: context.origin(),
        token_type: 'Bearer',
        ...expiresIn(context.settings),
      })
  }
}
