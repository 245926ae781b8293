// One of several processes sharing a store with a short token lease: `callers` concurrent
// getAccessToken calls on one token, started together with the other processes. The first
// process (of all of them) to see the event `stallOn` prints STALL and holds still right there,
// so that the parent can stop it with SIGSTOP at that exact point. Prints a JSON line at the end.
import diagnostics from 'node:diagnostics_channel'
import { appendFileSync, closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { Environment, Initializer, OAuthToken } from '../../src/index.ts'
import { openStore, type WorkerSpec } from './lease-stores.ts'

/**
 * Says STALL, then holds still, synchronously, until the parent's SIGSTOP and SIGCONT have
 * passed: a gap of far more than the few milliseconds between two looks at the clock means the
 * process was stopped in it (wherever the signal landed, even before the first look). Gives up
 * after two seconds if no stop comes.
 */
function stallHere(): void {
  const cell = new Int32Array(new SharedArrayBuffer(4))
  const started = Date.now()
  let last = started
  writeSync(1, 'STALL\n')
  while (Date.now() - started < 2000) {
    const now = Date.now()
    if (now - last > 100) return
    last = now
    Atomics.wait(cell, 0, 0, 5)
  }
}

const spec = JSON.parse(process.argv[2]!) as WorkerSpec
const store = await openStore(spec.store)
const events: string[] = []
/** Every event with its time, to tell what happened when a run goes wrong. */
const timeline: [string, number][] = []
for (const name of [
  'token.lock_waited',
  'token.lease_lost',
  'token.superseded',
  'token.refreshed',
  'token.reused',
  'token.saved',
] as const) {
  diagnostics.subscribe(`tokenkeeper:${name}`, () => {
    events.push(name)
    timeline.push([name, Date.now()])
  })
}
if (spec.stallOn && spec.stallMarker) {
  const marker = spec.stallMarker
  diagnostics.subscribe(`tokenkeeper:${spec.stallOn}`, () => {
    try {
      closeSync(openSync(marker, 'wx'))
    } catch {
      return // another process stalls, or this one did already
    }
    stallHere()
    events.push('stalled')
    timeline.push(['continued', Date.now()])
  })
}
appendFileSync(spec.barrier, 'ready\n')
while (readFileSync(spec.barrier, 'utf8').trim().split('\n').length < spec.processes) {
  await new Promise((go) => setTimeout(go, 2))
}
const environment = new Environment({
  name: 'emulator',
  apiDomain: spec.emulatorUrl,
  accountsUrl: spec.emulatorUrl,
})
const results = await Promise.allSettled(
  Array.from({ length: spec.callers }, async () => {
    const session = await Initializer.initialize({
      environment,
      store,
      token: new OAuthToken({ id: spec.tokenId }),
    })
    return session.getAccessToken()
  }),
)
await store.close?.()
process.stdout.write(
  `${JSON.stringify({
    tokens: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    errors: results.flatMap((r) =>
      r.status === 'rejected' ? [String((r.reason as Error).message)] : [],
    ),
    events,
    timeline,
  })}\n`,
)
