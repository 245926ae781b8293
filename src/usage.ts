// A token's last use, recorded by sessions in its health record, so that a keeper can tell the
// tokens in use from the idle ones (see `TokenKeeperOptions.usedWithinMs`).
import { healthOf, storedHealth, supportsHealth } from './health.js'
import { withTokenLock } from './refresh/lease.js'
import type { TokenStore } from './store.js'
import { storeOp } from './telemetry/tracing.js'

/**
 * Records that token `id` was used at `at`, where the store keeps health. The record is
 * written under the token's lease, as every change of health is, so a use never overwrites a
 * state a refresh has just recorded (a `reauth_required` stays one). A lease held by another
 * (a refresh in progress) is not waited for: nothing is written. Resolves whether the use was
 * recorded.
 */
export async function recordUse(store: TokenStore, id: string, at: number): Promise<boolean> {
  if (!supportsHealth(store)) return false
  return withTokenLock(
    store,
    id,
    async () => {
      const token = await storeOp(store, 'findById', () => store.findTokenById(id))
      if (!token) return false
      const health = (await healthOf(store, [token])).get(token)!
      // A use at the same time or later is recorded already.
      if ((health.lastUsedAt ?? -Infinity) >= at) return false
      const record = storedHealth(token, { ...health, lastUsedAt: at })
      await storeOp(store, 'saveHealth', () => store.saveHealth(id, record))
      return true
    },
    { timeoutMs: 0, ifBusy: () => false },
  )
}
