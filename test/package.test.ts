import { execFileSync, spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from './helpers/common.ts'
import { sourceAliases, type PackageJson } from './helpers/source-aliases.ts'

const root = resolve(import.meta.dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson

/** What API.md promises from each entry point, for the entry points this version has. */
const PROMISED: Record<string, string[]> = {
  tokenkeeper: [
    'OAuthToken',
    'UserSignature',
    'MemoryStore',
    'ListStore',
    'FileStore',
    'SDKException',
    'TokenStoreError',
    'MandatoryValueError',
    'InvalidArgumentError',
    'InvalidTokenError',
    'NetworkError',
    'TimeoutError',
    'RateLimitError',
    'Initializer',
    'Session',
    'DataCenter',
    'Environment',
    'createLogger',
    'createStore',
  ],
  'tokenkeeper/stores/sqlite': ['SQLiteStore'],
  'tokenkeeper/stores/mysql': ['DBStore'],
  'tokenkeeper/stores/postgres': ['PostgresStore'],
  'tokenkeeper/stores/redis': ['RedisStore'],
  'tokenkeeper/testing': ['tokenStoreConformance', 'startAccountsEmulator'],
  'tokenkeeper/store-kit': [
    'resolveSaveAsync',
    'wrapStoreError',
    'retry',
    'checkOptions',
    'takeLease',
  ],
}

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

describe('the published package', () => {
  it(
    'installs from its tarball and every entry point imports, with types',
    { timeout: 300_000 },
    () => {
      const dir = scratchDir('tokenkeeper-pack-')
      npm(['pack', '--pack-destination', dir, '--silent'], root)
      const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))!
      const app = join(dir, 'app')
      mkdirSync(app)
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', type: 'module', private: true }),
      )
      // --prefer-offline: a clean machine's npm cache has the tarballs npm ci fetched, not the
      // registry metadata that resolving the tarball's own dependencies needs.
      npm(
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          '--ignore-scripts',
          join(dir, tarball),
        ],
        app,
      )
      // The optional driver, as a user who wants SQLite would have installed it.
      for (const dep of ['better-sqlite3', '@types/better-sqlite3', '@types/node']) {
        mkdirSync(join(app, 'node_modules', dirname(dep)), { recursive: true })
        symlinkSync(join(root, 'node_modules', dep), join(app, 'node_modules', dep))
      }

      const entries = Object.keys(pkg.exports).filter((key) => key !== './package.json')
      const specifiers = entries.map((key) =>
        key === '.' ? 'tokenkeeper' : `tokenkeeper/${key.slice(2)}`,
      )
      expect(specifiers.sort()).toEqual(Object.keys(PROMISED).sort())

      const script = [
        ...specifiers.map((s, i) => `import * as m${i} from '${s}'`),
        `const modules = { ${specifiers.map((s, i) => `'${s}': Object.keys(m${i})`).join(', ')} }`,
        `const { OAuthToken, UserSignature, FileStore } = m${specifiers.indexOf('tokenkeeper')}`,
        `const { SQLiteStore } = m${specifiers.indexOf('tokenkeeper/stores/sqlite')}`,
        'const results = []',
        `for (const store of [new FileStore('./t.txt'), new SQLiteStore({ path: ':memory:' })]) {`,
        `  const token = new OAuthToken({ userSignature: new UserSignature('ada@example.com'), accessToken: 'a' })`,
        '  await store.saveToken(token)',
        '  results.push((await store.findTokenById(token.id)).userSignature.name)',
        '}',
        'console.log(JSON.stringify({ modules, results }))',
      ].join('\n')
      writeFileSync(join(app, 'check.mjs'), script)
      const out = JSON.parse(
        execFileSync(process.execPath, ['check.mjs'], { cwd: app, encoding: 'utf8' }),
      ) as {
        modules: Record<string, string[]>
        results: string[]
      }
      for (const [specifier, names] of Object.entries(PROMISED)) {
        expect(out.modules[specifier]).toEqual(expect.arrayContaining(names))
      }
      expect(out.results).toEqual(['ada@example.com', 'ada@example.com'])

      // The declarations: a strict TypeScript user compiles against them.
      writeFileSync(
        join(app, 'check.ts'),
        [
          "import { OAuthToken, UserSignature, FileStore, MemoryStore, ListStore, TokenStoreError, type TokenStore } from 'tokenkeeper'",
          "import { SQLiteStore } from 'tokenkeeper/stores/sqlite'",
          "import { DBStore } from 'tokenkeeper/stores/mysql'",
          "import { PostgresStore } from 'tokenkeeper/stores/postgres'",
          "import { RedisStore } from 'tokenkeeper/stores/redis'",
          "const servers: TokenStore[] = [new DBStore({ database: 'x' }), new PostgresStore({ connectionString: 'postgres://x' }), new RedisStore({ url: 'redis://x' })]",
          "import { tokenStoreConformance } from 'tokenkeeper/testing'",
          "const stores: TokenStore[] = [new FileStore(), new MemoryStore(), new ListStore(), new SQLiteStore({ path: ':memory:' })]",
          "const token = new OAuthToken({ userSignature: new UserSignature('a'), expiryTime: 1 })",
          'const id: string | undefined = token.id',
          'const tests: { name: string; run(): Promise<void> }[] = tokenStoreConformance({ create: () => new MemoryStore() })',
          "const code: string = new TokenStoreError('X', 'open', 'm').code",
          '// @ts-expect-error expiryTime is a number',
          "new OAuthToken({ expiryTime: '1' })",
          'export { stores, servers, id, tests, code }',
        ].join('\n'),
      )
      // Under each way a TypeScript project resolves modules, with the declarations themselves
      // checked (skipLibCheck off) and without esModuleInterop.
      const resolutions = {
        nodenext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
        bundler: { module: 'ESNext', moduleResolution: 'Bundler' },
        node10: { module: 'ES2022', moduleResolution: 'Node' },
      }
      for (const [name, options] of Object.entries(resolutions)) {
        writeFileSync(
          join(app, `tsconfig.${name}.json`),
          JSON.stringify({
            compilerOptions: {
              ...options,
              strict: true,
              target: 'ES2022',
              noEmit: true,
              types: ['node'],
              esModuleInterop: false,
              allowSyntheticDefaultImports: false,
              skipLibCheck: false,
            },
            files: ['check.ts'],
          }),
        )
        const tsc = spawnSync(
          process.execPath,
          [join(root, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${name}.json`],
          { cwd: app, encoding: 'utf8' },
        )
        expect(`${tsc.stdout}${tsc.stderr}`, `tsc under ${name}`).toBe('')
        expect(tsc.status, `tsc under ${name}`).toBe(0)
      }
    },
  )
})

describe('the package in a clone', () => {
  it('resolves its own name to the sources the same way for tsc, tsx and vitest', () => {
    // tsconfig.json's paths (tsc, tsx) and vitest's aliases must name the same files.
    const tsconfig = JSON.parse(
      readFileSync(join(root, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''),
    ) as { compilerOptions: { paths: Record<string, string[]> } }
    const aliases = sourceAliases(pkg)
    expect(aliases.length).toBe(Object.keys(pkg.exports).length - 1)
    const fromAliases = Object.fromEntries(
      aliases.map(({ find, replacement }) => [
        find.source.replace(/^\^|\$$/g, '').replace(/\\/g, ''),
        [`./${relative(root, replacement)}`],
      ]),
    )
    expect(tsconfig.compilerOptions.paths).toEqual(fromAliases)
    for (const [file] of Object.values(fromAliases))
      expect(existsSync(join(root, file!))).toBe(true)
  })
})

function dirname(dep: string): string {
  return dep.includes('/') ? dep.slice(0, dep.indexOf('/')) : '.'
}
