// `npm start` as a newcomer runs it: the portal's entry point, no configuration, in an empty
// directory. It serves the portal, and "Login with Zoho" leads to a consent page.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../helpers/common.ts'

const root = resolve(import.meta.dirname, '../..')

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
  })
}

describe('npm start', () => {
  it('serves the portal with nothing configured, and the login leads to the consent page', async () => {
    const cwd = scratchDir('tokenkeeper-start-')
    const port = await freePort()
    const child = spawn(
      process.execPath,
      [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'examples/portal/main.ts')],
      {
        cwd,
        env: { ...process.env, PORT: String(port) },
      },
    )
    try {
      const output = await new Promise<string>((done, fail) => {
        let text = ''
        child.stdout.on('data', (chunk: Buffer) => {
          text += chunk.toString()
          if (text.includes('accounts emulator on')) done(text)
        })
        child.once('exit', (code) => fail(new Error(`the portal exited with ${code}: ${text}`)))
      })
      expect(output).toContain(`tokenkeeper portal on http://127.0.0.1:${port}`)
      const home = await fetch(`http://127.0.0.1:${port}/`)
      expect(home.status).toBe(200)
      expect(await home.text()).toContain('Login with Zoho')
      const login = await fetch(`http://127.0.0.1:${port}/login`, { redirect: 'manual' })
      const consentUrl = new URL(login.headers.get('location')!)
      expect(consentUrl.pathname).toBe('/oauth/v2/auth')
      expect(consentUrl.searchParams.get('code_challenge_method')).toBe('S256')
      expect(consentUrl.searchParams.get('state')).toBeTruthy()
      const consent = await fetch(consentUrl)
      expect(consent.status).toBe(200)
      expect(await consent.text()).toMatch(/ada@zylker\.example/)
    } finally {
      child.kill('SIGTERM')
      await new Promise((done) => child.once('exit', done))
    }
  })

  it('says which port is taken and how to pick another, when one runs already', async () => {
    const taken = createServer()
    await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done))
    const { port } = taken.address() as { port: number }
    try {
      const child = spawn(
        process.execPath,
        [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'examples/portal/main.ts')],
        {
          cwd: scratchDir('tokenkeeper-start-taken-'),
          env: { ...process.env, PORT: String(port) },
        },
      )
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const code = await new Promise<number | null>((done) => child.once('exit', done))
      expect(code).toBe(1)
      expect(stderr).toContain(`port ${port} is taken`)
      expect(stderr).toMatch(/PORT=\d+ npm start/)
      expect(stderr).not.toContain('EADDRINUSE')
    } finally {
      await new Promise((done) => taken.close(done))
    }
  })
})
