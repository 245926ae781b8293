// The Lua scripts of RedisStore: each write is one script that checks what the caller's
// decision read before it writes, so that concurrent writers never leave a row without its
// index entries or give a user two rows.
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { FORMAT_V1, FORMAT_V2 } from '../../sealed.js'
import { HEALTH_FIELD } from './keys.js'

/** A Lua script, sent by its SHA-1 and loaded again when the server has forgotten it. */
export interface Script {
  readonly lua: string
  readonly sha: string
}

export function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * Lua: the winning id of a token index (a sorted set scored by {@link rankOf}, so that its
 * first member is the one `compareRowIds` picks), or false when it names none; and `true`
 * second when the set holds several ids and one of them is scored by its insertion number (a
 * version before the ranks wrote it): then the set must be ranked first (see `#rank`).
 */
const WINNER = `
local function winner(k)
  local first = redis.call('ZRANGE', k, 0, 0)[1]
  if not first then return false, false end
  local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
  return first, last[1] ~= first and tonumber(last[2]) > 0
end
`

/**
 * findToken in one round trip. KEYS[1]: the index key. ARGV[1]: the token key prefix;
 * ARGV[2]: 'u' for the user name index (a string holding the id), 'z' for a token index (a
 * sorted set of ids, the winner first). Returns the row's hash as a flat list, nil, or 1 when
 * the index must be ranked first (see WINNER).
 */
export const FIND = script(`${WINNER}
local id
if ARGV[2] == 'u' then
  id = redis.call('GET', KEYS[1])
else
  local unranked
  id, unranked = winner(KEYS[1])
  if unranked then return 1 end
end
if not id then return false end
return redis.call('HGETALL', ARGV[1] .. id)
`)

/**
 * The facts of a save in one round trip, and for an insert under a new id, that id. KEYS: the
 * id set, the numbers set, its completeness mark, the claims set, then the lookup index key
 * when ARGV[1] names one ('u' user name, 'z' token index, '' none), then the user name index key
 * when ARGV[2] is '1'. ARGV[3]: the token key prefix; ARGV[4]: the token's id, or '' to read the
 * matched row; ARGV[5]: the claim of this save's previous attempt ('' none); ARGV[6]: this
 * save's nonce; ARGV[7]: how long a claim lasts (ms); ARGV[8]: MAX_TOKEN_ID.
 *
 * Without an id and without a matched row, planSave inserts under a new id: the number is
 * claimed here, atomically: the largest of the numbers set and of the live claims, plus one
 * (`nextTokenId`'s rule, checked against it by the caller), held as `<number>:<expiry ms>:<nonce>`
 * in the claims set (score: the number) until the commit writes the row, the save lets it go,
 * or it expires (a save that died).
 *
 * Returns { matched id, user name owner id, the read row's id, user_name, access_token,
 * grant_token, refresh_token, the claim, a status ('build': the numbers set is not complete
 * yet; 'full': no number is left; 'rank': the lookup's index must be ranked first, see WINNER),
 * the largest number the claim follows } with nil for what is absent.
 */
export const GATHER = script(`${WINNER}
local n = 5
local matched = false
if ARGV[1] == 'u' then
  matched = redis.call('GET', KEYS[n])
  n = n + 1
elseif ARGV[1] == 'z' then
  local unranked
  matched, unranked = winner(KEYS[n])
  if unranked then
    return { false, false, false, false, false, false, false, false, 'rank', false }
  end
  n = n + 1
end
local owner = false
if ARGV[2] == '1' then owner = redis.call('GET', KEYS[n]) end
local target = ARGV[4]
if target == '' then target = matched end
local row = {}
if target then
  row = redis.call('HMGET', ARGV[3] .. target,
    'id', 'user_name', 'access_token', 'grant_token', 'refresh_token')
end
local function claim()
  if redis.call('EXISTS', KEYS[3]) == 0 then
    -- Rows without the numbers set (an earlier version wrote them): the caller builds it.
    if redis.call('EXISTS', KEYS[1]) == 1 then return false, 'build', false end
    redis.call('SET', KEYS[3], '1')
  end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  if ARGV[5] ~= '' and redis.call('ZSCORE', KEYS[4], ARGV[5]) then
    if tonumber(string.match(ARGV[5], '^%d+:(%d+):')) > now then return ARGV[5], false, false end
    redis.call('ZREM', KEYS[4], ARGV[5])
  end
  local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2]
  local largest = top and tonumber(top)
  -- The largest live claim is the top one (each claim is made above every live one); expired
  -- ones (of saves that died) are dropped as they reach the top.
  while true do
    local held = redis.call('ZREVRANGE', KEYS[4], 0, 0)[1]
    if not held then break end
    local number, expiry = string.match(held, '^(%d+):(%d+):')
    if tonumber(expiry) > now then
      if not largest or tonumber(number) > largest then largest = tonumber(number) end
      break
    end
    redis.call('ZREM', KEYS[4], held)
  end
  -- '%.0f': an integer's digits (tostring would give '1e+10' style text past 14 digits).
  local text = largest and string.format('%.0f', largest) or false
  local next = (largest or 0) + 1
  if next > tonumber(ARGV[8]) then return false, 'full', text end
  local member = string.format('%.0f:%.0f:', next, now + tonumber(ARGV[7])) .. ARGV[6]
  redis.call('ZADD', KEYS[4], next, member)
  return member, false, text
end
local claimed, status, largest = false, false, false
if ARGV[4] == '' and not matched then
  claimed, status, largest = claim()
elseif ARGV[5] ~= '' then
  -- No longer an insert (another saver stored this token meanwhile): the claim goes.
  redis.call('ZREM', KEYS[4], ARGV[5])
end
return { matched, owner, row[1] or false, row[2] or false, row[3] or false, row[4] or false,
  row[5] or false, claimed, status, largest }
`)

/**
 * Part of building the numbers set of a store written without it: adds each (value, id) pair
 * whose row still exists (a row deleted since it was listed stays out). ARGV[1]: the token key
 * prefix. Concurrent writers are safe: the commit script keeps the set for every row it writes.
 */
export const ADD_NUMBERS = script(`
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
`)

/**
 * Writes or deletes one row with its index entries, only if everything the caller's decision
 * read is still as it read it (the server-side equivalent of WATCH ... EXEC); returns 0 and
 * changes nothing otherwise, and the caller reads again and decides again.
 *
 * KEYS: the row's hash, the id set, the sequence counter, the numbers set (score: an id's
 * numeric value, member: the id), the claims set, the due index (score: the row's expiry), then
 * the index keys of the checks, of the entries to remove and of the entries to add, in that
 * order.
 * ARGV: mode ('put' | 'putif' | 'del'), id, '0' (the row must not exist) or '1' (it must exist
 * with these lookup values:) or '2' (as '1', and hold no sealed value: a store without keys
 * never replaces a sealed row; returns 2 when it does) user_name, access_token, grant_token,
 * refresh_token ('' = absent),
 * the numbers of checks, removals and additions, the id's numeric value ('' when it has none),
 * the claim the id was taken under ('' none), the id's score in the token indexes
 * ({@link rankOf}), the row's score in the due index ('' when it has no expiry: no entry), for
 * 'putif' the access_token, refresh_token
 * and expiry_time the row must still hold as read ('' = absent), then per check its kind ('u' |
 * 'z') and the id it must find first ('' = none), per removal and per addition its kind, and
 * for 'put' and 'putif' the row's fields and values. A put keeps the row's health record (the
 * field `HEALTH_FIELD`, see `saveHealth`); a delete removes it with the hash.
 */
export const COMMIT = script(`${WINNER}
local id = ARGV[2]
if ARGV[3] == '0' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    -- A numeric row missing from the numbers set (an earlier version wrote it meanwhile) is
    -- added, and a claim that named it goes: the next attempt numbers past it.
    if ARGV[11] ~= '' then redis.call('ZADD', KEYS[4], ARGV[11], id) end
    if ARGV[12] ~= '' then redis.call('ZREM', KEYS[5], ARGV[12]) end
    return 0
  end
else
  local row = redis.call('HMGET', KEYS[1], 'id', 'user_name', 'access_token', 'grant_token',
    'refresh_token')
  if not row[1] then return 0 end
  for i = 2, 5 do
    if (row[i] or '') ~= ARGV[i + 2] then return 0 end
  end
  if ARGV[3] == '2' then
    local held = redis.call('HMGET', KEYS[1], 'client_secret', 'refresh_token', 'access_token',
      'grant_token', 'api_domain')
    for i = 1, 5 do
      local mark = held[i] and string.sub(held[i], 1, 4)
      if mark == '${FORMAT_V1}' or mark == '${FORMAT_V2}' then return 2 end
    end
  end
end
local checks, removals, additions = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local a, k = 15, 7
if ARGV[1] == 'putif' then
  local held = redis.call('HMGET', KEYS[1], 'access_token', 'refresh_token', 'expiry_time')
  for i = 1, 3 do
    if (held[i] or '') ~= ARGV[a + i - 1] then return 0 end
  end
  a = a + 3
end
for i = 1, checks do
  local current, unranked
  if ARGV[a] == 'u' then
    current = redis.call('GET', KEYS[k])
  else
    current, unranked = winner(KEYS[k])
    if unranked then return 0 end
  end
  if (current or '') ~= ARGV[a + 1] then return 0 end
  a, k = a + 2, k + 1
end
for i = 1, removals do
  if ARGV[a] == 'u' then
    if redis.call('GET', KEYS[k]) == id then redis.call('DEL', KEYS[k]) end
  else
    redis.call('ZREM', KEYS[k], id)
  end
  a, k = a + 1, k + 1
end
if ARGV[1] == 'del' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[4], id)
  redis.call('ZREM', KEYS[6], id)
  return 1
end
local score = redis.call('ZSCORE', KEYS[2], id)
if not score then
  score = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], score, id)
end
for i = 1, additions do
  if ARGV[a] == 'u' then
    redis.call('SET', KEYS[k], id)
  else
    redis.call('ZADD', KEYS[k], ARGV[13], id)
  end
  a, k = a + 1, k + 1
end
-- The token's health record lives in its hash: kept across saves, deleted with the row.
local health = redis.call('HGET', KEYS[1], '${HEALTH_FIELD}')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, a))
if health then redis.call('HSET', KEYS[1], '${HEALTH_FIELD}', health) end
if ARGV[14] == '' then redis.call('ZREM', KEYS[6], id) else redis.call('ZADD', KEYS[6], ARGV[14], id) end
if ARGV[11] ~= '' then redis.call('ZADD', KEYS[4], ARGV[11], id) end
if ARGV[12] ~= '' then redis.call('ZREM', KEYS[5], ARGV[12]) end
return 1
`)

/**
 * After deleteTokens, when no row is left: the sequence counter, the numbers set and its mark
 * go too (an empty store is marked again by its first insert). Claims of saves in flight stay.
 */
export const FORGET_SEQUENCE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4]) end
return 1
`)

/**
 * Takes a lock: SET NX PX. When the key already holds our own value (the reply to an earlier
 * attempt was lost with its connection, and the command was sent again), the lock is ours.
 */
export const ACQUIRE = script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

/** Renews a lease: pushes its expiry back only while it is still ours. */
export const RENEW = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)

/** Releases a lock only while it is still ours. */
export const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

/**
 * One range of the due index, at most ARGV[1] entries with their scores, in the index's order
 * (expiry, then id by its bytes), from a cursor: after the entry of id ARGV[3] when it is still
 * there with expiry ARGV[2], else from the first entry of that expiry (the caller skips the ties
 * up to the cursor's id); from the start when ARGV[2] is ''. Ranks and counts are O(log n): the
 * scan reads only the entries it returns.
 */
export const DUE_RANGE = script(`
local start = 0
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
  if score and tonumber(score) == tonumber(ARGV[2]) then
    start = redis.call('ZRANK', KEYS[1], ARGV[3]) + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[2])
  end
end
return redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[1]) - 1, 'WITHSCORES')
`)

/**
 * Part of building the due index of rows written before it: ARGV[1] the token key prefix, then
 * per row its id, the expiry_time it was read with, and its score. An entry is added only while
 * the row still holds that expiry: a row written since was indexed by its own commit, and one
 * deleted since stays out.
 */
export const DUE_ADD = script(`
for i = 2, #ARGV, 3 do
  local held = redis.call('HGET', ARGV[1] .. ARGV[i], 'expiry_time')
  if held and held == ARGV[i + 1] and ARGV[i + 2] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
  end
end
return 1
`)

/** Runs a script by its SHA-1, sending its text only when the server does not have it. */
export async function evalScript(
  client: Redis,
  s: Script,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!isNoScript(err)) throw err
    return client.eval(s.lua, keys.length, ...keys, ...args)
  }
}

/** Loads a script before a pipeline sends it by its SHA-1. */
export async function loadScript(client: Redis, s: Script): Promise<void> {
  await client.script('LOAD', s.lua)
}

export function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT')
}
