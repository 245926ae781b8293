import { readFileSync, readdirSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TYPE_CHECK_TIMEOUT_MS, typeCheck } from './type-check.ts'

const root = resolve(import.meta.dirname, '..')

/** The Markdown pages under docs/ (and SECURITY.md) whose ```ts blocks all compile as written. */
function pages(): string[] {
  const docs = join(root, 'docs')
  const found = readdirSync(docs, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join(docs, name))
  return [join(root, 'SECURITY.md'), ...found].filter((path) => {
    try {
      readFileSync(path)
      return true
    } catch {
      return false
    }
  })
}

function blocks(text: string): string[] {
  return [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!)
}

/**
 * The README's fragments, by their first line: what the prose around a block supplies (put
 * before the block, so that the block still compiles exactly as written), or `null` for a
 * signature sketch that is not code (`store?` marks an optional option). Every other block of
 * the README must compile on its own.
 */
const README_CONTEXT: Readonly<Record<string, string | null>> = {
  'await purgeTokens(store, { idleMs: 30 * 24 * 3_600_000 }) // unused for 30 days': [
    "import { purgeTokens, revokeTokens, type Environment, type TokenStore } from 'tokenkeeper'",
    'declare const store: TokenStore',
    'declare const environment: Environment',
  ].join('\n'),
  "import diagnostics from 'node:diagnostics_channel'": [
    // prom-client is the reader's dependency, not ours: its Counter as far as the block uses it.
    'declare class Counter {',
    '  constructor(options: { name: string; help: string; labelNames?: string[] })',
    '  inc(labels?: Record<string, string>): void',
    '}',
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

/** The README's blocks to compile, each with the context its prose gives (see README_CONTEXT). */
function readmeSources(readme: string): {
  sources: Map<string, string>
  unused: string[]
} {
  const sources = new Map<string, string>()
  const used = new Set<string>()
  blocks(readme).forEach((code, i) => {
    const first = code.split('\n', 1)[0]!
    const context = README_CONTEXT[first]
    if (context !== undefined) used.add(first)
    if (context === null) return
    const name = `README_${i + 1}.ts`
    sources.set(name, asModule(context === undefined ? code : `${context}\n${code}`))
  })
  return { sources, unused: Object.keys(README_CONTEXT).filter((first) => !used.has(first)) }
}

describe('the docs', () => {
  it(
    'has ts blocks that compile against the package as written',
    () => {
      const sources = new Map<string, string>()
      for (const page of pages()) {
        blocks(readFileSync(page, 'utf8')).forEach((code, i) => {
          const name = `${relative(root, page).replace(/[^A-Za-z0-9]+/g, '_')}_${i + 1}.ts`
          sources.set(name, asModule(code))
        })
      }
      expect(sources.size).toBeGreaterThan(0)
      expect(typeCheck('docs-check', sources)).toBe('')
    },
    TYPE_CHECK_TIMEOUT_MS,
  )

  it(
    'has README ts blocks that compile against the built package under strict TypeScript',
    () => {
      const { sources, unused } = readmeSources(readFileSync(join(root, 'README.md'), 'utf8'))
      // A fragment that left the README takes its context with it.
      expect(unused).toEqual([])
      // The quick starts, the encryption example and the fragments given their context.
      expect(sources.size).toBeGreaterThanOrEqual(6)
      expect(typeCheck('readme-check', sources)).toBe('')
    },
    TYPE_CHECK_TIMEOUT_MS,
  )
})
