import { createHash } from 'node:crypto'
import type { Pool, PoolClient, QueryConfig } from 'pg'
import { describeCause } from '../../errors.js'
import { StoreConflict } from '../../store-kit/retry.js'

/** SQL whose prepared name is derived from its text: one name per text on every connection. */
export interface Statement {
  readonly name: string
  readonly text: string
}

export function statement(text: string): Statement {
  return { name: `tk_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text }
}

export function bind(s: Statement, values: unknown[]): QueryConfig<unknown[]> {
  return { name: s.name, text: s.text, values }
}

/** A transaction-level advisory lock on a text key, held to the commit. */
export const XACT_LOCK = statement('SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))')

/** A save that must not be tried again; `cause` says why it failed. */
export class Unretryable extends Error {
  constructor(cause: unknown) {
    super('not retried', { cause })
  }
}

/** The deadline of a lock passed while waiting for a connection. */
export class Deadline extends Error {}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

/** Checks a client out before `deadline`; one that arrives later goes straight back. */
export async function connectBefore(pool: Pool, deadline: number): Promise<PoolClient> {
  const connecting = pool.connect()
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Deadline()), Math.max(0, deadline - Date.now()))
  })
  try {
    return await Promise.race([connecting, late])
  } catch (err) {
    if (err instanceof Deadline)
      void connecting.then(
        (client) => client.release(),
        () => undefined,
      )
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs `body` inside a checked-out client that is always given back: destroyed when its
 * connection broke or its transaction could not be rolled back, otherwise reused.
 */
export async function withClient<T>(
  pool: Pool,
  body: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error): void => {
    broken = err
  }
  client.on('error', onError)
  try {
    const result = await body(client)
    client.removeListener('error', onError)
    client.release(broken ?? false)
    return result
  } catch (err) {
    const cause = err instanceof Unretryable ? err.cause : err
    if (!broken && !isConnectionError(cause)) {
      try {
        await client.query('ROLLBACK')
      } catch (rollbackErr) {
        broken = toError(rollbackErr)
      }
    }
    client.removeListener('error', onError)
    client.release(broken ?? (isConnectionError(cause) ? toError(cause) : false))
    throw err
  }
}

const CONNECTION_MESSAGES =
  /Connection terminated|not queryable|Client was closed|Connection ended|socket hang up/i

/** Whether an error says the connection was lost (so another connection may well succeed). */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
      return true
    }
    if (['ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code)) return true
  }
  return err instanceof Error && CONNECTION_MESSAGES.test(err.message)
}

/** Whether trying again may succeed: a lost connection, a lost race, a deadlock. */
export function retryable(err: unknown): boolean {
  if (err instanceof Unretryable) return false
  if (err instanceof StoreConflict) return true
  const code = (err as { code?: unknown } | null)?.code
  // 23505: another save inserted the same id or user first. 40001, 40P01: serialization or
  // deadlock. 0A000: a cached plan went stale after the table was changed.
  if (code === '23505' || code === '40001' || code === '40P01' || code === '0A000') return true
  return isConnectionError(err)
}

/** Says what a driver error means, in one line, without any value. */
export function explain(err: unknown, connectTimeoutMs: number): string {
  const e = err as { code?: unknown; message?: unknown }
  const code = typeof e.code === 'string' ? e.code : undefined
  const message = typeof e.message === 'string' ? e.message : String(err)
  if (code === 'ECONNREFUSED') return 'cannot connect to the PostgreSQL server (connection refused)'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return 'cannot connect to the PostgreSQL server (unknown host)'
  }
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return `cannot connect to the PostgreSQL server within ${connectTimeoutMs} ms`
  }
  if (code === '28P01' || code === '28000') return `authentication failed (${code})`
  if (code === '3D000') return `the database does not exist (${code})`
  if (code === '42501') return `permission denied: ${message}`
  if (code === '22001') return `a value is too long for its column; nothing was written (${code})`
  if (code === '22021' || code === '22P05') {
    return `a value holds a character PostgreSQL cannot store, such as NUL; nothing was written (${code})`
  }
  // Data errors may quote the value: describeCause leaves it out, as for every driver.
  return describeCause(err)
}
