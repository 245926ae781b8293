import { InvalidArgumentError, refuseUnknownOptions } from '../errors.js'
import { typeName } from '../token.js'

/**
 * One option's rule: what a valid value is (said in the error: `'a number >= 0'`) and its
 * default. Made by {@link text}, {@link number}, {@link flag}, {@link oneOf} and {@link shaped};
 * `.or(value)` gives the rule a default.
 */
export interface OptionRule<T> {
  /** What a valid value is, for the message: `'a non-empty string'`, `'a number >= 0'`. */
  readonly expected: string
  /** Whether a given value (never `undefined`) is valid. */
  readonly valid: (value: unknown) => boolean
  /** The same rule with a default used when the option is absent. */
  or(fallback: T): DefaultedRule<T>
  /** Marks the type; never set. */
  readonly __type?: T
}

/** An {@link OptionRule} with a default. */
export interface DefaultedRule<T> extends OptionRule<T> {
  readonly fallback: T
}

function rule<T>(expected: string, valid: (value: unknown) => boolean): OptionRule<T> {
  return {
    expected,
    valid,
    or: (fallback: T) => ({ ...rule<T>(expected, valid), fallback }),
  }
}

/** A string; with `nonEmpty`, not `''`. */
export function text(options: { nonEmpty?: boolean } = {}): OptionRule<string> {
  const nonEmpty = options.nonEmpty ?? false
  return rule(
    nonEmpty ? 'a non-empty string' : 'a string',
    (v) => typeof v === 'string' && (!nonEmpty || v.length > 0),
  )
}

/**
 * A finite number within bounds: `min` (inclusive), `above` (exclusive), `max` (inclusive),
 * and with `integer`, a whole number.
 */
export function number(
  options: { min?: number; above?: number; max?: number; integer?: boolean } = {},
): OptionRule<number> {
  const { min, above, max, integer = false } = options
  const bounds = [
    min === undefined ? '' : `>= ${min}`,
    above === undefined ? '' : `> ${above}`,
    max === undefined ? '' : `<= ${max}`,
  ].filter(Boolean)
  const expected = `${integer ? 'an integer' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`
  return rule(
    expected,
    (v) =>
      isFiniteNumber(v) &&
      (!integer || Number.isInteger(v)) &&
      (min === undefined || v >= min) &&
      (above === undefined || v > above) &&
      (max === undefined || v <= max),
  )
}

/** Number.isFinite, which is false for anything but a number, as a type guard. */
function isFiniteNumber(v: unknown): v is number {
  return Number.isFinite(v)
}

/** `true` or `false`. */
export function flag(): OptionRule<boolean> {
  return rule('a boolean', (v) => typeof v === 'boolean')
}

/** One of the given strings. */
export function oneOf<const T extends string>(...values: readonly T[]): OptionRule<T> {
  return rule(`one of ${values.map((v) => `'${v}'`).join(', ')}`, (v) => values.includes(v as T))
}

/** Any value `valid` accepts; `expected` names it (`'a pg.Pool'`, `'an ioredis client'`). */
export function shaped<T>(expected: string, valid: (value: unknown) => value is T): OptionRule<T> {
  return rule(expected, valid)
}

/** A store's options, key by key. */
export type OptionSpec = Record<string, OptionRule<unknown>>

/** The checked options: a key with a default always has a value, the others may be absent. */
export type CheckedOptions<S extends OptionSpec> = {
  readonly [K in keyof S]: S[K] extends DefaultedRule<infer T>
    ? T
    : S[K] extends OptionRule<infer T>
      ? T | undefined
      : never
}

/** Rules between options. */
export interface OptionGroups {
  /** Each group: at most one of these keys may be given (`url` or `client`, not both). */
  readonly atMostOne?: readonly (readonly string[])[]
  /** Each group: exactly one of these keys must be given (`connectionString` or `pool`). */
  readonly exactlyOne?: readonly (readonly string[])[]
}

/**
 * Checks a store's options against its spec, the one way every store does it: the options must
 * be an object (absent counts as `{}`); a key the spec does not name is refused (a misspelt
 * option must never leave a default in force); each value must pass its rule; the groups must
 * hold. Every refusal is an `InvalidArgumentError` naming the option, what it must be, and what
 * it got. Returns the values, with defaults filled in.
 *
 * @example
 * const checked = checkOptions('SQLiteStore', options, {
 *   path: text({ nonEmpty: true }).or('zohooauth.db'),
 *   busyTimeoutMs: number({ min: 0 }).or(5000),
 * })
 */
export function checkOptions<S extends OptionSpec>(
  store: string,
  options: unknown,
  spec: S,
  groups: OptionGroups = {},
): CheckedOptions<S> {
  // Never null: `?? {}` made it an object.
  const given: unknown = options ?? {}
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw new InvalidArgumentError(
      'options',
      `${store} expects an options object, got ${typeName(given)}`,
    )
  }
  refuseUnknownOptions(store, given!, Object.keys(spec))
  const values = given as Record<string, unknown>
  const present = (key: string): boolean => values[key] !== undefined
  for (const group of groups.atMostOne ?? []) {
    if (group.filter(present).length > 1) {
      throw new InvalidArgumentError(
        group.filter(present)[1]!,
        `${store} takes only one of ${group.join(', ')}; give one`,
      )
    }
  }
  for (const group of groups.exactlyOne ?? []) {
    const count = group.filter(present).length
    if (count !== 1) {
      throw new InvalidArgumentError(
        count === 0 ? group[0]! : group.filter(present)[1]!,
        `${store} needs exactly one of ${group.join(', ')}, got ${count}; ` +
          `set exactly one of ${group.slice(0, -1).join(', ')} and ${group.at(-1)!}`,
      )
    }
  }
  const out: Record<string, unknown> = {}
  for (const [key, check] of Object.entries(spec)) {
    const value = values[key]
    if (value === undefined) {
      if ('fallback' in check) out[key] = (check as DefaultedRule<unknown>).fallback
      continue
    }
    if (!check.valid(value)) {
      throw new InvalidArgumentError(
        key,
        `${store} ${key} must be ${check.expected}, got ${describe(value)}`,
      )
    }
    out[key] = value
  }
  return out as CheckedOptions<S>
}

/** A value as an error shows it: a number or boolean as itself, anything else by its type. */
function describe(value: unknown): string {
  // Strings are not quoted: an option may hold a password or a URL with one.
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string'
  return typeName(value)
}
