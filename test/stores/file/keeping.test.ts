// FileStore's health records and budgets: kept in a side file beside the token file (whose
// CSV keeps its shape), under its write lock, shared by every process using the file.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../../src/index.ts'
import { budgetConformance, healthConformance } from '../../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../../children/file-budget.ts', import.meta.url))
const side = (store: FileStore): string => `${store.path}.keeper.json`
const open = (): FileStore => new FileStore(scratchPath(dir, 'tokens.csv'))
const share = (store: FileStore): FileStore => new FileStore(store.path)
const budget = { limit: 2, windowMs: 60_000 }
const T = 1_900_000_000_000

function token(n: number): OAuthToken {
  return new OAuthToken({
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${n}`,
    accessToken: `1000.access.${n}`,
    userSignature: new UserSignature(`keeping${n}@example.com`),
    expiryTime: T + n,
  })
}

describe('FileStore health and budgets', () => {
  for (const t of healthConformance({ create: open, share: (s) => share(s as FileStore) })) {
    it(t.name, t.run)
  }
  for (const t of budgetConformance({ create: open, share: (s) => share(s as FileStore) })) {
    it(t.name, t.run)
  }

  it('leaves the token file as it was, byte for byte, and keeps both in the side file', async () => {
    const store = open()
    const one = token(1)
    await store.saveToken(one)
    const before = readFileSync(store.path)
    const mtime = statSync(store.path).mtimeMs
    await store.saveHealth(one.id!, 'record-one')
    expect((await store.takeBudget('refresh:one', budget, T)).granted).toBe(true)
    expect(readFileSync(store.path)).toEqual(before)
    expect(statSync(store.path).mtimeMs).toBe(mtime)
    const kept: unknown = JSON.parse(readFileSync(side(store), 'utf8'))
    expect(kept).toEqual({
      v: 1,
      health: { [one.id!]: 'record-one' },
      budgets: { 'refresh:one': { w: 60_000, t: [T] } },
    })
    // Private like the token file, and no temporary file left beside it.
    expect(statSync(side(store)).mode & 0o777).toBe(0o600)
    const litter = readdirSync(dirname(store.path)).filter((name) =>
      name.startsWith(`.${basename(store.path)}.`),
    )
    expect(litter).toEqual([])
    await store.close()
  })

  it('reads a missing or corrupt side file as empty, and writes it whole again', async () => {
    const store = open()
    const one = token(1)
    await store.saveToken(one)
    await store.saveHealth(one.id!, 'record-one')
    for (const garbage of ['{"v":1,"health":{"', 'null', '[1,2]', '{"v":2}', '\u0000\u0001']) {
      writeFileSync(side(store), garbage)
      expect(await store.findHealth([one.id!])).toEqual(new Map())
      expect((await store.findTokenById(one.id!))?.accessToken).toBe('1000.access.1')
      expect(await store.takeBudget('refresh:one', budget, T)).toEqual({
        granted: true,
        remaining: 1,
      })
      await store.saveHealth(one.id!, 'record-again')
      expect(await share(store).findHealth([one.id!])).toEqual(new Map([[one.id!, 'record-again']]))
    }
    // Entries that are not well formed go one by one; the others are kept.
    writeFileSync(
      side(store),
      JSON.stringify({
        v: 1,
        health: { [one.id!]: 'kept', 2: 5, 3: 'x'.repeat(201) },
        budgets: { 'refresh:a': { w: 60_000, t: [T, T] }, 'refresh:b': { w: 0, t: [T] } },
      }),
    )
    expect(await store.findHealth([one.id!, '2', '3'])).toEqual(new Map([[one.id!, 'kept']]))
    expect(await store.takeBudget('refresh:a', budget, T + 1)).toEqual({
      granted: false,
      retryAfterMs: 59_999,
    })
    await store.close()
  })

  it('drops the record of a row the file no longer holds, also when another program removed it', async () => {
    const store = open()
    const [one, two] = [token(1), token(2)]
    await store.saveToken(one)
    await store.saveToken(two)
    await store.saveHealth(one.id!, 'record-one')
    await store.saveHealth(two.id!, 'record-two')
    // An official SDK rewrites the CSV without row one: it knows nothing of the side file.
    const lines = readFileSync(store.path, 'utf8').split('\n')
    writeFileSync(store.path, lines.filter((line) => !line.startsWith(`${one.id!},`)).join('\n'))
    const other = share(store)
    expect(await other.findTokenById(one.id!)).toBeNull()
    expect(await other.findHealth([one.id!, two.id!])).toEqual(new Map([[two.id!, 'record-two']]))
    // The next write under the lock forgets it: a row saved again under the id starts without.
    await other.deleteToken(two.id!)
    // Nothing left to keep: the side file goes.
    expect(existsSync(side(store))).toBe(false)
    one.id = undefined
    await other.saveToken(one)
    await other.saveToken(two)
    expect(await other.findHealth([one.id!, two.id!])).toEqual(new Map())
    await Promise.all([store.close(), other.close()])
  })

  it('a row deleted and saved again under its id in one write starts without the record', async () => {
    const store = open()
    const one = token(1)
    await store.saveToken(one)
    await store.saveHealth(one.id!, 'record-one')
    // Started in the same turn: one batch, one write of each file.
    await Promise.all([store.deleteToken(one.id!), store.saveToken(one)])
    expect((await store.findTokenById(one.id!))?.accessToken).toBe('1000.access.1')
    expect(await store.findHealth([one.id!])).toEqual(new Map())
    await store.close()
  })

  it('a side file that cannot be written fails the health and budget calls only', async () => {
    const store = open()
    const one = token(1)
    await store.saveToken(one)
    mkdirSync(side(store))
    const refused = await store.saveHealth(one.id!, 'record-one').catch((err: unknown) => err)
    expect(refused).toMatchObject({ code: 'TOKEN_STORE', operation: 'saveHealth' })
    expect(String((refused as Error).message)).toContain('.keeper.json')
    await expect(store.takeBudget('refresh:one', budget, T)).rejects.toMatchObject({
      operation: 'takeBudget',
    })
    // The tokens are untouched and still written, also in the same batch as a refused record.
    one.accessToken = '1000.access.new'
    const [saved, kept] = await Promise.allSettled([
      store.saveToken(one),
      store.saveHealth(one.id!, 'record-one'),
    ])
    expect(saved.status).toBe('fulfilled')
    expect(kept.status).toBe('rejected')
    expect((await share(store).findTokenById(one.id!))?.accessToken).toBe('1000.access.new')
    await store.close()
  })

  it('counts one budget for four processes taking at once', async () => {
    const path = scratchPath(dir, 'budget.csv')
    const outputs = await Promise.all(
      [1, 2, 3, 4].map(() =>
        run(process.execPath, ['--import', 'tsx', CHILD, path, '8', '4', '3']),
      ),
    )
    const granted = outputs.map(({ stdout }) => (JSON.parse(stdout) as { granted: number }).granted)
    expect(granted.reduce((a, b) => a + b, 0)).toBe(10)
  }, 60_000)
})
