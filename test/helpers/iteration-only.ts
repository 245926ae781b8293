// Stores for the tests of the passes over all tokens: one whose getTokens() throws, so that a pass
// can only read it a page at a time, and which can count the tokens it gave that are still alive.
import v8 from 'node:v8'
import vm from 'node:vm'
import {
  MemoryStore,
  OAuthToken,
  UserSignature,
  type ConditionalSave,
  type LockOptions,
  type TokenLocking,
  type TokenStore,
} from '../../src/index.ts'
import type { IterateOptions } from '../../src/iteration.ts'

export const HOUR = 3_600_000
export const NOW = Date.UTC(2026, 10, 30)

export const NO_GET_TOKENS = 'getTokens must not be used by a pass'

/**
 * A store that can only be passed over a page at a time: its getTokens() throws. It counts what
 * its pages gave, and, when asked, how many of the tokens it gave are still alive (held by the
 * pass) each time it has given `probeEvery` more.
 */
export class IterationOnly implements TokenStore, TokenLocking, ConditionalSave {
  readonly inner: MemoryStore
  given = 0
  pages = 0
  /** The most tokens given by this store alive at once, when probed. */
  mostAlive = 0
  #finalized = 0
  readonly #registry = new FinalizationRegistry<void>(() => void (this.#finalized += 1))

  constructor(
    inner = new MemoryStore(),
    readonly probeEvery = 0,
  ) {
    this.inner = inner
  }

  findToken(token: OAuthToken) {
    return this.inner.findToken(token)
  }
  findTokenById(id: string) {
    return this.inner.findTokenById(id)
  }
  saveToken(token: OAuthToken) {
    return this.inner.saveToken(token)
  }
  saveTokenIf(token: OAuthToken, expected: OAuthToken) {
    return this.inner.saveTokenIf(token, expected)
  }
  deleteToken(id: string) {
    return this.inner.deleteToken(id)
  }
  deleteTokens() {
    return this.inner.deleteTokens()
  }
  lockToken(id: string, options?: LockOptions) {
    return this.inner.lockToken(id, options)
  }
  getTokens(): Promise<OAuthToken[]> {
    return Promise.reject(new Error(NO_GET_TOKENS))
  }

  async *iterateTokens(options?: IterateOptions): AsyncGenerator<OAuthToken> {
    const pageSize = options?.pageSize ?? 500
    let inPass = 0
    for await (const token of this.inner.iterateTokens(options)) {
      if (inPass++ % pageSize === 0) this.pages += 1
      this.given += 1
      if (this.probeEvery > 0) {
        this.#registry.register(token, undefined)
        if (this.given % this.probeEvery === 0) await this.#probe()
      }
      yield token
    }
  }

  async #probe(): Promise<void> {
    // Finalizers run in tasks after a collection: collect and wait until the count settles.
    let alive = Infinity
    for (let round = 0; round < 4; round += 1) {
      collectGarbage()
      await new Promise((resolve) => setImmediate(resolve))
      await new Promise((resolve) => setTimeout(resolve, 1))
      alive = Math.min(alive, this.given - this.#finalized)
    }
    this.mostAlive = Math.max(this.mostAlive, alive)
  }
}

v8.setFlagsFromString('--expose-gc')
const collectGarbage = vm.runInNewContext('gc') as () => void

export function token(
  name: string,
  extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {},
) {
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.ABCDEFGHIJKLMNXY',
    clientSecret: 'SeCrEt-client',
    refreshToken: `SeCrEt-refresh-${name}`,
    accessToken: `SeCrEt-access-${name}`,
    expiryTime: NOW + HOUR,
    ...extra,
  })
}

/** `count` tokens, every `expiredEvery`-th expired, saved in a store wrapped by IterationOnly. */
export async function filled(
  count: number,
  expiredEvery = 0,
  probeEvery = 0,
): Promise<IterationOnly> {
  const store = new IterationOnly(new MemoryStore(), probeEvery)
  for (let i = 0; i < count; i += 1) {
    const expired = expiredEvery > 0 && i % expiredEvery === 0
    await store.saveToken(
      token(`user${String(i).padStart(6, '0')}@zylker.example`, {
        // Ids of one width: a table of several pages is then the one printed before.
        id: String(100_000 + i),
        expiryTime: expired ? NOW - 2 * HOUR : NOW + HOUR,
      }),
    )
  }
  return store
}
