import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parse } from 'csv-parse/sync'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature, type TokenStore } from '../../src/index.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'

const run = promisify(execFile)
const dir = scratchDir()
const CHILD = fileURLToPath(new URL('../children/save-many.ts', import.meta.url))

async function saveFromTwoProcesses(kind: 'file' | 'sqlite', path: string): Promise<string[]> {
  const children = ['p1', 'p2'].map((prefix) =>
    run(process.execPath, ['--import', 'tsx', CHILD, kind, path, prefix, '500', '2'], {
      maxBuffer: 1 << 24,
    }),
  )
  const outputs = (await Promise.all(children)).map(
    ({ stdout }) => JSON.parse(stdout) as { ids: string[]; started: number; finished: number },
  )
  // The two processes really saved at the same time: each started before the other finished.
  expect(outputs[0]!.started).toBeLessThan(outputs[1]!.finished)
  expect(outputs[1]!.started).toBeLessThan(outputs[0]!.finished)
  return outputs.flatMap(({ ids }) => ids)
}

async function expectAllThousand(store: TokenStore, ids: string[]): Promise<void> {
  expect(ids).toHaveLength(1000)
  expect(new Set(ids).size).toBe(1000)
  const tokens = await store.getTokens()
  expect(tokens).toHaveLength(1000)
  expect(new Set(tokens.map((t) => t.id))).toEqual(new Set(ids))
  for (const prefix of ['p1', 'p2']) {
    for (const i of [0, 249, 499]) {
      const found = await store.findToken(
        new OAuthToken({ userSignature: new UserSignature(`${prefix}-${i}@example.com`) }),
      )
      expect(found?.refreshToken).toBe(`1000.refresh.${prefix}.${i}`)
    }
  }
}

describe('two processes saving 500 users each into one store', () => {
  it('FileStore: 1000 rows, 1000 distinct ids, a clean file', async () => {
    const path = scratchPath(dir, 'shared.txt')
    const ids = await saveFromTwoProcesses('file', path)
    const store = new FileStore(path)
    await expectAllThousand(store, ids)
    expect(store.problems).toEqual([])
    // An independent parser agrees.
    const rows = parse<{ id: string }>(readFileSync(path, 'utf8'), { columns: true })
    expect(rows).toHaveLength(1000)
    expect(new Set(rows.map((r) => r.id)).size).toBe(1000)
  })

  it('SQLiteStore: 1000 rows, 1000 distinct ids, integrity check ok', async () => {
    const path = scratchPath(dir, 'shared.db')
    const ids = await saveFromTwoProcesses('sqlite', path)
    const store = new SQLiteStore({ path })
    await expectAllThousand(store, ids)
    await store.close()
    const db = new Database(path, { readonly: true })
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    db.close()
  })
})
