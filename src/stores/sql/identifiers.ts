import { InvalidArgumentError } from '../../errors.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * Checks a table name and quotes it for SQL. Names are never taken from data, only from the
 * store's options, and only plain identifiers are accepted, so that no option can inject SQL.
 */
export function quoteIdentifier(name: unknown, argument = 'table'): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
    throw new InvalidArgumentError(
      argument,
      `${argument} must be a plain SQL identifier (letters, digits and _, at most 63, not starting with a digit)`,
    )
  }
  return `"${name}"`
}
