import { expect, it } from 'vitest'

// Every redaction pattern of src/log.ts is built when the module loads. A pattern that does not
// compile makes every test file importing the module fail to load, which runs no test at all
// (and Stryker counts no failure): this file imports it inside a test, so that it fails instead.
it('src/log.ts loads and builds every redaction pattern', async () => {
  const log = await import('../../src/log.ts')
  expect(log.scrub('Bearer ZQX7vJ9k')).toBe('Bearer [redacted]')
})
