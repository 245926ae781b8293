// `tokenkeeper emulator` (also `npm run emulator`): every option parsed by the real command
// definition, refused when bad, listed with its default in the help, and in effect on a running
// emulator started as a child process.
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { emulatorSettings, registerEmulator } from '../../src/cli/commands/emulator.ts'
import { CliError, EXIT } from '../../src/cli/shared.ts'
import type { AccountsEmulatorOptions } from '../../src/testing/index.ts'
import { DEFAULT_CLIENT } from '../../src/testing/emulator/settings.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')
const OPTIONS = [
  '--host',
  '--port',
  '--auto-approve',
  '--latency-ms',
  '--rotate-refresh-tokens',
  '--no-limit',
  '--exchange-limit',
  '--access-token-lifetime-sec',
  '--grant-code-lifetime-sec',
  '--second-ms',
  '--error-style',
  '--client-id',
  '--client-secret',
  '--redirect-uri',
  '--user',
  '--expires-in-style',
]

/** Thrown by the preAction hook: parsing went through and the action was not run. */
class Parsed extends Error {
  constructor(readonly options: AccountsEmulatorOptions) {
    super('parsed')
  }
}

/** The emulator command on a program of its own, which throws instead of exiting or printing. */
function program(): Command {
  const root = new Command('tokenkeeper')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
  registerEmulator(root)
  return root
}

/**
 * What the command would give startAccountsEmulator for these arguments. Its action is wrapped:
 * the settings are computed (as the real action does first) and the server is never started.
 */
async function settingsFor(args: string[]): Promise<AccountsEmulatorOptions> {
  const root = program()
  const command = root.commands.find((c) => c.name() === 'emulator')!
  command.hook('preAction', (_, action) => {
    throw new Parsed(emulatorSettings(action.opts()))
  })
  try {
    await root.parseAsync(['emulator', ...args], { from: 'user' })
  } catch (err) {
    if (err instanceof Parsed) return err.options
    throw err
  }
  throw new Error('the action ran')
}

describe('tokenkeeper emulator: options', () => {
  it('defaults to Zoho-like settings on 127.0.0.1 and a random port', async () => {
    expect(await settingsFor([])).toEqual({
      host: '127.0.0.1',
      port: 0,
      autoApprove: false,
      latencyMs: 0,
      rotateRefreshTokens: false,
      errorStyle: 'zoho',
      expiresInStyle: 'seconds',
      clients: [
        { clientId: '1000.EMULATORCLIENT0000000000000000', clientSecret: 'emulator-client-secret' },
      ],
    })
  })

  it('maps every option to the emulator setting it names', async () => {
    expect(
      await settingsFor([
        '--host',
        '0.0.0.0',
        '--port',
        '4000',
        '--auto-approve',
        '--latency-ms',
        '250',
        '--rotate-refresh-tokens',
        '--no-limit',
        '--exchange-limit',
        '--access-token-lifetime-sec',
        '60',
        '--grant-code-lifetime-sec',
        '30',
        '--second-ms',
        '10',
        '--error-style',
        'oauth2',
        '--client-id',
        '1000.MINE',
        '--client-secret',
        'mine',
        '--redirect-uri',
        'http://127.0.0.1:3000/a',
        '--redirect-uri',
        'http://127.0.0.1:3000/b',
        '--user',
        'grace@zylker.example',
        '--user',
        'alan@zoho.example',
        '--expires-in-style',
        'milliseconds',
      ]),
    ).toEqual({
      host: '0.0.0.0',
      port: 4000,
      autoApprove: true,
      latencyMs: 250,
      rotateRefreshTokens: true,
      accessTokenLimit: false,
      exchangeLimit: true,
      accessTokenLifetimeSec: 60,
      grantCodeLifetimeSec: 30,
      secondMs: 10,
      errorStyle: 'oauth2',
      expiresInStyle: 'milliseconds',
      users: [{ email: 'grace@zylker.example' }, { email: 'alan@zoho.example' }],
      clients: [
        {
          clientId: '1000.MINE',
          clientSecret: 'mine',
          redirectUris: ['http://127.0.0.1:3000/a', 'http://127.0.0.1:3000/b'],
        },
      ],
    })
  })

  it('maps --data-center and a user of that data center', async () => {
    const settings = await settingsFor([
      '--data-center',
      'eu:4001',
      '--data-center',
      'in',
      '--user',
      'ada@zylker.example',
      '--user',
      'lise@zylker.example=eu',
    ])
    expect(settings.dataCenters).toEqual([
      { location: 'eu', port: 4001 },
      { location: 'in', port: 0 },
    ])
    expect(settings.users).toEqual([
      { email: 'ada@zylker.example' },
      { email: 'lise@zylker.example', dataCenter: 'eu' },
    ])
  })

  it.each([
    [['--port', '65536'], /--port must be a port number \(0 to 65535\)/],
    [['--port', '-1'], /--port must be a port number/],
    [['--port', 'http'], /--port must be a port number/],
    [['--latency-ms', '1.5'], /--latency-ms must be a whole number of milliseconds/],
    [['--latency-ms', '2147483648'], /--latency-ms must be .* \(0 to 2147483647\)/],
    [['--client-id', ''], /--client-id must not be empty/],
    [['--client-secret', ''], /--client-secret must not be empty/],
    [['--host', ''], /--host must name an interface/],
    [['--redirect-uri', '/callback'], /--redirect-uri must be an absolute URL.*'\/callback'/],
    [['--access-token-lifetime-sec', '0'], /--access-token-lifetime-sec must be .* \(1 to 86400\)/],
    [['--access-token-lifetime-sec', '1.5'], /--access-token-lifetime-sec must be a whole number/],
    [['--grant-code-lifetime-sec', '86401'], /--grant-code-lifetime-sec must be .* \(1 to 86400\)/],
    [['--second-ms', '0'], /--second-ms must be a whole number of milliseconds \(1 to 1000\)/],
    [['--second-ms', 'fast'], /--second-ms must be a whole number of milliseconds/],
    [['--user', 'grace'], /--user must be an e-mail address.*'grace'/],
    [['--data-center', 'mars'], /--data-center must be a Zoho location code.*'mars'/],
    [['--data-center', 'eu:99999'], /--data-center must be a port number/],
    [['--user', 'lise@zylker.example=eu'], /serves us; add --data-center eu/],
  ])('refuses %j with a usage error that says what is wanted', async (args, message) => {
    const err = await settingsFor(args).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CliError)
    expect((err as CliError).exitCode).toBe(EXIT.usage)
    expect((err as CliError).message).toMatch(message)
  })

  it.each([
    [['--error-style', 'json'], /Allowed choices are zoho, oauth2/],
    [['--expires-in-style', 'minutes'], /Allowed choices are seconds, milliseconds/],
    [['--bogus'], /unknown option '--bogus'/],
    [['--limit'], /unknown option '--limit'/],
    [['4000'], /too many arguments/],
  ])('refuses %j before anything runs', async (args, message) => {
    const err = await settingsFor(args).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CommanderError)
    expect((err as CommanderError).message).toMatch(message)
  })

  it('lists every option with its default in the help, the port as random', () => {
    const help = program()
      .commands.find((c) => c.name() === 'emulator')!
      .helpInformation({ error: false })
      .replace(/\s+/g, ' ')
    for (const option of OPTIONS) {
      const described = new RegExp(`${option}( <[a-z]+>)? [^-]*\\(.*?default: [^)]+\\)`)
      expect(help, option).toMatch(described)
    }
    expect(help).toMatch(/--port <port> port to listen on \(default: a random free port/)
  })
})

// ---------------------------------------------------------------------------------------------
// The command as a user runs it
// ---------------------------------------------------------------------------------------------

interface Running {
  url: string
  out: () => string
  /** Sends SIGINT and resolves with the exit code. */
  stop: () => Promise<number | null>
}

const children: Array<() => Promise<unknown>> = []
const servers: Server[] = []
afterEach(async () => {
  await Promise.all(children.splice(0).map((stop) => stop()))
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))))
})

/** `tokenkeeper emulator ...args` as a child process, once it has said where it listens. */
async function runEmulator(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'emulator', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
    return exited
  }
  children.push(stop)
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      // Resolved on the last line of the banner, written after the others.
      const match = /listening on (http:\/\/\S+)/.exec(out)
      if (match && out.includes('press Ctrl-C to stop')) resolve(match[1]!)
    })
    void exited.then(() => reject(new Error(`the emulator exited: ${out}`)))
  })
  return { url, out: () => out, stop }
}

/** `tokenkeeper emulator ...args` run to its end, for the ones that fail at once. */
function runToEnd(command: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: ROOT }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, out: stdout + stderr })
    })
  })
}

/** A port taken by a listening server of this test. */
async function takenPort(): Promise<number> {
  const server = createServer()
  servers.push(server)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

/** A port that was free a moment ago (the system gives each one out in turn, not again at once). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((done) => server.close(done))
  return port
}

type Json = Record<string, unknown>

async function token(url: string, params: Record<string, string>) {
  const res = await fetch(`${url}/oauth/v2/token`, {
    method: 'POST',
    body: new URLSearchParams(params),
  })
  return { status: res.status, body: (await res.json()) as Json }
}

describe('tokenkeeper emulator: running', () => {
  it('runs with the options given, in effect on the wire, until SIGINT', async () => {
    const port = await freePort()
    const redirect = 'http://127.0.0.1:3000/callback'
    const secret = 'a-secret-of-the-user'
    const run = await runEmulator([
      '--port',
      String(port),
      '--auto-approve',
      '--rotate-refresh-tokens',
      '--no-limit',
      '--error-style',
      'oauth2',
      '--client-id',
      '1000.MINE',
      '--client-secret',
      secret,
      '--redirect-uri',
      redirect,
    ])
    expect(run.url).toBe(`http://127.0.0.1:${port}`)
    expect(run.out()).toContain('client id:     1000.MINE')
    // A secret the user chose is not echoed.
    expect(run.out()).not.toContain(secret)

    const consent = (redirectUri: string) => {
      const url = new URL('/oauth/v2/auth', run.url)
      url.search = new URLSearchParams({
        client_id: '1000.MINE',
        redirect_uri: redirectUri,
        scope: 'ZohoCRM.users.READ',
        response_type: 'code',
      }).toString()
      return fetch(url, { redirect: 'manual' })
    }
    // --redirect-uri registers that one alone.
    const other = await consent('http://127.0.0.1:3000/other')
    expect(other.status).toBe(400)
    await other.body?.cancel()
    // --auto-approve: straight back with a code.
    const approved = await consent(redirect)
    expect(approved.status).toBe(302)
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!
    expect(code).toMatch(/^1000\./)

    const client = { client_id: '1000.MINE', client_secret: secret }
    // --error-style oauth2: a wrong secret is a 401 (Zoho's style answers 200).
    const badSecret = await token(run.url, {
      ...client,
      client_secret: 'wrong',
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirect,
    })
    expect(badSecret).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
    const exchanged = await token(run.url, {
      ...client,
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirect,
    })
    expect(exchanged.status).toBe(200)
    // --rotate-refresh-tokens and --no-limit: eleven refreshes, each with a new refresh token,
    // where Zoho's limit would refuse the eleventh.
    let refreshToken = exchanged.body.refresh_token as string
    for (let i = 0; i < 11; i += 1) {
      const refreshed = await token(run.url, {
        ...client,
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
      })
      expect(refreshed.status, `refresh ${i + 1}`).toBe(200)
      expect(refreshed.body.refresh_token).not.toBe(refreshToken)
      refreshToken = refreshed.body.refresh_token as string
    }

    expect(await run.stop()).toBe(0)
    expect(run.out()).toContain('accounts emulator stopped')
  })

  it('enforces the exchange limit, short lifetimes on a compressed clock, and offers the admin endpoints', async () => {
    const run = await runEmulator([
      '--auto-approve',
      '--user',
      'ada@zylker.example',
      '--user',
      'grace@zylker.example',
      '--expires-in-style',
      'milliseconds',
      '--exchange-limit',
      '--access-token-lifetime-sec',
      '60',
      '--grant-code-lifetime-sec',
      '3600',
      '--second-ms',
      '10',
    ])
    expect(run.out()).toContain(`admin:         GET ${run.url}/emulator/counts`)
    const client = {
      client_id: '1000.EMULATORCLIENT0000000000000000',
      client_secret: 'emulator-client-secret',
    }
    const authorization = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`
    const codes: string[] = []
    for (let i = 0; i < 11; i += 1) {
      const url = new URL('/oauth/v2/auth', run.url)
      url.search = new URLSearchParams({
        client_id: client.client_id,
        redirect_uri: 'http://127.0.0.1:3000/callback',
        scope: 'ZohoCRM.users.READ',
        response_type: 'code',
        // The first code is Grace's: --user registered her.
        ...(i === 0 ? { login_hint: 'grace@zylker.example' } : {}),
      }).toString()
      const res = await fetch(url, { redirect: 'manual' })
      codes.push(new URL(res.headers.get('location')!).searchParams.get('code')!)
    }
    // Every code at once: Zoho's window of 10 minutes lasts 6 s at 10 ms per emulator second.
    const answers: Array<{ status: number; body: Json }> = []
    for (const code of codes) {
      answers.push(
        await token(run.url, {
          ...client,
          grant_type: 'authorization_code',
          code,
          redirect_uri: 'http://127.0.0.1:3000/callback',
        }),
      )
    }
    // 60 emulator seconds of 10 ms: 0.6 real seconds, in the older style's two fields.
    expect(
      answers.slice(0, 10).map((a) => [a.status, a.body.expires_in, a.body.expires_in_sec]),
    ).toEqual(Array.from({ length: 10 }, () => [200, 600, 0.6]))
    expect(answers[10]).toMatchObject({ status: 400, body: { error: 'Access Denied' } })

    const revoked = await fetch(`${run.url}/emulator/revoke`, {
      method: 'POST',
      headers: { authorization },
      body: new URLSearchParams({ user: 'ada@zylker.example', error: 'invalid_grant' }),
    })
    expect(await revoked.json()).toEqual({ revoked: 9 })
    const refresh = (answer: { body: Json }) =>
      token(run.url, {
        ...client,
        grant_type: 'refresh_token',
        refresh_token: answer.body.refresh_token as string,
      })
    expect((await refresh(answers[1]!)).body).toEqual({ error: 'invalid_grant' })
    expect((await refresh(answers[0]!)).status).toBe(200)
    const counts = await fetch(`${run.url}/emulator/counts`, { headers: { authorization } })
    expect(await counts.json()).toMatchObject({
      consent: 11,
      exchange: 11,
      refresh: 2,
      exchangesByClient: { [client.client_id]: 11 },
      refreshesByUser: { 'ada@zylker.example': 1, 'grace@zylker.example': 1 },
      refusals: { exchange_limit: 1, invalid_grant: 1 },
    })
    expect(await run.stop()).toBe(0)
  })

  it('serves a user of another data center at its own listener, named in the banner', async () => {
    const run = await runEmulator([
      '--auto-approve',
      '--data-center',
      'eu',
      '--user',
      'lise@zylker.example=eu',
    ])
    const eu = /data center eu: (http:\/\/\S+)/.exec(run.out())?.[1]
    expect(eu).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(eu).not.toBe(run.url)
    const redirect = 'http://127.0.0.1:3000/callback'
    const url = new URL('/oauth/v2/auth', run.url)
    url.search = new URLSearchParams({
      client_id: DEFAULT_CLIENT.clientId,
      redirect_uri: redirect,
      scope: 'ZohoCRM.users.READ',
      response_type: 'code',
    }).toString()
    const approved = await fetch(url, { redirect: 'manual' })
    expect(approved.status).toBe(302)
    const back = new URL(approved.headers.get('location')!).searchParams
    expect(back.get('location')).toBe('eu')
    expect(back.get('accounts-server')).toBe(eu)
    const exchange = {
      client_id: DEFAULT_CLIENT.clientId,
      client_secret: DEFAULT_CLIENT.clientSecret,
      grant_type: 'authorization_code',
      code: back.get('code')!,
      redirect_uri: redirect,
    }
    // Zoho's answer for a code of another data center, then the exchange where it belongs.
    expect((await token(run.url, exchange)).body).toEqual({ error: 'invalid_code' })
    const there = await token(eu!, exchange)
    expect(there.body).toMatchObject({ api_domain: eu, token_type: 'Bearer' })
  })

  it('says a taken port is taken, and what to do, with exit 1', async () => {
    const port = await takenPort()
    const run = await runToEnd(process.execPath, [
      '--import',
      'tsx',
      MAIN,
      'emulator',
      '--port',
      String(port),
    ])
    expect(run.code).toBe(EXIT.error)
    expect(run.out.trim()).toBe(
      `tokenkeeper: port ${port} on 127.0.0.1 is taken: give another --port, or --port 0 for a free one`,
    )
  })

  it('npm run emulator is the same command', async () => {
    const [viaNpm, viaCli] = await Promise.all([
      runToEnd('npm', ['run', '--silent', 'emulator', '--', '--help']),
      runToEnd(process.execPath, ['--import', 'tsx', MAIN, 'emulator', '--help']),
    ])
    expect(viaCli.code).toBe(0)
    expect(viaCli.out).toContain('--redirect-uri')
    expect(viaNpm).toEqual(viaCli)
  })
})
