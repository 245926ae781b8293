// The blocks tokenkeeper/store-kit adds (option checking, error wrapping, retries, lease
// waiting), each on its own; the rules it re-exports are tested where they are written.
import { describe, expect, it } from 'vitest'
import { EncryptionError } from '../src/crypto.ts'
import { OAuthToken, UserSignature } from '../src/index.ts'
import { InvalidArgumentError, SDKException, TokenStoreError } from '../src/errors.ts'
import * as rules from '../src/store.ts'
import * as kit from '../src/store-kit/index.ts'
import {
  StoreConflict,
  checkOptions,
  flag,
  isConflict,
  number,
  oneOf,
  retry,
  shaped,
  storeCall,
  takeLease,
  text,
  wrapStoreError,
} from '../src/store-kit/index.ts'

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

describe('store-kit exports the rules where they are written, not copies', () => {
  it('gives the very functions of src/store.ts', () => {
    for (const name of [
      'lookupOf',
      'rowMatches',
      'resolveSave',
      'resolveSaveAsync',
      'planSave',
      'rowToWrite',
      'tokenFromRow',
      'nextTokenId',
      'largestNumericId',
      'compareRowIds',
      'winningRow',
      'rowHolds',
      'assertId',
      'assertLookupToken',
      'COLUMNS',
    ] as const) {
      expect(kit[name], name).toBe(rules[name])
    }
  })

  it('lists the lookup columns in the matching rule’s order', () => {
    expect(kit.LOOKUP_COLUMNS).toEqual([
      'user_name',
      'access_token',
      'grant_token',
      'refresh_token',
    ])
    // The order is lookupOf's: a token holding every value is looked up by the first.
    const token = new OAuthToken({
      userSignature: new UserSignature('ada@example.com'),
      accessToken: 'a',
      grantToken: 'g',
      refreshToken: 'r',
    })
    const seen: string[] = []
    for (const column of kit.LOOKUP_COLUMNS) {
      seen.push(kit.lookupOf(token)!.column)
      if (column === 'user_name') token.userSignature = undefined
      if (column === 'access_token') token.accessToken = undefined
      if (column === 'grant_token') token.grantToken = undefined
    }
    expect(seen).toEqual(kit.LOOKUP_COLUMNS)
  })
})

describe('checkOptions', () => {
  const spec = {
    path: text({ nonEmpty: true }).or('zohooauth.db'),
    busyTimeoutMs: number({ min: 0 }).or(5000),
    poolSize: number({ integer: true, above: 0, max: 100 }),
    mode: oneOf('wal', 'delete'),
    cache: flag().or(true),
    client: shaped('a client with query()', (v): v is { query: () => void } => {
      return typeof (v as { query?: unknown } | null)?.query === 'function'
    }),
  }

  it('fills in the defaults and leaves absent options without one absent', () => {
    const checked = checkOptions('S', undefined, spec)
    expect(checked).toEqual({ path: 'zohooauth.db', busyTimeoutMs: 5000, cache: true })
    const given = checkOptions('S', { busyTimeoutMs: 0, poolSize: 100, mode: 'wal' }, spec)
    expect(given).toEqual({
      path: 'zohooauth.db',
      busyTimeoutMs: 0,
      poolSize: 100,
      mode: 'wal',
      cache: true,
    })
  })

  it('refuses options that are not an object, and a key the spec does not name', () => {
    expect(thrown(() => checkOptions('S', 'zohooauth.db', spec))).toSatisfy(
      invalid('options', /S expects an options object, got string/),
    )
    expect(thrown(() => checkOptions('S', [], spec))).toSatisfy(invalid('options'))
    expect(thrown(() => checkOptions('S', { busyTimeout: 5 }, spec))).toSatisfy(
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
        thrown(() => checkOptions('S', options, spec)),
        key,
      ).toSatisfy(invalid(key, message))
    }
    // The bounds are the bounds: both ends of an inclusive range pass.
    expect(checkOptions('S', { poolSize: 1 }, spec).poolSize).toBe(1)
  })

  it('never quotes a string it refuses: it may be a password', () => {
    const secret = 'hunter2-password'
    let message = ''
    try {
      checkOptions('S', { busyTimeoutMs: secret }, spec)
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
})

describe('wrapStoreError', () => {
  it('passes tokenkeeper’s own errors through unchanged', () => {
    const own = [
      new TokenStoreError('Inner', 'lock', 'held elsewhere'),
      new InvalidArgumentError('id', 'id must be a non-empty string'),
      new EncryptionError('no key k2'),
      new SDKException('OTHER', 'another of ours'),
    ]
    for (const err of own) expect(wrapStoreError('S', 'saveToken', err)).toBe(err)
  })

  it('turns a backend error into a TokenStoreError naming store, operation and place, cause kept', () => {
    const driver = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })
    const wrapped = wrapStoreError('S', 'findToken', driver, { where: 'db:5/t' })
    expect(wrapped).toBeInstanceOf(TokenStoreError)
    expect(wrapped).toMatchObject({ code: 'TOKEN_STORE', store: 'S', operation: 'findToken' })
    expect(wrapped.message).toBe('S.findToken: db:5/t: ECONNREFUSED: connection refused')
    expect(wrapped.cause).toBe(driver)
    const explained = wrapStoreError('S', 'getTokens', driver, { explain: () => 'server away' })
    expect(explained.message).toBe('S.getTokens: server away')
  })

  it('scrubs token-shaped text and the given secrets from the message and the cause', () => {
    const shaped = '1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef'
    const plain = 'plain-secret-value'
    const inner = new Error(`duplicate ${plain}`)
    const driver = new Error(`rejected ${shaped} and ${plain}`, { cause: inner })
    const wrapped = wrapStoreError('S', 'saveToken', driver, { secrets: [plain, undefined] })
    const shown = [
      wrapped.message,
      driver.message,
      driver.stack ?? '',
      inner.message,
      inner.stack ?? '',
    ].join('\n')
    expect(shown).not.toContain(shaped)
    expect(shown).not.toContain(plain)
    expect(wrapped.message).toMatch(/^S\.saveToken: rejected \[redacted\] and \[redacted\]$/)
    // A store's own wording of the failure is cleaned of them too.
    const worded = wrapStoreError('S', 'saveToken', new Error('x'), {
      explain: () => `the server refused ${plain}`,
      secrets: [plain],
    })
    expect(worded.message).toBe('S.saveToken: the server refused [redacted]')
  })

  it('storeCall returns what the call gives and wraps what it throws, sync or async', async () => {
    await expect(storeCall('S', 'getTokens', async () => 42)).resolves.toBe(42)
    const thrown = new Error('sync')
    await expect(
      storeCall('S', 'deleteToken', () => {
        throw thrown
      }),
    ).rejects.toMatchObject({ operation: 'deleteToken', cause: thrown })
    await expect(
      storeCall('S', 'deleteTokens', () => Promise.reject(new Error('async'))),
    ).rejects.toMatchObject({ code: 'TOKEN_STORE', message: 'S.deleteTokens: async' })
  })
})

describe('retry', () => {
  const recorder = () => {
    const waits: number[] = []
    return { waits, sleep: async (ms: number) => void waits.push(ms) }
  }

  it('tries again after transient failures, with exponential waits and full jitter', async () => {
    const { waits, sleep } = recorder()
    let calls = 0
    const result = await retry(
      async (n) => {
        calls += 1
        expect(n).toBe(calls)
        if (n < 5) throw new StoreConflict('moved')
        return 'done'
      },
      {
        retryable: isConflict,
        attempts: 5,
        baseDelayMs: 10,
        maxDelayMs: 50,
        sleep,
        random: () => 0.5,
      },
    )
    expect(result).toBe('done')
    // Half of 10, 20, 40, then 50 (the cap).
    expect(waits).toEqual([5, 10, 20, 25])
  })

  it('fails at once on a failure that is not retryable, with that very error', async () => {
    const { waits, sleep } = recorder()
    const fatal = new Error('syntax error')
    let calls = 0
    const run = retry(
      async () => {
        calls += 1
        throw fatal
      },
      { retryable: isConflict, sleep },
    )
    await expect(run).rejects.toBe(fatal)
    expect(calls).toBe(1)
    expect(waits).toEqual([])
  })

  it('gives up after its attempts with the last failure', async () => {
    const { waits, sleep } = recorder()
    let calls = 0
    const run = retry(
      async () => {
        calls += 1
        throw new StoreConflict(`attempt ${calls}`)
      },
      { retryable: isConflict, attempts: 3, sleep },
    )
    await expect(run).rejects.toThrow('attempt 3')
    expect(calls).toBe(3)
    expect(waits).toHaveLength(2)
  })

  it('starts no wait that would end past the deadline', async () => {
    let clock = 1000
    let calls = 0
    const run = retry(
      async () => {
        calls += 1
        throw new StoreConflict('moved')
      },
      {
        retryable: isConflict,
        attempts: 100,
        deadlineMs: 100,
        baseDelayMs: 30,
        maxDelayMs: 30,
        random: () => 0.999,
        now: () => clock,
        sleep: async (ms) => void (clock += ms),
      },
    )
    await expect(run).rejects.toThrow('moved')
    // Waits of about 30 ms: three fit in 100 ms, a fourth would end past it.
    expect(calls).toBe(4)
  })

  it('refuses a policy it cannot follow', async () => {
    await expect(retry(async () => 1, {} as never)).rejects.toSatisfy(invalid('retryable'))
    await expect(retry(async () => 1, { retryable: isConflict, attempts: 0 })).rejects.toSatisfy(
      invalid('attempts'),
    )
    await expect(retry(async () => 1, { retryable: isConflict, maxDelayMs: -1 })).rejects.toSatisfy(
      invalid('maxDelayMs'),
    )
  })
})

describe('takeLease', () => {
  const hold = () => {
    const calls: string[] = []
    return {
      calls,
      extend: async () => (calls.push('extend'), true),
      release: async () => void calls.push('release'),
    }
  }

  it('tries until the backend grants it, waiting at most pollMs between tries', async () => {
    const waits: number[] = []
    const granted = hold()
    let tries = 0
    const lock = await takeLease(
      'S',
      '7',
      {
        timeoutMs: 10_000,
        leaseMs: 60_000,
        autoRenew: false,
        pollMs: 20,
        sleep: async (ms) => void waits.push(ms),
      },
      async () => ((tries += 1) < 3 ? { retryInMs: tries === 1 ? 5 : 60_000 } : granted),
    )
    expect(tries).toBe(3)
    expect(waits).toEqual([5, 20])
    await lock.renew!()
    await lock.release()
    await lock.release()
    expect(granted.calls).toEqual(['extend', 'release'])
  })

  it('gives up after timeoutMs with a lock error naming the token', async () => {
    const run = takeLease(
      'S',
      'ada-row',
      { timeoutMs: 0, leaseMs: 1000, autoRenew: false },
      async () => ({ retryInMs: 1000 }),
    )
    await expect(run).rejects.toSatisfy(
      (err) =>
        err instanceof TokenStoreError &&
        err.operation === 'lock' &&
        /could not lock token ada-row within 0 ms/.test(err.message),
    )
  })

  it('reports a failing backend as a lock error that keeps the cause', async () => {
    const down = new Error('no responders')
    const run = takeLease('S', '7', { timeoutMs: 1000, leaseMs: 1000, autoRenew: false }, () =>
      Promise.reject(down),
    )
    await expect(run).rejects.toMatchObject({ code: 'TOKEN_STORE', operation: 'lock', cause: down })
  })
})
