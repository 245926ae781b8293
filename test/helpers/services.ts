import { describe } from 'vitest'
import { reachable as isListening } from '../../bench/servers.ts'

interface Service {
  readonly host: string
  readonly port: number
  readonly url: string
  /** How this machine kind starts it, for the skip message (as .ci/run does). */
  readonly start: string
}

/**
 * A server at `fallback`, or at the URL in the environment variable `variable` (to run the tests
 * against another server, or to see what the run says when one is away: point it at a closed port).
 */
function service(variable: string, fallback: string, start: string): Service {
  const url = process.env[variable] || fallback
  const { hostname, port } = new URL(url)
  return { host: hostname, port: Number(port), url, start }
}

/** The database servers the tests use, where this machine kind runs them. */
export const SERVICES = {
  mariadb: service(
    'TOKENKEEPER_TEST_MARIADB_URL',
    'mysql://root@127.0.0.1:3306',
    'start-stop-daemon --start --background --exec /usr/sbin/mariadbd',
  ),
  postgres: service(
    'TOKENKEEPER_TEST_POSTGRES_URL',
    'postgres://postgres@127.0.0.1:5432/postgres',
    'pg_ctlcluster <version> main start',
  ),
  redis: service(
    'TOKENKEEPER_TEST_REDIS_URL',
    'redis://127.0.0.1:6379',
    'redis-server --daemonize yes',
  ),
  nats: service(
    'TOKENKEEPER_TEST_NATS_URL',
    'nats://127.0.0.1:4222',
    'nats-server -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server',
  ),
} as const

export type ServiceName = keyof typeof SERVICES

function reachable(name: ServiceName): Promise<boolean> {
  const { host, port } = SERVICES[name]
  return isListening(host, port)
}

/**
 * `describe` when the server is reachable. Otherwise the tests are skipped with one line saying
 * which server and why, or, under REQUIRE_SERVICES=1 (CI), the run fails. The reason goes into
 * the suite's title as `(skipped: …)`, where test/helpers/skip-summary.ts finds it for the run's summary.
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
  const { host, port, start } = SERVICES[name]
  const why = `${name} is not reachable on ${host}:${port} (start it: ${start})`
  if (process.env.REQUIRE_SERVICES === '1') {
    throw new Error(`REQUIRE_SERVICES=1 but ${why}`)
  }
  console.warn(`skipping "${title}": ${why} (set REQUIRE_SERVICES=1 to make this a failure)`)
  describe.skip(`${title} (skipped: ${why})`, body)
}
