// Takes from one budget of a SQLite database many times, as one of several processes: prints
// how many takes were granted.
import { SQLiteStore } from '../../src/stores/sqlite.ts'

const [path, key, times, limit] = process.argv.slice(2) as [string, string, string, string]
const store = new SQLiteStore({ path })
await store.getTokens() // opened before the start line, so the takes overlap
const start = Number(process.env.START_AT)
await new Promise((resolve) => setTimeout(resolve, Math.max(0, start - Date.now())))
let granted = 0
for (let i = 0; i < Number(times); i += 1) {
  const answer = await store.takeBudget(
    key,
    { limit: Number(limit), windowMs: 60_000 },
    1_900_000_000_000 + i,
  )
  if (answer.granted) granted += 1
}
await store.close()
process.stdout.write(String(granted))
