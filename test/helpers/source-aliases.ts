/**
 * In a clone, the package's own name (`tokenkeeper`, `tokenkeeper/stores/sqlite`, ...) resolves
 * to its TypeScript sources, so that nothing needs a build before `npm start` or `npm test`:
 * each entry of `exports` maps `./dist/X.js` to `./src/X.ts`. tsconfig.json's `paths` say the
 * same for tsc and tsx; test/package.test.ts checks that the two agree.
 */
export interface PackageJson {
  name: string
  exports: Record<string, unknown>
}

export function sourceAliases(pkg: PackageJson): { find: RegExp; replacement: string }[] {
  return Object.entries(pkg.exports).flatMap(([key, target]) => {
    const built =
      typeof target === 'object' && target !== null && 'default' in target
        ? (target as { default: string }).default
        : undefined
    if (!built?.startsWith('./dist/') || !built.endsWith('.js')) return []
    const specifier = key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`
    return [
      {
        find: new RegExp(`^${specifier.replace(/[/.]/g, (c) => `\\${c}`)}$`),
        replacement: new URL(`../../src/${built.slice(7, -3)}.ts`, import.meta.url).pathname,
      },
    ]
  })
}
