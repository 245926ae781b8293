// A token file changed by another process is read again only where it changed, and the result
// is exactly what reading it whole gives (issue 14).
import { appendFileSync, copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { COLUMNS, FileStore, OAuthToken, UserSignature } from '../../../src/index.ts'
import { formatRecord, parseCount } from '../../../src/stores/csv.ts'
import { reloadCount } from '../../../src/stores/file.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()

/** Writes the file as tokenkeeper's other processes do: a new file renamed over the old one. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.next`, text)
  renameSync(`${path}.next`, path)
}

/** What a store serves: its tokens in order (or the error reading them) and its problems. */
async function view(store: FileStore): Promise<unknown> {
  try {
    const tokens = await store.getTokens()
    return { tokens: tokens.map((token) => ({ ...token })), problems: store.problems }
  } catch (err) {
    return { error: (err as Error).message.replace(store.path, 'FILE') }
  }
}

// ---- random token files -------------------------------------------------------------------

const value = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9.]{1,6}$/) },
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 3,
    arbitrary: fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r\n', ' '), maxLength: 5 }),
  },
)
const id = fc.oneof(fc.constantFrom('1', '2', '3', '4', '5', '6', '7', '8'), fc.constant(''))
/** One line (or more, when quoted values hold line breaks) of a token file, bad ones included. */
const record = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(id, fc.array(value, { minLength: 9, maxLength: 9 }))
      .map(([i, v]) => formatRecord([i, ...v])),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(id, fc.array(value, { maxLength: 12 }))
      .map(([i, v]) => formatRecord([i, ...v])),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '9,"never closed,a,b',
      '9,"a"b,c,d,e,f,g,h,i,j',
      '"x\ny",,,,,,,,,',
      '10,a,b\rc,d,e,f,g,h,i,j',
      '"11\r",a,b,c,d,e,f,g,h,i',
      '',
      '"',
    ),
  },
)
const file = fc.record({
  records: fc.array(record, { maxLength: 14 }),
  eol: fc.constantFrom('\n', '\n', '\n', '\r\n'),
  last: fc.boolean(),
})
type File = { records: string[]; eol: string; last: boolean }
function textOf({ records, eol, last }: File): string {
  const lines = [COLUMNS.join(','), ...records]
  return lines.join(eol) + (last ? eol : '')
}

/** An edit another process makes to the file's text. */
const edit = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    records: fc.array(record, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), record }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    remove: fc.nat({ max: 6 }),
    insert: fc.string({ unit: fc.constantFrom('a', '1', ',', '"', '\n', '\r'), maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('rewrite' as const), file }),
)
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never

/** The file's text after the edit, and whether another process would append it in place. */
function applyEdit(text: string, change: Edit): { text: string; inPlace: boolean } {
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const lines = text.split(eol)
  switch (change.kind) {
    case 'append': {
      const sep = text.endsWith('\n') || text.length === 0 ? '' : eol
      return { text: text + sep + change.records.join(eol) + eol, inPlace: true }
    }
    case 'replace': {
      lines[1 + (change.at % Math.max(1, lines.length - 1))] = change.record
      return { text: lines.join(eol), inPlace: false }
    }
    case 'delete': {
      if (lines.length > 1) lines.splice(1 + (change.at % (lines.length - 1)), 1)
      return { text: lines.join(eol), inPlace: false }
    }
    case 'splice': {
      const at = change.at % (text.length + 1)
      return {
        text: text.slice(0, at) + change.insert + text.slice(at + change.remove),
        inPlace: false,
      }
    }
    case 'rewrite':
      return { text: textOf(change.file), inPlace: false }
  }
}

function token(user: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${user}`,
    accessToken: `1000.access.${user}`,
    expiryTime: 1_900_000_000_000,
  })
}

describe('FileStore reads again only what another process changed', () => {
  it('gives exactly what reading the changed file whole gives (300 random files and edits)', async () => {
    const before = { ...reloadCount }
    let edits = 0
    await fc.assert(
      fc.asyncProperty(
        file,
        fc.array(edit, { minLength: 1, maxLength: 3 }),
        async (start, changes) => {
          const path = scratchPath(dir, 'prop.csv')
          let text = textOf(start)
          replace(path, text)
          const store = new FileStore(path)
          await view(store)
          for (const change of changes) {
            const next = applyEdit(text, change)
            if (next.inPlace && next.text.startsWith(text))
              appendFileSync(path, next.text.slice(text.length))
            else replace(path, next.text)
            text = next.text
            edits += 1
            expect(await view(store)).toEqual(await view(new FileStore(path)))
          }
          // The rows' places in the text are right: a write gives the same bytes as a fresh store's.
          const copy = scratchPath(dir, 'copy.csv')
          copyFileSync(path, copy)
          const saved = await store.saveToken(token('new@zylker.example')).then(
            () => readFileSync(path, 'utf8'),
            (err: Error) => err.message.replace(path, 'FILE'),
          )
          const fresh = await new FileStore(copy).saveToken(token('new@zylker.example')).then(
            () => readFileSync(copy, 'utf8'),
            (err: Error) => err.message.replace(copy, 'FILE'),
          )
          expect(saved).toEqual(fresh)
        },
      ),
      { numRuns: 300 },
    )
    const partial = reloadCount.partial - before.partial
    // Most edits are applied alone; the rest (header, line endings, moved rows) are read whole.
    expect(partial, `${partial} of ${edits} edits applied alone`).toBeGreaterThan(edits / 3)
  }, 120_000)
})

// ---- what a change costs ------------------------------------------------------------------

const ROWS = 100_000

function row(i: number, access = `1000.access.${i}.9a8b7c6d`): string {
  return (
    `${i},user${i}@zylker.example,1000.CLIENT,secret${i},1000.refresh.${i}.b3f1c0de,` +
    `${access},,${1_900_000_000_000 + i},https://zylker.example/cb,https://www.zohoapis.com`
  )
}

function bigFile(): { path: string; lines: string[] } {
  const path = scratchPath(dir, 'big.csv')
  const lines = [COLUMNS.join(',')]
  for (let i = 1; i <= ROWS; i += 1) lines.push(row(i))
  writeFileSync(path, lines.join('\n') + '\n')
  return { path, lines }
}

/** Records parsed while `action` runs. */
async function parsed(action: () => Promise<unknown>): Promise<number> {
  const from = parseCount.records
  await action()
  return parseCount.records - from
}

describe('a change applied alone costs the records it changed', () => {
  it('one row appended in place to a 100,000-row file: O(1) records read again', async () => {
    const { path } = bigFile()
    const store = new FileStore(path)
    expect(await parsed(() => store.findTokenById('1'))).toBe(ROWS + 1)
    appendFileSync(path, row(ROWS + 1) + '\n')
    const cost = await parsed(async () => {
      expect((await store.findTokenById(String(ROWS + 1)))?.accessToken).toBe(
        `1000.access.${ROWS + 1}.9a8b7c6d`,
      )
    })
    expect(cost).toBeLessThanOrEqual(3)
    expect((await store.getTokens()).length).toBe(ROWS + 1)
  })

  it('one row replaced (a new file renamed over the old one): O(1) records read again', async () => {
    const { path, lines } = bigFile()
    const store = new FileStore(path)
    await store.findTokenById('1')
    lines[50_000] = row(50_000, '1000.access.refreshed.longer.than.before')
    replace(path, lines.join('\n') + '\n')
    const cost = await parsed(async () => {
      expect((await store.findTokenById('50000'))?.accessToken).toBe(
        '1000.access.refreshed.longer.than.before',
      )
      // Rows after the change moved in the text: they are still read and written right.
      expect((await store.findTokenById(String(ROWS)))?.accessToken).toBe(
        `1000.access.${ROWS}.9a8b7c6d`,
      )
    })
    expect(cost).toBeLessThanOrEqual(3)
    await store.deleteToken('1')
    expect(readFileSync(path, 'utf8')).toBe([lines[0], ...lines.slice(2)].join('\n') + '\n')
  })
})

describe('lookups after a change applied alone', () => {
  it('find the changed rows by their new values only, and the removed ones no more', async () => {
    const path = scratchPath(dir, 'lookups.csv')
    const lines = [COLUMNS.join(','), ...[1, 2, 3, 4, 5].map((i) => row(i))]
    writeFileSync(path, lines.join('\n') + '\n')
    const store = new FileStore(path)
    const byAccess = (accessToken: string) => store.findToken(new OAuthToken({ accessToken }))
    // The lookup builds the access token index, which the reload must keep right.
    expect((await byAccess('1000.access.2.9a8b7c6d'))?.id).toBe('2')
    const before = reloadCount.partial
    // Row 2 gets a new access token (of another length), row 3 goes, the others stay.
    replace(
      path,
      [lines[0], lines[1], row(2, '1000.access.2.new'), lines[4], lines[5]].join('\n') + '\n',
    )
    expect(await byAccess('1000.access.2.9a8b7c6d')).toBeNull()
    expect(reloadCount.partial, 'the change was applied alone').toBe(before + 1)
    expect((await byAccess('1000.access.2.new'))?.id).toBe('2')
    expect(await byAccess('1000.access.3.9a8b7c6d')).toBeNull()
    expect((await byAccess('1000.access.4.9a8b7c6d'))?.id).toBe('4')
  })
})
