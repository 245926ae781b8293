// Opens a token file with FileStore and finds one token by id; prints the milliseconds it took.
import { FileStore } from '../../src/index.ts'

const [path, id] = process.argv.slice(2)
const started = performance.now()
const found = await new FileStore(path).findTokenById(id!)
const ms = performance.now() - started
if (!found) throw new Error(`token ${id} not found in ${path}`)
process.stdout.write(`${ms}\n`)
