// The blocks tokenkeeper/store-kit adds (error wrapping, retries, lease waiting; option checking
// is in store-kit-options.test.ts), each on its own; the rules it re-exports are tested where
// they are written.
import { describe, expect, it, vi } from 'vitest'
import { EncryptionError } from '../../src/crypto.ts'
import { OAuthToken, UserSignature } from '../../src/index.ts'
import { InvalidArgumentError, SDKException, TokenStoreError } from '../../src/errors.ts'
import * as store from '../../src/store.ts'
import * as ids from '../../src/store/ids.ts'
import * as matching from '../../src/store/matching.ts'
import * as rows from '../../src/store/rows.ts'
import * as save from '../../src/store/save.ts'
import * as kit from '../../src/store-kit/index.ts'
import {
  StoreConflict,
  isConflict,
  retry,
  storeCall,
  takeLease,
  wrapStoreError,
} from '../../src/store-kit/index.ts'

const invalid = (argument: string, message?: RegExp) => (err: unknown) =>
  err instanceof InvalidArgumentError &&
  err.argument === argument &&
  (message === undefined || message.test(err.message))

describe('store-kit exports the rules where they are written, not copies', () => {
  it('gives the very functions of src/store.ts and src/store/', () => {
    const rules = { ...store, ...ids, ...matching, ...rows, ...save }
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

  it('takes the secrets out of every cause, ten deep, and stops at a cause chain that loops', () => {
    const secret = 'plain-secret-value'
    // Eleven errors, each quoting the secret: the wrapped one and ten causes below it.
    const chain: Error[] = [new Error(`at 10: ${secret}`)]
    for (let depth = 9; depth >= 0; depth -= 1) {
      chain.unshift(new Error(`at ${depth}: ${secret}`, { cause: chain[0] }))
    }
    wrapStoreError('S', 'saveToken', chain[0], { secrets: [secret] })
    expect(chain.map((err) => err.message)).toEqual(chain.map((_, i) => `at ${i}: [redacted]`))
    const looped = new Error(`loops: ${secret}`)
    looped.cause = looped
    expect(wrapStoreError('S', 'saveToken', looped, { secrets: [secret] }).message).toBe(
      'S.saveToken: loops: [redacted]',
    )
    expect(looped.message).toBe('loops: [redacted]')
  })

  it('wraps, with secrets given, whatever was thrown: null, objects without a text, a frozen error', () => {
    const secrets = ['plain-secret-value']
    const odd: unknown[] = [
      null,
      new Error('with a null cause', { cause: null }),
      { code: 'E_ODD' },
      { message: 42 },
    ]
    for (const value of odd) {
      expect(wrapStoreError('S', 'getTokens', value, { secrets })).toBeInstanceOf(TokenStoreError)
    }
    // Its own texts cannot be rewritten; the message made of it is still clean.
    const frozen = Object.freeze(new Error('refused plain-secret-value'))
    expect(wrapStoreError('S', 'saveToken', frozen, { secrets }).message).toBe(
      'S.saveToken: refused [redacted]',
    )
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

  it('refuses a policy it cannot follow, saying what it needs', async () => {
    await expect(retry(async () => 1, {} as never)).rejects.toSatisfy(
      invalid('retryable', /^retry needs retryable: \(err\) => boolean$/),
    )
    await expect(retry(async () => 1, { retryable: isConflict, attempts: 0 })).rejects.toSatisfy(
      invalid('attempts', /^retry attempts must be an integer >= 1$/),
    )
    await expect(retry(async () => 1, { retryable: isConflict, maxDelayMs: -1 })).rejects.toSatisfy(
      invalid('maxDelayMs', /^retry maxDelayMs must be a number >= 0$/),
    )
  })

  it('takes the smallest policy: one attempt, no wait, no deadline to spare', async () => {
    const { waits, sleep } = recorder()
    let calls = 0
    const once = retry(
      async () => {
        calls += 1
        throw new StoreConflict('moved')
      },
      { retryable: isConflict, attempts: 1, baseDelayMs: 0, maxDelayMs: 0, deadlineMs: 0, sleep },
    )
    await expect(once).rejects.toThrow('moved')
    expect([calls, waits]).toEqual([1, []])
    expect(new StoreConflict('moved').name).toBe('StoreConflict')
  })

  it('makes a wait that ends right at the deadline', async () => {
    let clock = 0
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
        baseDelayMs: 100,
        maxDelayMs: 100,
        random: () => 0.5,
        now: () => clock,
        sleep: async (ms) => void (clock += ms),
      },
    )
    await expect(run).rejects.toThrow('moved')
    // Waits of 50 ms: the second ends at 100 ms, the deadline itself; a third would pass it.
    expect([calls, clock]).toEqual([3, 100])
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
    // The lease's messages name the token.
    await expect(lock.renew!()).rejects.toThrow(/the lease on token 7 was released/)
  })

  it('with timeoutMs 0, tries once and never waits', async () => {
    // The clock held still: the deadline is now, so the time left is 0, not less.
    const clock = vi.spyOn(Date, 'now').mockReturnValue(1_000_000)
    try {
      let tries = 0
      const run = takeLease(
        'S',
        '7',
        {
          timeoutMs: 0,
          leaseMs: 1000,
          autoRenew: false,
          sleep: () => Promise.reject(new Error('waited')),
        },
        async () => ((tries += 1), { retryInMs: 1000 }),
      )
      await expect(run).rejects.toThrow(/could not lock token 7 within 0 ms/)
      expect(tries).toBe(1)
    } finally {
      clock.mockRestore()
    }
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
