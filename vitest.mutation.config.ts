import { readFileSync } from 'node:fs'
import { defineConfig } from 'vitest/config'
import { sourceAliases, type PackageJson } from './test/helpers/source-aliases.ts'

// The tests Stryker runs against each mutant (`npm run mutation`, see docs/mutation.md): the
// unit tests of the core rule files, the store kit, budgets, health and the providers. None
// needs a database server (the providers' tests start oidc-provider or the accounts emulator
// in-process), so a run gives the same figures on any machine. Stryker's vitest runner picks, per mutant, only the tests that
// cover it.
export default defineConfig({
  // The package's own name resolves to its sources, as in vitest.config.ts.
  resolve: {
    alias: sourceAliases(JSON.parse(readFileSync('package.json', 'utf8')) as PackageJson),
  },
  test: {
    include: [
      'test/store.test.ts',
      'test/store/*.test.ts',
      'test/token.test.ts',
      'test/encryption/format.test.ts',
      'test/log/log.test.ts',
      'test/log/redaction.test.ts',
      'test/log/module.test.ts',
      'test/oauth/messages.test.ts',
      'test/oauth/client.test.ts',
      'test/session/session.test.ts',
      'test/session/recovery.test.ts',
      'test/policies.test.ts',
      'test/stores/memory.test.ts',
      'test/refresh/coordinator.test.ts',
      'test/refresh/health-changes.test.ts',
      'test/store-kit/kit.test.ts',
      'test/store-kit/options.test.ts',
      'test/budget.test.ts',
      'test/health.test.ts',
      'test/usage.test.ts',
      'test/keeper/policy.test.ts',
      'test/telemetry/otel.test.ts',
      'test/stores/due-scan.test.ts',
      'test/providers/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
