import { defineConfig } from 'vitest/config'

// A quicker test set for mutating src/log.ts alone (docs/mutation.md): the redaction patterns
// are static mutants, each of which runs every test of the configuration, so only the log
// tests run here. A score measured with it can only be lower than with
// vitest.mutation.config.ts, which holds these files too.
// Stryker 9 has no command-line flag for it: use a copy of stryker.config.json with
// "vitest": { "configFile": "vitest.log-mutation.config.ts" } and "mutate": ["src/log.ts"], and
// run `npx stryker run <that copy> --concurrency 2`.
export default defineConfig({
  test: {
    include: ['test/log/log.test.ts', 'test/log-*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
