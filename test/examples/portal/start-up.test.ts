// The demo portal as `npm start` runs it, with its own accounts emulator: across restarts the
// emulator keeps its port and client (kept in a file only its owner reads), and moves to a new
// port, kept from then on, when its port is taken.
import { readFileSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EMULATOR_FILE } from '../../../examples/portal/accounts.ts'
import { startPortal, type Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'
import { consent, Jar, request } from './helpers.ts'

describe("the demo portal's own accounts emulator across restarts", () => {
  const cwd = scratchDir('tokenkeeper-portal-restart-')

  it('comes back on the same port with the same client, so stored rows and sign-ins stay valid', async () => {
    const clientOf = async (portal: Portal): Promise<string | null> => {
      const login = await request(new Jar(), `${portal.url}/login`)
      return new URL(login.location!).searchParams.get('client_id')
    }
    const first = await startPortal({ port: 0, cwd, env: {} })
    const accountsUrl = first.environment.accountsUrl
    const clientId = await clientOf(first)
    expect(clientId).toMatch(/^1000\.PORTALDEMO[0-9A-F]{22}$/)
    await first.stop()

    const second = await startPortal({ port: 0, cwd, env: {} })
    try {
      expect(second.environment.accountsUrl).toBe(accountsUrl)
      expect(await clientOf(second)).toBe(clientId)
      // Signing in works against the restarted emulator with the kept client and secret.
      const jar = new Jar()
      const callback = await consent(second, jar, 'ada@zylker.example')
      const done = await request(jar, callback.href)
      expect(done.status).toBe(303)
      expect((await request(jar, `${second.url}/`)).body).toContain('ada@zylker.example')
    } finally {
      await second.stop()
    }
    // The kept client secret is readable by its owner only.
    expect(statSync(join(cwd, EMULATOR_FILE)).mode & 0o777).toBe(0o600)
  })

  it('moves to a new port, kept from then on, when its port is taken; the client stays', async () => {
    const dir = scratchDir('tokenkeeper-portal-taken-')
    const first = await startPortal({ port: 0, cwd: dir, env: {} })
    const port = Number(new URL(first.environment.accountsUrl).port)
    const kept = JSON.parse(readFileSync(join(dir, EMULATOR_FILE), 'utf8')) as {
      port: number
      clientId: string
    }
    expect(kept.port).toBe(port)
    await first.stop()

    const squatter = createServer()
    await new Promise<void>((done) => squatter.listen(port, '127.0.0.1', done))
    try {
      const second = await startPortal({ port: 0, cwd: dir, env: {} })
      const moved = Number(new URL(second.environment.accountsUrl).port)
      await second.stop()
      expect(moved).not.toBe(port)
      const now = JSON.parse(readFileSync(join(dir, EMULATOR_FILE), 'utf8')) as typeof kept
      expect(now).toEqual({ ...kept, port: moved })
    } finally {
      await new Promise((done) => squatter.close(done))
    }
  })
})
