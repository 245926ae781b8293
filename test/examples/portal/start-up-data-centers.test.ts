// The demo portal as `npm start` runs it serves a user of another data center (EU) too: the
// consent page offers her, she signs in at the EU listener, and the EU listener's port is kept
// across restarts like the main one (the rows of EU users name it), moving alone when taken.
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EMULATOR_FILE } from '../../../examples/portal/accounts.ts'
import { startPortal, type Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { consent, Jar, request } from './helpers.ts'

interface Kept {
  port: number
  euPort?: number
  clientId: string
  clientSecret: string
}

const keptIn = (dir: string): Kept =>
  JSON.parse(readFileSync(join(dir, EMULATOR_FILE), 'utf8')) as Kept
const euUrl = (portal: Portal): string => portal.accounts!.dataCenter('eu').url

/** Lise (EU) signs in; the dashboard names her and the EU environment. */
async function signInLise(portal: Portal): Promise<void> {
  const jar = new Jar()
  const callback = await consent(portal, jar, 'lise@zylker.example')
  expect(callback.searchParams.get('accounts-server')).toBe(euUrl(portal))
  expect((await request(jar, callback.href)).status).toBe(303)
  const home = await request(jar, `${portal.url}/`)
  expect(home.body).toContain('<strong id="user">lise@zylker.example</strong>')
  expect(home.body).toContain('emulator-eu')
}

describe("the demo portal's own emulator: its EU data center", () => {
  it('offers an EU user, and keeps the EU port across restarts', async () => {
    const cwd = scratchDir('tokenkeeper-portal-eu-')
    const first = await startPortal({ port: 0, cwd, env: {} })
    let eu: string
    try {
      const login = await request(new Jar(), `${first.url}/login`)
      const page = await request(new Jar(), login.location!)
      expect(page.body).toContain(
        '<option value="lise@zylker.example">Lise Meitner &lt;lise@zylker.example&gt; (EU)</option>',
      )
      eu = euUrl(first)
      expect(keptIn(cwd).euPort).toBe(Number(new URL(eu).port))
      await signInLise(first)
    } finally {
      await first.stop()
    }
    const second = await startPortal({ port: 0, cwd, env: {} })
    try {
      expect(euUrl(second)).toBe(eu)
      await signInLise(second)
    } finally {
      await second.stop()
    }
  })

  it('moves the EU port alone when it is taken, and reads a file kept before it existed', async () => {
    const dir = scratchDir('tokenkeeper-portal-eu-taken-')
    const first = await startPortal({ port: 0, cwd: dir, env: {} })
    await first.stop()
    const kept = keptIn(dir)
    const squatter = createServer()
    await new Promise<void>((done) => squatter.listen(kept.euPort, '127.0.0.1', done))
    try {
      const second = await startPortal({ port: 0, cwd: dir, env: {} })
      const moved = Number(new URL(euUrl(second)).port)
      await second.stop()
      expect(moved).not.toBe(kept.euPort)
      expect(keptIn(dir)).toEqual({ ...kept, euPort: moved })
    } finally {
      await new Promise((done) => squatter.close(done))
    }

    // A file from before the EU data center: the main port and client are kept, the EU port added.
    const { euPort: _dropped, ...old } = keptIn(dir)
    writeFileSync(join(dir, EMULATOR_FILE), JSON.stringify(old) + '\n', { mode: 0o600 })
    const third = await startPortal({ port: 0, cwd: dir, env: {} })
    let thirdEu: string
    try {
      thirdEu = euUrl(third)
      expect(Number(new URL(third.environment.accountsUrl).port)).toBe(old.port)
      await signInLise(third)
    } finally {
      await third.stop()
    }
    const now = keptIn(dir)
    expect(now).toMatchObject(old)
    expect(now.euPort).toBe(Number(new URL(thirdEu).port))
  })
})
