// The demo portal started inside another process, on a port that is taken: startPortal throws,
// and leaves nothing of its own behind (its refresh counting, its store), since the process
// that called it lives on.
import * as diagnostics from 'node:diagnostics_channel'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startPortal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'

/** The channel the portal counts refreshes on (see countRefreshes in routes.ts). */
const refreshed = diagnostics.channel('tokenkeeper:token.refreshed')

describe('the demo portal on a port that is taken', () => {
  it('throws EADDRINUSE and stops counting refreshes, then starts once the port is free', async () => {
    const cwd = scratchDir('tokenkeeper-portal-port-taken-')
    const squatter = createServer()
    await new Promise<void>((done) => squatter.listen(0, '127.0.0.1', done))
    const port = (squatter.address() as AddressInfo).port
    try {
      // Nothing in this test file listens to the channel: a subscriber afterwards is the portal's.
      expect(refreshed.hasSubscribers).toBe(false)
      await expect(startPortal({ port, cwd, env: {} })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      })
      expect(refreshed.hasSubscribers).toBe(false)
    } finally {
      await new Promise((done) => squatter.close(done))
    }
    // The same directory serves a portal on the freed port: the failed start left it usable.
    const portal = await startPortal({ port, cwd, env: {} })
    try {
      expect(refreshed.hasSubscribers).toBe(true)
      expect((await fetch(`${portal.url}/login`, { redirect: 'manual' })).status).toBe(302)
    } finally {
      await portal.stop()
    }
    expect(refreshed.hasSubscribers).toBe(false)
  })
})
