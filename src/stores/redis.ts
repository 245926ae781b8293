/**
 * `tokenkeeper/stores/redis`: tokens in Redis. The store lives in `./redis/`: its options, keys,
 * scripts, connection, writes and the store itself.
 */
export { RedisStore } from './redis/store.js'
export type { RedisStoreOptions } from './redis/options.js'
