// One keeper process of the keeper benchmark (bench/keeper.ts): keeps the store at argv[2] fresh
// against the emulator at argv[3] for argv[4] ms, with passes every argv[5] ms and refreshes
// ahead by argv[6] ms, then prints what it did and what it cost as one JSON line.
import { Environment, TokenKeeper } from '../../src/index.ts'
import { createStore } from '../../src/stores/create.ts'

const [url, emulatorUrl, runMs, intervalMs, aheadMs] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
]
const store = await createStore(url)
const environment = new Environment({
  name: 'emulator',
  apiDomain: emulatorUrl,
  accountsUrl: emulatorUrl,
})
const totals = { passes: 0, due: 0, refreshed: 0, fresh: 0, busy: 0, failed: 0, longestPassMs: 0 }
let maxRss = 0
const cpu = process.cpuUsage()
const keeper = new TokenKeeper({
  store,
  environment,
  intervalMs: Number(intervalMs),
  refreshAheadMs: Number(aheadMs),
  jitter: 0.1,
  concurrency: 8,
  retries: 0,
  onPass: (s) => {
    totals.passes += 1
    totals.due += s.due
    totals.refreshed += s.refreshed
    totals.fresh += s.fresh
    totals.busy += s.busy
    totals.failed += s.failed
    totals.longestPassMs = Math.max(totals.longestPassMs, s.durationMs)
    maxRss = Math.max(maxRss, process.memoryUsage().rss)
  },
})
keeper.start()
await new Promise((resolve) => setTimeout(resolve, Number(runMs)))
await keeper.stop()
const used = process.cpuUsage(cpu)
await store.close?.()
process.stdout.write(
  JSON.stringify({
    ...totals,
    cpuMs: (used.user + used.system) / 1000,
    maxRssMb: maxRss / 2 ** 20,
  }),
)
process.exit(0)
