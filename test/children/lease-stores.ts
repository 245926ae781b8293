// The stores of the lease tests, built the same way by the test and by its worker processes.
import { FileStore, type TokenEventName, type TokenStore } from '../../src/index.ts'

/** What the parent asks for. */
export interface WorkerSpec {
  store:
    | { kind: 'file'; path: string; lockLeaseMs: number }
    | { kind: 'sqlite'; path: string; lockLeaseMs: number }
    | { kind: 'redis'; url: string; prefix: string; lockLeaseMs: number }
    | { kind: 'postgres'; url: string; table: string }
  emulatorUrl: string
  tokenId: string
  callers: number
  processes: number
  barrier: string
  stallOn?: TokenEventName
  stallMarker?: string
}

/** Builds the store with the lease the test asks for. */
export async function openStore(spec: WorkerSpec['store']): Promise<TokenStore> {
  switch (spec.kind) {
    case 'file':
      // staleLockMs: the name the token lock's stale time had before leases; harmless now.
      return new FileStore({
        path: spec.path,
        lockLeaseMs: spec.lockLeaseMs,
        staleLockMs: spec.lockLeaseMs,
      })
    case 'sqlite': {
      const { SQLiteStore } = await import('../../src/stores/sqlite.ts')
      return new SQLiteStore({ path: spec.path, lockLeaseMs: spec.lockLeaseMs })
    }
    case 'redis': {
      const { RedisStore } = await import('../../src/stores/redis.ts')
      return new RedisStore({ url: spec.url, prefix: spec.prefix, lockLeaseMs: spec.lockLeaseMs })
    }
    case 'postgres': {
      const { PostgresStore } = await import('../../src/stores/postgres.ts')
      return new PostgresStore({ connectionString: spec.url, table: spec.table })
    }
  }
}
