import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')

/**
 * The time a test that runs tsc may take: about 15 s alone, several times that on two cores
 * shared with other work, and a timeout says nothing about the types.
 */
export const TYPE_CHECK_TIMEOUT_MS = 300_000

/**
 * Type-checks `sources` (file name → code) under the project's strict settings, with
 * `tokenkeeper` and its subpaths resolved by tsconfig.json's paths to the sources (the packed
 * declarations are checked by test/package.test.ts). Returns tsc's diagnostics, `''` when there
 * are none.
 */
export function typeCheck(dirName: string, sources: ReadonlyMap<string, string>): string {
  const dir = join(root, '.tmp', dirName)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  for (const [name, code] of sources) writeFileSync(join(dir, name), code)
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: relative(dir, join(root, 'tsconfig.json')),
      compilerOptions: { rootDir: relative(dir, root) },
      include: [...sources.keys()],
    }),
  )
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  try {
    execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' })
    return ''
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? err)
  }
}
