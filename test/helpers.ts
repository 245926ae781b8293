import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'

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
