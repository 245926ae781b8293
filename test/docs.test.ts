import { readFileSync, readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TYPE_CHECK_TIMEOUT_MS, typeCheck } from './helpers/type-check.ts'

const root = resolve(import.meta.dirname, '..')

/** The Markdown pages whose ```ts blocks compile: the README, SECURITY.md and docs/. */
function pages(): string[] {
  const docs = join(root, 'docs')
  const found = readdirSync(docs, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docs, name))
  return [join(root, 'README.md'), join(root, 'SECURITY.md'), ...found]
}

function blocks(text: string): string[] {
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
}

/**
 * Fragments, by their first line: what the prose around a block supplies (put before the
 * block, so that the block still compiles exactly as written), or `null` for a signature sketch
 * that is not code (`store?` marks an optional option). Every other block must compile on its
 * own.
 */
const CONTEXT: Readonly<Record<string, string | null>> = {
  'await purgeTokens(store, { idleMs: 30 * 24 * 3_600_000 }) // unused for 30 days': [
    "import { purgeTokens, revokeTokens, type Environment, type TokenStore } from 'tokenkeeper'",
    'declare const store: TokenStore',
    'declare const environment: Environment',
  ].join('\n'),
  'const session = await Initializer.initialize({ environment, token, store?, logger?, config? })':
    null,
  "import { describe, it } from 'vitest' // or node:test, mocha, jest": [
    "import type { TokenStore } from 'tokenkeeper'",
    'declare const MyStore: new () => TokenStore // the store the reader writes',
  ].join('\n'),
}

/** `code` as a module of its own (`export {}` keeps it one when it imports nothing). */
const asModule = (code: string): string => `${code}\nexport {}\n`

/** Every page's blocks to compile, each with the context its prose gives (see CONTEXT). */
function sourcesOf(paths: readonly string[]): { sources: Map<string, string>; unused: string[] } {
  const sources = new Map<string, string>()
  const used = new Set<string>()
  for (const page of paths) {
    blocks(readFileSync(page, 'utf8')).forEach((code, i) => {
      const first = code.split('\n', 1)[0]!
      const context = CONTEXT[first]
      if (context !== undefined) used.add(first)
      if (context === null) return
      const name = `${relative(root, page).replace(/[^A-Za-z0-9]+/g, '_')}_${i + 1}.ts`
      sources.set(name, asModule(context === undefined ? code : `${context}\n${code}`))
    })
  }
  return { sources, unused: Object.keys(CONTEXT).filter((first) => !used.has(first)) }
}

describe('the docs', () => {
  it(
    'has ts blocks that compile against the package as written, under strict TypeScript',
    () => {
      const { sources, unused } = sourcesOf(pages())
      // A fragment that left the pages takes its context with it.
      expect(unused).toEqual([])
      // The README's two quick starts at least, and the blocks of docs/.
      expect([...sources.keys()].filter((name) => name.startsWith('README_'))).toHaveLength(2)
      expect(sources.size).toBeGreaterThanOrEqual(10)
      expect(typeCheck('docs-check', sources)).toBe('')
    },
    TYPE_CHECK_TIMEOUT_MS,
  )
})
