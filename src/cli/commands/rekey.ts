import type { Command } from 'commander'
import type { EncryptedStore } from '../../stores/encrypted.js'
import { encryptionFrom, withStore } from '../store-access.js'
import { examples, globals, usage } from '../shared.js'
import { passProgress, say } from '../output.js'

/** `tokenkeeper rekey`: moves every token of an encrypted store to the active key. */
export function registerRekey(program: Command): void {
  program
    .command('rekey')
    .description('re-encrypt every token of an encrypted store with the active key')
    .addHelpText(
      'after',
      examples(
        'tokenkeeper rekey --store file:./sdk_tokens.txt --key k1=<base64> --key k2=<base64> --active-key k2',
        'TOKENKEEPER_KEYS=k1=...,k2=... TOKENKEEPER_ACTIVE_KEY=k2 tokenkeeper rekey --store sqlite:./zohooauth.db',
      ),
    )
    .action(async (_options: object, command: Command) => {
      const options = globals(command)
      if (!encryptionFrom(options)) {
        throw usage('rekey needs the keys: --key id=base64 (repeatable) and --active-key id')
      }
      await withStore(options, async (store) => {
        const { rekeyed, current } = await (store as typeof store & EncryptedStore).rekey({
          onProgress: passProgress((n) => `rekey: ${n} tokens examined`),
        })
        say(`rekeyed ${rekeyed}, already current ${current}`)
      })
    })
}
