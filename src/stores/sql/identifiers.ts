import { InvalidArgumentError } from '../../errors.js'
import { shaped, type OptionRule } from '../../store-kit/options.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const EXPECTED =
  'a plain SQL identifier (letters, digits and _, at most 63, not starting with a digit)'

const isIdentifier = (name: unknown): name is string =>
  typeof name === 'string' && IDENTIFIER.test(name)

/**
 * Checks a table name and quotes it for SQL. Names are never taken from data, only from the
 * store's options, and only plain identifiers are accepted, so that no option can inject SQL.
 */
export function quoteIdentifier(name: unknown, argument = 'table'): string {
  if (!isIdentifier(name)) {
    throw new InvalidArgumentError(argument, `${argument} must be ${EXPECTED}`)
  }
  return `"${name}"`
}

/** The option rule of a table or database name: a plain SQL identifier (see quoteIdentifier). */
export function identifier(): OptionRule<string> {
  return shaped(EXPECTED, isIdentifier)
}
