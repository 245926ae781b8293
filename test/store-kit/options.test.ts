// checkOptions and its rules (tokenkeeper/store-kit). Apart from test/store-kit/kit.test.ts because
// every store builds its option rules when its module loads: a broken rule makes any file that
// imports a store fail to load, which runs no test (and Stryker counts no failure). This file
// imports only the rules, builds each spec inside a test, and loads the stores inside a test.
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.ts'
import { checkOptions, flag, number, oneOf, shaped, text } from '../../src/store-kit/options.ts'

const invalid = (argument: string, message?: RegExp) => (err: unknown) =>
  err instanceof InvalidArgumentError &&
  err.argument === argument &&
  (message === undefined || message.test(err.message))

/** What `run` throws, for checks that a synchronous call refuses. */
function thrown(run: () => unknown): unknown {
  try {
    run()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

it('every store builds its option rules when it loads', async () => {
  const index = await import('../../src/index.ts')
  expect(new index.MemoryStore()).toBeDefined()
  expect(checkOptions('S', {}, { path: text({ nonEmpty: true }).or('x') })).toEqual({ path: 'x' })
})

describe('checkOptions', () => {
  // Built in each test, not when the file is collected: see the top of the file.
  const spec = () => ({
    path: text({ nonEmpty: true }).or('zohooauth.db'),
    busyTimeoutMs: number({ min: 0 }).or(5000),
    poolSize: number({ integer: true, above: 0, max: 100 }),
    mode: oneOf('wal', 'delete'),
    cache: flag().or(true),
    client: shaped('a client with query()', (v): v is { query: () => void } => {
      return typeof (v as { query?: unknown } | null)?.query === 'function'
    }),
  })

  it('fills in the defaults and leaves absent options without one absent', () => {
    const checked = checkOptions('S', undefined, spec())
    expect(checked).toEqual({ path: 'zohooauth.db', busyTimeoutMs: 5000, cache: true })
    // Absent, not present as undefined (toEqual would not tell).
    expect(Object.keys(checked)).toEqual(['path', 'busyTimeoutMs', 'cache'])
    const given = checkOptions('S', { busyTimeoutMs: 0, poolSize: 100, mode: 'wal' }, spec())
    expect(given).toEqual({
      path: 'zohooauth.db',
      busyTimeoutMs: 0,
      poolSize: 100,
      mode: 'wal',
      cache: true,
    })
  })

  it('refuses options that are not an object, and a key the spec does not name', () => {
    expect(thrown(() => checkOptions('S', 'zohooauth.db', spec()))).toSatisfy(
      invalid('options', /S expects an options object, got string/),
    )
    expect(thrown(() => checkOptions('S', [], spec()))).toSatisfy(invalid('options'))
    expect(thrown(() => checkOptions('S', { busyTimeout: 5 }, spec()))).toSatisfy(
      invalid('busyTimeout', /S has no option 'busyTimeout'; it takes path, busyTimeoutMs/),
    )
  })

  it('says which option is wrong, what it must be, and what it got', () => {
    const cases: [object, string, RegExp][] = [
      [{ path: '' }, 'path', /S path must be a non-empty string, got an empty string/],
      [{ path: 7 }, 'path', /must be a non-empty string, got 7/],
      [{ busyTimeoutMs: -1 }, 'busyTimeoutMs', /must be a number >= 0, got -1/],
      [{ busyTimeoutMs: Infinity }, 'busyTimeoutMs', /got Infinity/],
      [{ busyTimeoutMs: NaN }, 'busyTimeoutMs', /got NaN/],
      [{ poolSize: 0 }, 'poolSize', /must be an integer > 0 and <= 100, got 0/],
      [{ poolSize: 101 }, 'poolSize', /got 101/],
      [{ poolSize: 1.5 }, 'poolSize', /got 1\.5/],
      [{ mode: 'WAL' }, 'mode', /must be one of 'wal', 'delete', got a string/],
      [{ cache: 'yes' }, 'cache', /must be a boolean, got a string/],
      [{ client: {} }, 'client', /must be a client with query\(\), got Object/],
    ]
    for (const [options, key, message] of cases) {
      expect(
        thrown(() => checkOptions('S', options, spec())),
        key,
      ).toSatisfy(invalid(key, message))
    }
    // The bounds are the bounds: both ends of an inclusive range pass.
    expect(checkOptions('S', { poolSize: 1 }, spec()).poolSize).toBe(1)
    expect(checkOptions('S', { path: 'tokens.db' }, spec()).path).toBe('tokens.db')
    expect(checkOptions('S', null, spec()).path).toBe('zohooauth.db')
  })

  it('words each rule: a plain string may be empty, a plain number is any finite number', () => {
    const plain = { name: text(), size: number(), on: flag() }
    expect(checkOptions('S', { name: '', size: -2.5, on: false }, plain)).toEqual({
      name: '',
      size: -2.5,
      on: false,
    })
    expect(thrown(() => checkOptions('S', { name: 5 }, plain))).toSatisfy(
      invalid('name', /^S name must be a string, got 5$/),
    )
    expect(thrown(() => checkOptions('S', { size: '5' }, plain))).toSatisfy(
      invalid('size', /^S size must be a number, got a string$/),
    )
    expect(thrown(() => checkOptions('S', { on: 1 }, plain))).toSatisfy(
      invalid('on', /^S on must be a boolean, got 1$/),
    )
    expect(thrown(() => checkOptions('S', { on: 'true' }, plain))).toSatisfy(
      invalid('on', /must be a boolean, got a string$/),
    )
    expect(thrown(() => checkOptions('S', { size: true }, plain))).toSatisfy(
      invalid('size', /must be a number, got true$/),
    )
    const client = { query: () => undefined }
    const withClient = {
      client: shaped('a client', (v): v is typeof client => v === client),
    }
    expect(checkOptions('S', { client }, withClient).client).toBe(client)
  })

  it('never quotes a string it refuses: it may be a password', () => {
    const secret = 'hunter2-password'
    let message = ''
    try {
      checkOptions('S', { busyTimeoutMs: secret }, spec())
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/busyTimeoutMs must be a number >= 0, got a string/)
    expect(message).not.toContain(secret)
  })

  it('holds the rules between options: at most one, exactly one', () => {
    const both = { url: text(), client: text(), pool: text(), connectionString: text() }
    const groups = { atMostOne: [['url', 'client']], exactlyOne: [['connectionString', 'pool']] }
    expect(
      thrown(() => checkOptions('S', { url: 'a', client: 'b', pool: 'p' }, both, groups)),
    ).toSatisfy(invalid('client', /S takes only one of url, client/))
    expect(thrown(() => checkOptions('S', {}, both, groups))).toSatisfy(
      invalid(
        'connectionString',
        /needs exactly one of connectionString, pool, got 0; set exactly one of connectionString and pool/,
      ),
    )
    expect(
      thrown(() => checkOptions('S', { connectionString: 'c', pool: 'p' }, both, groups)),
    ).toSatisfy(invalid('pool', /got 2/))
    expect(checkOptions('S', { url: 'a', pool: 'p' }, both, groups)).toEqual({
      url: 'a',
      pool: 'p',
    })
  })

  it('names the second option given of a group, and lists a longer group in full', () => {
    const three = { a: text(), b: text(), c: text(), x: text(), y: text(), z: text() }
    const groups = { atMostOne: [['a', 'b', 'c']], exactlyOne: [['x', 'y', 'z']] }
    expect(thrown(() => checkOptions('S', { a: '1', c: '3', x: '1' }, three, groups))).toSatisfy(
      invalid('c', /^S takes only one of a, b, c; give one$/),
    )
    expect(thrown(() => checkOptions('S', { x: '1', z: '3' }, three, groups))).toSatisfy(
      invalid('z', /^S needs exactly one of x, y, z, got 2; set exactly one of x, y and z$/),
    )
  })
})
