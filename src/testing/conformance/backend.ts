import assert from 'node:assert/strict'
import { OAuthToken } from '../../token.js'
import { HOSTILE_VALUES, sample, assertSame, type SuiteContext } from './common.js'

/** What needs more than a fresh store: a failing backend, and reopening. */
export function backendTests({ options, tests }: SuiteContext): void {
  if (options.createBroken) {
    const createBroken = options.createBroken
    tests.push({
      name: 'a failing backend raises TokenStoreError naming the store and the operation, and no secret',
      run: async () => {
        const store = await createBroken()
        const token = sample('ada@example.com')
        const secrets = [
          token.clientSecret!,
          token.refreshToken!,
          token.accessToken!,
          token.grantToken!,
        ]
        const calls: [string, () => Promise<unknown>][] = [
          ['saveToken', () => store.saveToken(token)],
          ['findToken', () => store.findToken(token)],
          ['findTokenById', () => store.findTokenById('0123456789')],
          ['getTokens', () => store.getTokens()],
          ['deleteToken', () => store.deleteToken('0123456789')],
          ['deleteTokens', () => store.deleteTokens()],
        ]
        try {
          for (const [operation, call] of calls) {
            await assert.rejects(call(), (err: unknown) => {
              const e = err as {
                code?: unknown
                store?: unknown
                operation?: unknown
                message: string
                cause?: unknown
              }
              assert.equal(e.code, 'TOKEN_STORE', `${operation}: code`)
              assert.equal(typeof e.store, 'string', `${operation}: the error names the store`)
              assert.ok(
                e.message.includes(operation) || e.operation === operation,
                `${operation}: the error names the operation`,
              )
              const text = `${e.message} ${String(e.cause)}`
              for (const secret of secrets)
                assert.ok(!text.includes(secret), `${operation}: the error shows a secret`)
              return true
            })
          }
        } finally {
          await store.close?.().catch(() => undefined)
        }
      },
    })
  }

  if (options.reopen) {
    const reopen = options.reopen
    tests.push({
      name: 'reopening keeps every token',
      run: async () => {
        const store = await options.create()
        const tokens = [
          sample('ada@example.com'),
          sample('bob@example.com'),
          sample(HOSTILE_VALUES[4]!),
        ]
        for (const token of tokens) await store.saveToken(token)
        await store.deleteToken(tokens[1]!.id!)
        await store.close?.()
        const again = await reopen(store)
        try {
          assert.equal((await again.getTokens()).length, 2)
          assertSame(await again.findTokenById(tokens[0]!.id!), tokens[0]!, 'after reopening')
          assertSame(
            await again.findToken(new OAuthToken({ userSignature: tokens[2]!.userSignature })),
            tokens[2]!,
            'after reopening',
          )
          assert.equal(
            await again.findTokenById(tokens[1]!.id!),
            null,
            'a deleted token stays deleted',
          )
        } finally {
          await again.close?.()
        }
      },
    })
  }
}
