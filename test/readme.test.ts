import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from './helpers/common.ts'

const root = resolve(import.meta.dirname, '..')

describe('the README', () => {
  it('shows the quick start file as it is, and the quick start runs as written', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const example = readFileSync(join(root, 'examples/quickstart.ts'), 'utf8')
    expect(readme).toContain('```ts\n' + example + '```')
    const cwd = scratchDir('tokenkeeper-quickstart-')
    const tsx = join(root, 'node_modules/tsx/dist/cli.mjs')
    const out = execFileSync(process.execPath, [tsx, join(root, 'examples/quickstart.ts')], {
      cwd,
      encoding: 'utf8',
    })
    const lines = out.trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^FileStore [1-9][0-9]{0,9} \{"id":/)
    expect(lines[1]).toMatch(/^SQLiteStore [1-9][0-9]{0,9} \{"id":/)
    expect(out).toContain('"refreshToken":"[redacted]"')
    expect(out).not.toContain('1000.refresh-token')
    // Running it again updates the same rows.
    const again = execFileSync(process.execPath, [tsx, join(root, 'examples/quickstart.ts')], {
      cwd,
      encoding: 'utf8',
    })
    expect(again.split('\n')[0]!.split(' ')[1]).toBe(lines[0]!.split(' ')[1])
  })

  it('shows the session quick start as it is, and it runs as written against the emulator', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const example = readFileSync(join(root, 'examples/session.ts'), 'utf8')
    expect(readme).toContain('```ts\n' + example + '```')
    const cwd = scratchDir('tokenkeeper-session-')
    const tsx = join(root, 'node_modules/tsx/dist/cli.mjs')
    const out = execFileSync(process.execPath, [tsx, join(root, 'examples/session.ts')], {
      cwd,
      encoding: 'utf8',
    })
    expect(out).toMatch(/^signed in as ada@zylker\.example, token id [1-9][0-9]{0,9}\n/)
    expect(out).toMatch(/^lead: \w+ \(\w+\)$/m)
  })

  it('shows the two set-up commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme).toContain('npm ci && npm start')
    expect(readme).toContain('npm test')
  })
})
