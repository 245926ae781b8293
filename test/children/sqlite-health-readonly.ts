// Opens a read-only database of the previous version with SQLiteStore, and uses health and
// budgets: prints what each gave.
import { SQLiteStore } from '../../src/stores/sqlite.ts'

const store = new SQLiteStore({ path: process.argv[2]! })
await store.saveHealth('1', '{"v":1}')
const found = [...(await store.findHealth(['1']))]
const budget = { limit: 2, windowMs: 1000 }
const answers = []
for (let i = 0; i < 3; i += 1)
  answers.push((await store.takeBudget('refresh:k', budget, 5)).granted)
process.stdout.write(JSON.stringify({ found, saved: 'nothing', budget: answers }))
