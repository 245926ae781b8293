import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll } from 'vitest'
import type { TokenStore } from '../../src/index.ts'
import { channel, type TokenEventName, type TokenEvents } from '../../src/events.ts'

/** A scratch directory removed after the file's tests. */
export function scratchDir(prefix = 'tokenkeeper-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

let counter = 0
/** A new path inside a scratch directory. */
export function scratchPath(dir: string, name: string): string {
  counter += 1
  return join(dir, `${counter}-${name}`)
}

const ARTICLE = 'kaizen-192-custom-token-persistence.txt'

/**
 * The reference article (read at test time, never copied into the project): in
 * `$TOKENKEEPER_REFERENCE_DIR`, in `shared/reference/` beside the checkout or above it, or in
 * this machine kind's `/work/shared/reference/`; `undefined` when none holds it.
 */
export function referenceArticle(): string | undefined {
  const dirs: string[] = []
  if (process.env.TOKENKEEPER_REFERENCE_DIR) dirs.push(process.env.TOKENKEEPER_REFERENCE_DIR)
  for (let at = fileURLToPath(new URL('../..', import.meta.url)); ; at = dirname(at)) {
    dirs.push(join(at, 'shared', 'reference'))
    if (dirname(at) === at) break
  }
  dirs.push('/work/shared/reference')
  return dirs.map((dir) => join(dir, ARTICLE)).find((path) => existsSync(path))
}

/** Moves the stored expiry of each token to `at` (epoch ms), as time passing would. */
export async function expireAt(
  store: TokenStore,
  ids: readonly string[],
  at: number,
): Promise<void> {
  for (const id of ids) {
    const token = (await store.findTokenById(id))!
    token.expiryTime = at
    await store.saveToken(token)
  }
}

/** The next event of this name on its diagnostics channel; the subscription ends with it. */
export function nextEvent<N extends TokenEventName>(name: N): Promise<TokenEvents[N]> {
  return new Promise((resolve) => {
    const ch = channel(name)
    const take = (event: unknown): void => {
      ch.unsubscribe(take)
      resolve(event as TokenEvents[N])
    }
    ch.subscribe(take)
  })
}
