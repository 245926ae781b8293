export { tokenStoreConformance, runTokenStoreConformance, HOSTILE_VALUES } from './conformance.js'
export type { ConformanceOptions, ConformanceTest, RawRow } from './conformance.js'
