import { execFileSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../helpers/common.ts'

const root = resolve(import.meta.dirname, '../..')

describe('npm start (the terminal demo)', () => {
  it('saves users in demo.db, finds one by every key, prints secrets masked, and reruns in place', () => {
    const cwd = scratchDir('tokenkeeper-demo-')
    const tsx = join(root, 'node_modules/tsx/dist/cli.mjs')
    const run = () =>
      execFileSync(process.execPath, [tsx, join(root, 'examples/demo.ts')], {
        cwd,
        encoding: 'utf8',
      })
    const first = run()
    for (const key of ['user name', 'id', 'access token', 'grant token', 'refresh token']) {
      expect(first).toMatch(new RegExp(`by ${key} +-> found id [1-9][0-9]{0,9}`))
    }
    expect(first).toContain('"accessToken":"[redacted]"')
    expect(first).not.toMatch(/1000\.(access|refresh|grant)\./)
    expect(first).not.toContain('demo-client-secret')
    const ids = (text: string) => [...text.matchAll(/as id ([1-9][0-9]{0,9})/g)].map((m) => m[1])
    expect(ids(first)).toHaveLength(3)
    expect(ids(run())).toEqual(ids(first))
  })
})
