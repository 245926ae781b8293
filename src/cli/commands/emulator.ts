import type { Command } from 'commander'
import { startAccountsEmulator, type AccountsEmulatorOptions } from '../../testing/emulator.js'
import { examples, globals, say, usage } from '../shared.js'

interface EmulatorOptions {
  host?: string
  port: string
  autoApprove?: boolean
  rotateRefreshTokens?: boolean
}

/** `tokenkeeper emulator`: the accounts emulator, until Ctrl-C. */
export function registerEmulator(program: Command): void {
  program
    .command('emulator')
    .description('run the local accounts emulator (Zoho Accounts and a small CRM API) until Ctrl-C')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: a free one)', '0')
    .option('--auto-approve', 'approve the consent page at once for the first user')
    .option('--rotate-refresh-tokens', 'return a new refresh token on every refresh')
    .addHelpText('after', examples('tokenkeeper emulator --port 4000 --auto-approve'))
    .action(async (_options: EmulatorOptions, command: Command) => {
      const options = globals<EmulatorOptions>(command)
      if (!/^\d+$/.test(options.port) || Number(options.port) > 65535) {
        throw usage('--port must be a port number (0 to 65535)')
      }
      const settings: AccountsEmulatorOptions = {
        port: Number(options.port),
        autoApprove: options.autoApprove === true,
        rotateRefreshTokens: options.rotateRefreshTokens === true,
      }
      if (options.host !== undefined) settings.host = options.host
      const emulator = await startAccountsEmulator(settings)
      const client = emulator.clients[0]
      say(`accounts emulator listening on ${emulator.url}`)
      say(`  client id:     ${client?.clientId ?? '-'}`)
      say(`  client secret: ${client?.clientSecret ?? '-'} (a fixed test value of the emulator)`)
      say(`  use it with:   --accounts-url ${emulator.url}`)
      say('press Ctrl-C to stop')
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          done()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      await emulator.close()
      say('accounts emulator stopped')
    })
}
