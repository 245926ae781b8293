import type { Command } from 'commander'
import { purgeTokens } from '../../policies.js'
import { examples, globals, parseDuration, usage } from '../shared.js'
import { passProgress, say } from '../output.js'
import { withStore } from '../store-access.js'

interface PurgeOptions {
  expired?: boolean
  idle?: string
  grantOnly?: boolean
}

/** `tokenkeeper purge`: the cleanup policies of purgeTokens. */
export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description('delete expired, idle or grant-only tokens')
    .option('--expired', 'tokens whose access token has expired')
    .option('--idle <duration>', 'tokens unused for longer than this (30d, 12h, 90m)')
    .option('--grant-only', 'rows holding only a grant code')
    .addHelpText(
      'after',
      examples(
        'tokenkeeper purge --idle 30d --grant-only --store sqlite:./zohooauth.db',
        'tokenkeeper purge --expired',
      ),
    )
    .action(async (_options: PurgeOptions, command: Command) => {
      const options = globals<PurgeOptions>(command)
      const idleMs = options.idle === undefined ? undefined : parseDuration(options.idle, '--idle')
      if (idleMs === undefined && !options.expired && !options.grantOnly) {
        throw usage('purge needs at least one of --expired, --idle <duration>, --grant-only')
      }
      await withStore(options, async (store) => {
        // One pass a page at a time (progress on stderr). Each candidate is read again under its
        // lease: one refreshed meanwhile is kept.
        const { deleted, kept, busy } = await purgeTokens(store, {
          ...(idleMs === undefined ? {} : { idleMs }),
          expired: options.expired === true,
          grantOnly: options.grantOnly === true,
          onProgress: passProgress((n) => `purge: ${n} tokens examined`),
        })
        say(`purged ${deleted.length} token${deleted.length === 1 ? '' : 's'}`)
        for (const id of deleted) say(`  ${id}`)
        if (kept.length > 0) say(`kept ${kept.length} refreshed while purging: ${kept.join(' ')}`)
        if (busy.length > 0) say(`kept ${busy.length} in use (locked): ${busy.join(' ')}`)
      })
    })
}
