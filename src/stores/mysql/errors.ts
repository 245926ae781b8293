/** The mysql2 error codes the store acts on, and what they mean for a retry. */

export const STORE = 'DBStore'

/** Errors of the connection, not of the statement: worth another try once the server is back. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
])

/** Races between saves that a new try resolves. */
const RACE_ERRORS = new Set(['ER_DUP_ENTRY', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])

/** Another process opening the same new database made the same change first. */
const SCHEMA_RACES = new Set(['ER_DUP_FIELDNAME', 'ER_DUP_KEYNAME', 'ER_TABLE_EXISTS_ERROR'])

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/** Whether the connection failed (not the statement): another try may succeed. */
export function isConnectionError(err: unknown): boolean {
  return CONNECTION_ERRORS.has(errorCode(err) ?? '')
}

/** Whether mysql2 refused a command because the connection had already closed. */
export function isClosed(err: unknown): boolean {
  return err instanceof Error && /closed state|connection is closed/i.test(err.message)
}

/** Whether a save lost a race to another (a duplicate key, a deadlock): plan it again. */
export function isRace(err: unknown): boolean {
  return RACE_ERRORS.has(errorCode(err) ?? '')
}

/** Runs a schema change; another process that made the same change first is fine. */
export async function ignoreRace(change: Promise<unknown>): Promise<void> {
  try {
    await change
  } catch (err) {
    if (!SCHEMA_RACES.has(errorCode(err) ?? '')) throw err
  }
}
