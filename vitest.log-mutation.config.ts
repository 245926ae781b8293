import { defineConfig } from 'vitest/config'

// A quicker test set for mutating src/log.ts alone (docs/mutation.md): the redaction patterns
// are static mutants, each of which runs every test of the configuration, so only the log
// tests run here. A score measured with it can only be lower than with
// vitest.mutation.config.ts, which holds these files too.
//   npx stryker run --concurrency 2 --mutate src/log.ts --vitest.configFile vitest.log-mutation.config.ts
export default defineConfig({
  test: {
    include: ['test/log.test.ts', 'test/log-*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
