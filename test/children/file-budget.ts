// Takes `count` uses of one budget from a FileStore on `path`, `parallel` at a time, once all
// `processes` are ready (a barrier of files); prints how many were granted.
import { appendFileSync, readFileSync } from 'node:fs'
import { FileStore } from '../../src/index.ts'

const [path, countText, processes, parallelText] = process.argv.slice(2)
const store = new FileStore(path)
const budget = { limit: 10, windowMs: 600_000 }
const ready = `${path}.ready`
appendFileSync(ready, 'x')
while (readFileSync(ready, 'utf8').length < Number(processes)) {
  await new Promise((done) => setTimeout(done, 5))
}
let granted = 0
let left = Number(countText)
await Promise.all(
  Array.from({ length: Number(parallelText) }, async () => {
    while (left > 0) {
      left -= 1
      if ((await store.takeBudget('refresh:shared', budget, Date.now())).granted) granted += 1
    }
  }),
)
await store.close()
process.stdout.write(JSON.stringify({ granted }))
