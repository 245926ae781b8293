import { describe } from 'vitest'
import { reachable as isListening } from '../bench/servers.ts'

/** The database servers the tests use, where this machine kind runs them. */
export const SERVICES = {
  mariadb: { host: '127.0.0.1', port: 3306, url: 'mysql://root@127.0.0.1:3306' },
  postgres: { host: '127.0.0.1', port: 5432, url: 'postgres://postgres@127.0.0.1:5432/postgres' },
  redis: { host: '127.0.0.1', port: 6379, url: 'redis://127.0.0.1:6379' },
} as const

export type ServiceName = keyof typeof SERVICES

function reachable(name: ServiceName): Promise<boolean> {
  const { host, port } = SERVICES[name]
  return isListening(host, port)
}

/**
 * `describe` when the server is reachable. Otherwise the tests are skipped with one line saying
 * which server and why, or, under REQUIRE_SERVICES=1 (CI), the run fails.
 */
export async function describeWithService(
  name: ServiceName,
  title: string,
  body: () => void,
): Promise<void> {
  if (await reachable(name)) {
    describe(title, body)
    return
  }
  const { host, port } = SERVICES[name]
  const why = `${name} is not reachable on ${host}:${port}`
  if (process.env.REQUIRE_SERVICES === '1') {
    throw new Error(`REQUIRE_SERVICES=1 but ${why}`)
  }
  console.warn(`skipping "${title}": ${why} (set REQUIRE_SERVICES=1 to make this a failure)`)
  describe.skip(`${title} (skipped: ${why})`, body)
}
