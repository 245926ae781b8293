import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineConfig } from 'vitest/config'
import { sourceAliases, type PackageJson } from './test/helpers/source-aliases.ts'

export default defineConfig({
  // The package's own name resolves to its sources, as tsconfig.json's paths do for tsc and tsx.
  resolve: {
    alias: sourceAliases(JSON.parse(readFileSync('package.json', 'utf8')) as PackageJson),
  },
  test: {
    // Children run with tsx from scratch folders: they find the same paths through this.
    env: { TSX_TSCONFIG_PATH: resolve('tsconfig.json') },
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run print one plain closing line; the skip summary says, after the
    // default summary, how many tests were skipped for want of a server and why.
    reporters: [
      'default',
      ['json', { outputFile: '.tmp/vitest-report.json' }],
      './test/helpers/skip-summary.ts',
    ],
  },
})
