import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run print one plain closing line; the skip summary says, after the
    // default summary, how many tests were skipped for want of a server and why.
    reporters: [
      'default',
      ['json', { outputFile: '.tmp/vitest-report.json' }],
      './test/skip-summary.ts',
    ],
  },
})
