/**
 * FileStore: the official SDKs' CSV token file. The store lives in `./file/`: its options, the
 * snapshot of the file and its reload, the queued operations, the replacement of the file and
 * the files beside it, and the store itself.
 */
export { FileStore, type FileStoreProblem } from './file/store.js'
export type { FileStoreOptions } from './file/options.js'
export { reloadCount } from './file/reload.js'
