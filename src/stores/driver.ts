import { createRequire } from 'node:module'
import { TokenStoreError } from '../errors.js'

const require = createRequire(import.meta.url)

/**
 * Loads a store's driver, an optional peer dependency, when the store is first used; a missing
 * one is a TokenStoreError that says what to install.
 */
export function loadDriver<T>(store: string, specifier: string): T {
  const name = specifier.startsWith('@')
    ? specifier.split('/').slice(0, 2).join('/')
    : specifier.split('/')[0]!
  try {
    return require(specifier) as T
  } catch (err) {
    throw new TokenStoreError(
      store,
      'open',
      `the ${name} package is not installed; run \`npm install ${name}\``,
      {
        cause: err,
      },
    )
  }
}
