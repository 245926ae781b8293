// What RedisStore keeps for the keeper: each token's health record (a field of the token's
// hash) and the provider's budgets (a sorted set of uses per budget key).
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Budget, BudgetAnswer } from '../../budget.js'
import { HEALTH_FIELD, type RedisKeys } from './keys.js'
import { evalScript, script } from './scripts.js'
import { BATCH } from './writes.js'

/** The health records of the hashes KEYS (false where none), in one call. */
const FIND_HEALTH = script(`
local found = {}
for i, key in ipairs(KEYS) do found[i] = redis.call('HGET', key, '${HEALTH_FIELD}') end
return found
`)

/**
 * Sets (ARGV[1]) or removes ('') a token's health record, only while its row exists: a record
 * never makes a hash of its own that would look like a row without columns.
 */
const SAVE_HEALTH = script(`
if redis.call('HEXISTS', KEYS[1], 'id') == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[1], '${HEALTH_FIELD}')
else
  redis.call('HSET', KEYS[1], '${HEALTH_FIELD}', ARGV[1])
end
return 1
`)

/**
 * Takes one use of a budget, the rule of `decideBudget` on the server so that every process
 * shares it atomically: the uses at or before now - window leave the set; with fewer than the
 * limit left, the use is added (scored by its time) and the key lives one window more;
 * otherwise nothing is added and the answer is the time until the oldest use leaves.
 * KEYS[1]: the budget's set. ARGV: now, windowMs, limit, a member unique to this use.
 * Returns { 1, remaining } or { 0, retryAfterMs }.
 */
const TAKE_BUDGET = script(`
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return { 1, limit - used - 1 }
end
local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
return { 0, math.max(1, oldest + window - now) }
`)

/**
 * The health records of these ids: one script per {@link BATCH} ids, so a keeper's page is one
 * round trip (a script reads them several times faster than a pipeline of HGETs).
 */
export async function findHealth(
  client: Redis,
  keys: RedisKeys,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  for (let start = 0; start < ids.length; start += BATCH) {
    const batch = ids.slice(start, start + BATCH)
    const records = (await evalScript(
      client,
      FIND_HEALTH,
      batch.map((id) => keys.token(id)),
      [],
    )) as (string | null)[]
    for (const [i, record] of records.entries()) {
      if (typeof record === 'string') found.set(batch[i]!, record)
    }
  }
  return found
}

/** Stores or removes (null) a token's health record; a missing row is left missing. */
export async function saveHealth(
  client: Redis,
  keys: RedisKeys,
  id: string,
  record: string | null,
): Promise<void> {
  await evalScript(client, SAVE_HEALTH, [keys.token(id)], [record ?? ''])
}

/** Takes one use of `key`'s budget at `now` (see {@link TAKE_BUDGET}). */
export async function takeBudget(
  client: Redis,
  keys: RedisKeys,
  key: string,
  budget: Budget,
  now: number,
): Promise<BudgetAnswer> {
  const reply = (await evalScript(
    client,
    TAKE_BUDGET,
    [keys.budget(key)],
    [String(now), String(budget.windowMs), String(budget.limit), randomBytes(8).toString('hex')],
  )) as [number, number]
  return reply[0] === 1
    ? { granted: true, remaining: reply[1] }
    : { granted: false, retryAfterMs: reply[1] }
}
