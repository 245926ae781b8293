// Loads PostgresStore in a process where `pg` cannot be resolved, and prints the error it gives.
import Module from 'node:module'

type Resolve = (request: string, ...rest: unknown[]) => string
const loader = Module as unknown as { _resolveFilename: Resolve }
const resolve = loader._resolveFilename
loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  if (request === 'pg' || request.startsWith('pg/')) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' })
  }
  return resolve.call(this, request, ...rest)
}

const { PostgresStore } = await import('../../src/stores/postgres.ts')
const store = new PostgresStore({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' })
try {
  await store.getTokens()
  process.stdout.write(JSON.stringify({ error: null }))
} catch (err) {
  const e = err as { code?: string; operation?: string; message: string }
  process.stdout.write(JSON.stringify({ code: e.code, operation: e.operation, message: e.message }))
}
