import { describe, expect, it } from 'vitest'
import { EncryptionError, OAuthToken, UserSignature } from '../../src/index.ts'
import { withSealedRows } from '../../src/sealed.ts'
import type { Lookup } from '../../src/store/matching.ts'
import { rowFromToken } from '../../src/store/rows.ts'
import {
  planSave,
  resolveSave,
  resolveSaveAsync,
  type AsyncRowLookups,
  type RowLookups,
} from '../../src/store/save.ts'
import { RowTable } from '../../src/stores/table.ts'

describe('the upsert rule', () => {
  const none = { idExists: false, matchedId: undefined, userOwnerId: undefined }
  it('replaces by id, updates the match, or inserts', () => {
    expect(planSave('S', new OAuthToken({ id: 'x' }), { ...none, idExists: true })).toEqual({
      id: 'x',
      insert: false,
    })
    expect(planSave('S', new OAuthToken({ id: 'x' }), none)).toEqual({ id: 'x', insert: true })
    expect(
      planSave('S', new OAuthToken({ accessToken: 'a' }), { ...none, matchedId: 'm' }),
    ).toEqual({ id: 'm', insert: false })
    expect(planSave('S', new OAuthToken({ accessToken: 'a' }), none)).toEqual({
      id: undefined,
      insert: true,
    })
  })
  it('never puts a user name in a second row', () => {
    const token = new OAuthToken({ id: 'x', userSignature: new UserSignature('u') })
    expect(() => planSave('S', token, { ...none, idExists: true, userOwnerId: 'y' })).toThrow(
      'S.saveToken: the user name of this token is already stored under id y; ' +
        'save it with that id, or delete that token first',
    )
    expect(planSave('S', token, { ...none, idExists: true, userOwnerId: 'x' })).toEqual({
      id: 'x',
      insert: false,
    })
  })
})

/** A table whose lookups are recorded, to state which ones a save asks. */
function recorded(table: RowTable, withGet = true) {
  const asked: string[] = []
  const lookups = {
    hasId: (id: string) => (asked.push(`hasId ${id}`), table.hasId(id)),
    findId: (lookup: Lookup) => (asked.push(`findId ${lookup.column}`), table.findId(lookup)),
    largestNumericId: () => (asked.push('largest'), table.largestNumericId()),
    ...(withGet && { get: (id: string) => (asked.push(`get ${id}`), table.get(id)) }),
  }
  const later = <T>(value: T) => new Promise<T>((resolve) => setImmediate(() => resolve(value)))
  const async: AsyncRowLookups = {
    hasId: (id) => later(lookups.hasId(id)),
    findId: (lookup) => later(lookups.findId(lookup)),
    largestNumericId: () => later(lookups.largestNumericId()),
    ...(withGet && {
      get: (id: string) => later(table.get(id)).finally(() => asked.push(`get ${id}`)),
    }),
  }
  return { asked, sync: lookups as RowLookups, async }
}

function tableOf(...tokens: OAuthToken[]): RowTable {
  const table = new RowTable()
  for (const token of tokens) table.put(rowFromToken(token, token.id!))
  return table
}

const user = (name: string) => new UserSignature(name)

// resolveSave and resolveSaveAsync state the same rule: each case runs on both.
const resolvers = [
  [
    'resolveSave',
    (token: OAuthToken, table: RowTable, withGet = true) => {
      const lookups = recorded(table, withGet)
      return Promise.resolve()
        .then(() => resolveSave('S', token, lookups.sync))
        .then((result) => ({ ...result, asked: lookups.asked }))
    },
  ],
  [
    'resolveSaveAsync',
    async (token: OAuthToken, table: RowTable, withGet = true) => {
      const lookups = recorded(table, withGet)
      const result = await resolveSaveAsync('S', token, lookups.async)
      return { ...result, asked: lookups.asked }
    },
  ],
] as const

describe.each(resolvers)('%s', (_, resolve) => {
  it('inserts a token without id or match under the next numeric id', async () => {
    const table = tableOf(
      new OAuthToken({ id: '41', accessToken: 'x' }),
      new OAuthToken({ id: 'abc', accessToken: 'y' }),
    )
    const saved = await resolve(new OAuthToken({ accessToken: 'a', expiryTime: 5 }), table)
    expect(saved.insert).toBe(true)
    expect(saved.row).toEqual({
      ...rowFromToken(new OAuthToken({ accessToken: 'a', expiryTime: 5 }), '42'),
    })
    expect(saved.asked).toEqual(['findId access_token', 'largest'])
    expect((await resolve(new OAuthToken({ accessToken: 'a' }), new RowTable())).row.id).toBe('1')
  })

  it('replaces the row of its id, or inserts under that id, without asking for a new one', async () => {
    const table = tableOf(new OAuthToken({ id: '3', accessToken: 'old' }))
    const replaced = await resolve(new OAuthToken({ id: '3', accessToken: 'new' }), table)
    expect(replaced).toMatchObject({ insert: false, row: { id: '3', access_token: 'new' } })
    expect(replaced.asked).toEqual(['hasId 3', 'get 3'])
    const added = await resolve(new OAuthToken({ id: '9', accessToken: 'old' }), table)
    expect(added).toMatchObject({ insert: true, row: { id: '9', access_token: 'old' } })
    // An insert replaces no row: no read of one.
    expect(added.asked).toEqual(['hasId 9'])
  })

  it('updates the row its lookup matches', async () => {
    const table = tableOf(
      new OAuthToken({ id: '1', grantToken: 'g1' }),
      new OAuthToken({ id: '2', refreshToken: 'r2', clientId: 'c' }),
    )
    const saved = await resolve(
      new OAuthToken({ refreshToken: 'r2', clientId: 'c', accessToken: 'a' }),
      table,
    )
    expect(saved).toMatchObject({ insert: false, row: { id: '2', access_token: 'a' } })
    expect(saved.asked).toEqual(['findId refresh_token', 'get 2'])
  })

  it('finds a token by its user name with one look-up, and never stores a name twice', async () => {
    const table = tableOf(
      new OAuthToken({ id: '5', userSignature: user('ada'), accessToken: 'old' }),
    )
    const saved = await resolve(
      new OAuthToken({ userSignature: user('ada'), accessToken: 'new' }),
      table,
    )
    expect(saved).toMatchObject({
      insert: false,
      row: { id: '5', user_name: 'ada', access_token: 'new' },
    })
    expect(saved.asked).toEqual(['findId user_name', 'get 5'])
    const other = new OAuthToken({ id: '6', userSignature: user('ada') })
    await expect(resolve(other, table)).rejects.toThrow(/already stored under id 5/)
    const renamed = await resolve(new OAuthToken({ id: '5', userSignature: user('bob') }), table)
    expect(renamed).toMatchObject({ insert: false, row: { id: '5', user_name: 'bob' } })
    expect(renamed.asked).toEqual(['findId user_name', 'hasId 5', 'get 5'])
  })

  it('never replaces a sealed row outside the encryption wrapper', async () => {
    const table = tableOf(new OAuthToken({ id: '4', grantToken: 'g', accessToken: 'tk2.sealed' }))
    const byId = new OAuthToken({ id: '4', accessToken: 'clear' })
    await expect(resolve(byId, table)).rejects.toThrow(EncryptionError)
    await expect(resolve(new OAuthToken({ grantToken: 'g' }), table)).rejects.toThrow(
      /token 4 is encrypted/,
    )
    await expect(withSealedRows(() => resolve(byId, table))).resolves.toMatchObject({
      insert: false,
    })
    // A store that cannot read a row back (no `get`) writes as it is told.
    await expect(resolve(byId, table, false)).resolves.toMatchObject({
      row: { access_token: 'clear' },
    })
  })
})
