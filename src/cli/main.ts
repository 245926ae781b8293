#!/usr/bin/env node
// The tokenkeeper command-line tool. Commands arrive in src/cli/, one file per command.
import { Command } from 'commander'

const program = new Command('tokenkeeper')
  .description('See and manage the OAuth tokens kept by tokenkeeper stores')
  .version('0.1.0')
await program.parseAsync(process.argv)
