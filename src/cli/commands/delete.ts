import type { Command } from 'commander'
import { underLease } from '../lease.js'
import { examples, globals } from '../shared.js'
import { say } from '../output.js'
import { tokenById, withStore } from '../store-access.js'

/**
 * `tokenkeeper delete <id>`: deletes one row, under the token's lease (after a refresh in
 * progress, not in the middle of it); exit code 3 when there is none.
 */
export function registerDelete(program: Command): void {
  program
    .command('delete <id>')
    .description('delete one token from the store (nothing is sent to the accounts server)')
    .addHelpText('after', examples('tokenkeeper delete aB3dE5gH7j --store file:./sdk_tokens.txt'))
    .action(async (id: string, _options: object, command: Command) => {
      await withStore(globals(command), async (store) => {
        await tokenById(store, id)
        await underLease(store, id, async () => {
          await tokenById(store, id) // again: it may have gone while we waited
          await store.deleteToken(id)
        })
        say(`deleted ${id}`)
      })
    })
}
