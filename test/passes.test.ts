// Every pass over all tokens (list, doctor, purge, revoke, migrate) goes through eachToken: a store
// that offers iteration is read a page at a time, and its getTokens() is never called; a pass
// holds about one page; list prints what it printed before it streamed.
import { describe, expect, it } from 'vitest'
import { idsCheck, IdsTally, storeChecks } from '../src/cli/commands/doctor.ts'
import { LIST_PAGE, listTokens } from '../src/cli/commands/list.ts'
import { jsonText, sayText, table, tokenState } from '../src/cli/output.ts'
import {
  DataCenter,
  IdCollisionError,
  Initializer,
  ListStore,
  MemoryStore,
  OAuthToken,
  UserSignature,
  purgeTokens,
  revokeTokens,
  type TokenStore,
} from '../src/index.ts'
import { eachToken } from '../src/iteration.ts'
import { migrateTokens } from '../src/migration.ts'
import { startAccountsEmulator } from '../src/testing/index.ts'
import { filled, HOUR, IterationOnly, NO_GET_TOKENS, NOW, token } from './helpers/iteration-only.ts'

/** What the output of `listTokens` writes, collected. */
async function listed(store: TokenStore, json: boolean): Promise<string> {
  let out = ''
  await listTokens(store, { json, now: NOW, write: async (text) => void (out += text) })
  return out
}

/** What `tokenkeeper list` printed before it streamed: the whole store at once. */
function listedBefore(tokens: OAuthToken[], json: boolean): string {
  if (json) {
    // The client id masked as in the table (issue 17).
    const shown = (t: OAuthToken) => ({
      ...t.toJSON(),
      clientId: t.clientId ? '1000.AB…XY' : t.clientId,
      state: tokenState(t, NOW),
      // Each token's health (no record here: every one is active).
      health: 'active',
    })
    return `${jsonText(tokens.map(shown))}\n`
  }
  if (tokens.length === 0) return sayText('no tokens')
  const rows = tokens.map((t) => [
    t.id ?? '-',
    t.userSignature?.name ?? '-',
    t.clientId ? '1000.AB…XY' : '-',
    t.expiryTime === undefined ? '-' : t.expiryTime > NOW ? 'in 1h' : 'expired 2h ago',
    tokenState(t, NOW),
  ])
  return table(['ID', 'USER', 'CLIENT ID', 'EXPIRES', 'STATE'], rows)
    .map((line) => sayText(line))
    .join('')
}

describe('every pass goes through iteration, never getTokens()', () => {
  it('the wrapper refuses getTokens, and eachToken reads it a page at a time', async () => {
    const store = await filled(1200)
    await expect(store.getTokens()).rejects.toThrow(NO_GET_TOKENS)
    let seen = 0
    for await (const t of eachToken(store, { pageSize: 500 })) seen += t ? 1 : 0
    expect({ seen, pages: store.pages }).toEqual({ seen: 1200, pages: 3 })
  })

  it('list (JSON and table)', async () => {
    const store = await filled(1200, 3)
    const all = await store.inner.getTokens()
    const json = await listed(store, true)
    expect(json).toBe(listedBefore(all, true))
    expect(JSON.parse(json)).toHaveLength(1200)
    // Several pages: the widths of the first, at least those of any canonical id and countdown.
    const lines = (await listed(store, false)).trimEnd().split('\n')
    expect(lines).toHaveLength(1201)
    expect(lines[0]).toBe(
      'ID          USER                       CLIENT ID     EXPIRES           STATE',
    )
    expect(lines[1]).toBe(
      '100000      user000000@zylker.example  1000.AB…XY    expired 2h ago    expired',
    )
    expect(lines[1200]).toBe(
      '101199      user001199@zylker.example  1000.AB…XY    in 1h             valid',
    )
    expect(store.pages).toBe(6)
    // One page: the table of all its rows, as printed before.
    const one = await filled(LIST_PAGE, 3)
    expect(await listed(one, false)).toBe(listedBefore(await one.inner.getTokens(), false))
  })

  it('doctor: the store and ids checks', async () => {
    const store = await filled(1200)
    await store.saveToken(token('words@zylker.example', { id: '0wod457ssD' }))
    await store.saveToken(token('zeros@zylker.example', { id: '0000000042' }))
    await store.saveToken(token('zeros2@zylker.example', { id: '00000000043' }))
    const seen: number[] = []
    const checks = await storeChecks(store, 'memory:', (n) => seen.push(n))
    expect(checks[0]).toEqual({
      status: 'ok',
      name: 'store',
      detail: 'memory: reachable, 1203 tokens',
    })
    expect(checks[1]).toEqual(idsCheck(await store.inner.getTokens()))
    // 11 digits are not a number the official SDKs number (varchar(10)).
    expect(checks[1]!.detail).toMatch(/^2 rows have ids that are not numbers \(first: 0wod457ssD\)/)
    expect(checks[1]!.detail).toMatch(/1 row has a numeric id .*\(first: 0000000042\)/)
    expect(seen).toEqual([500, 1000, 1203])
  })

  it('purgeTokens deletes while it passes over the store', async () => {
    const store = await filled(1200, 3)
    const result = await purgeTokens(store, { expired: true, now: () => NOW })
    expect(result.deleted).toHaveLength(400)
    expect(result).toMatchObject({ kept: [], busy: [] })
    const left = await store.inner.getTokens()
    expect(left).toHaveLength(800)
    expect(left.every((t) => t.expiryTime! > NOW)).toBe(true)
    // Progress after each page and at the end.
    const seen: number[] = []
    await purgeTokens(store, { grantOnly: true, onProgress: (n) => seen.push(n) })
    expect(seen).toEqual([500, 800])
  })

  it('revokeTokens', async () => {
    const emulator = await startAccountsEmulator({
      users: [{ email: 'ada@zylker.example' }],
      clients: [{ clientId: '1000.CLIENTA', clientSecret: 'secret-a' }],
    })
    try {
      const store = await filled(1200)
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store,
        token: new OAuthToken({
          userSignature: new UserSignature('ada@zylker.example'),
          clientId: '1000.CLIENTA',
          clientSecret: 'secret-a',
          grantToken: emulator.issueGrantCode({
            clientId: '1000.CLIENTA',
            user: 'ada@zylker.example',
          }),
        }),
      })
      const ada = session.token
      const result = await revokeTokens(store, {
        environment: emulator.environment,
        userName: 'ada@zylker.example',
      })
      expect(result).toEqual({ revoked: [ada.id], failed: [], kept: [] })
      expect(await store.findTokenById(ada.id!)).toBeNull()
      expect(emulator.isValid(ada.refreshToken!)).toBe(false)
      expect(store.given).toBe(1201)
    } finally {
      await emulator.close()
    }
  })

  it('migrateTokens: copied, resumed, verified, collisions refused', async () => {
    const source = await filled(1200)
    const target = new IterationOnly()
    const passes: string[] = []
    const result = await migrateTokens(source, target, {
      onPass: (pass, done) => passes.push(`${pass} ${done}`),
    })
    expect(result).toMatchObject({
      tokens: 1200,
      copied: 1200,
      skipped: 0,
      failed: [],
      target: 1200,
      missing: [],
      different: [],
    })
    expect(passes).toEqual([
      'compared 500',
      'compared 1000',
      'compared 1200',
      'verified 500',
      'verified 1000',
      'verified 1200',
    ])
    const again = await migrateTokens(source, target)
    expect(again).toMatchObject({ tokens: 1200, copied: 0, skipped: 1200, target: 1200 })
    // A row without a user name (an official SDK's row before its user was looked up).
    const anonymous = new OAuthToken({ clientId: '1000.X', clientSecret: 's', refreshToken: 'r' })
    await source.saveToken(anonymous)
    const third = await migrateTokens(source, target)
    expect(third).toMatchObject({ tokens: 1201, copied: 1, skipped: 1200, missing: [] })
    expect((await target.findTokenById(anonymous.id!))?.refreshToken).toBe('r')

    const other = new IterationOnly()
    const first = (await source.inner.getTokens())[0]!
    await other.saveToken(token('mallory@evil.example', { id: first.id }))
    const error = await migrateTokens(source, other).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(IdCollisionError)
    expect(error).toMatchObject({ ids: [first.id] })
    expect(await other.inner.getTokens()).toHaveLength(1)
  })
})

describe('a pass holds about one page, whatever the store size', () => {
  // The tokens a store gave that are still alive (held by the pass), sampled every 1000 given
  // after a full collection. A pass that kept them all would hold all 8000 at the end.
  const COUNT = 8000
  // Measured: list one page (~503), doctor, purge and revoke a few tokens, migrate 1000 to 2000
  // (its chunks of 500, the one in hand and the one before it, the collector's timing).
  const BOUND = 5 * LIST_PAGE

  it('list, doctor, purge, revoke and migrate', async () => {
    const cases: [string, (store: IterationOnly) => Promise<unknown>][] = [
      [
        'list --json',
        (store) => listTokens(store, { json: true, now: NOW, write: async () => {} }),
      ],
      ['list', (store) => listTokens(store, { json: false, now: NOW, write: async () => {} })],
      ['doctor', (store) => storeChecks(store, 'memory:')],
      ['purge', (store) => purgeTokens(store, { expired: true, now: () => NOW })],
      // Nobody matches: nothing is sent.
      [
        'revoke',
        (store) =>
          revokeTokens(store, { environment: DataCenter.US.PRODUCTION, userName: 'nobody' }),
      ],
      ['migrate', (store) => migrateTokens(store, new MemoryStore())],
    ]
    const alive: Record<string, number> = {}
    for (const [name, pass] of cases) {
      const store = await filled(COUNT, 0, 1000)
      await pass(store)
      expect(store.given, name).toBeGreaterThanOrEqual(COUNT)
      alive[name] = store.mostAlive
    }
    for (const [name, most] of Object.entries(alive)) expect(most, name).toBeLessThan(BOUND)
  })
})

describe('list prints what it printed before', () => {
  it('JSON of hostile values and URL credentials: the same text, valid, secrets redacted', async () => {
    const store = new ListStore()
    const values = [
      token('eve@zylker.example\n1111111111  admin@zylker.example  1000.AB…XY  in 9d  valid'),
      token('\x1b[31mmallory@zylker.example\x1b[0m\x1b[2J\r'),
      token('trudy@zylker.example\u202e\u2028\x9b31m\u2066', {
        redirectUrl: 'https://app:SeCrEt-pw@app.example/cb?auth=SeCrEt-auth&x=1\x1b]8;;',
        apiDomain: 'https://www.zohoapis.com/?password=SeCrEt-query',
      }),
      token('plain@zylker.example', { expiryTime: NOW - 2 * HOUR }),
    ]
    for (const t of values) await store.saveToken(t)
    const all = await store.getTokens()
    const json = await listed(store, true)
    expect(json).toBe(listedBefore(all, true))
    expect(json).not.toContain('SeCrEt')
    const rows = JSON.parse(json) as Record<string, unknown>[]
    expect(rows.map((row) => row.userName)).toEqual(all.map((t) => t.userSignature!.name))
    expect(rows[0]).toMatchObject({ accessToken: '[redacted]', refreshToken: '[redacted]' })
    const text = await listed(store, false)
    expect(text).toBe(listedBefore(all, false))
    expect(text).not.toContain('SeCrEt')
  })

  it('an empty store: [] and "no tokens", as before', async () => {
    const store = new MemoryStore()
    expect(await listed(store, true)).toBe('[]\n')
    expect(await listed(store, true)).toBe(listedBefore([], true))
    expect(await listed(store, false)).toBe('no tokens\n')
  })

  it('the table keeps the widths of its first page; a wider cell later pushes its own row only', async () => {
    const store = await filled(LIST_PAGE + 10)
    const wide = token(`${'w'.repeat(60)}@zylker.example`)
    await store.saveToken(wide)
    const lines = (await listed(store, false)).trimEnd().split('\n')
    expect(lines).toHaveLength(LIST_PAGE + 12)
    const header = lines[0]!
    const column = (line: string, title: string) => line.indexOf(title)
    const stateAt = column(header, 'STATE')
    // Rows of both pages line up with the header, but the wide one.
    for (const line of lines.slice(1)) {
      if (line.includes('wwww')) expect(line.indexOf('valid')).toBeGreaterThan(stateAt)
      else expect(line.indexOf('valid')).toBe(stateAt)
    }
    expect(lines.find((line) => line.includes('wwww'))).toContain(
      `${'w'.repeat(60)}@zylker.example`,
    )
  })
})

describe('IdsTally', () => {
  it('keeps counts and the first id of each kind, as idsCheck over the list', () => {
    const ids = ['7', 'abc', '007', 'xyz', '12345678901', '8']
    const tally = new IdsTally()
    for (const id of ids) tally.add(id)
    expect(tally.check()).toEqual(idsCheck(ids.map((id) => new OAuthToken({ id }))))
    expect(tally.check().detail).toMatch(/^3 rows .*first: abc.*1 row .*first: 007/)
  })
})
