import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = resolve(import.meta.dirname, '..')

/** The Markdown pages whose ```ts blocks are meant to compile as written. */
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

describe('the docs', () => {
  it('has ts blocks that compile against the package as written', () => {
    const dir = join(root, '.tmp', 'docs-check')
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const files: string[] = []
    for (const page of pages()) {
      blocks(readFileSync(page, 'utf8')).forEach((code, i) => {
        const name = `${relative(root, page).replace(/[^A-Za-z0-9]+/g, '_')}_${i + 1}.ts`
        // Each block is a module of its own; `export {}` keeps it one when it imports nothing.
        writeFileSync(join(dir, name), `${code}\nexport {}\n`)
        files.push(name)
      })
    }
    expect(files.length).toBeGreaterThan(0)
    const src = (path: string) => [relative(dir, join(root, 'src', path))]
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: relative(dir, join(root, 'tsconfig.json')),
        compilerOptions: {
          rootDir: relative(dir, root),
          paths: {
            tokenkeeper: src('index.ts'),
            'tokenkeeper/testing': src('testing/index.ts'),
            'tokenkeeper/stores/*': src('stores/*.ts'),
          },
        },
        include: files,
      }),
    )
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    let output = ''
    try {
      execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' })
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err)
    }
    expect(output).toBe('')
  })
})
