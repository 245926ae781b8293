// FileStore's due scan: the published suite, and the scan over the file as it is now (written by
// another process, in the official SDKs' older layout, with rows that cannot be read).
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../../src/index.ts'
import { dueScanConformance } from '../../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir('tokenkeeper-file-due-')
const NOW = 1_900_000_000_000

function token(user: string, expiryTime: number): OAuthToken {
  return new OAuthToken({
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${user}`,
    accessToken: `1000.access.${user}`,
    userSignature: new UserSignature(user),
    expiryTime,
  })
}

describe('FileStore due scan', () => {
  for (const t of dueScanConformance({
    create: () => new FileStore(scratchPath(dir, 'due.csv')),
  })) {
    it(t.name, t.run)
  }

  describe('with encryption: the rows are opened', () => {
    const encryption = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }
    const create = () => new FileStore(scratchPath(dir, 'sealed.csv'), { encryption })
    for (const t of dueScanConformance({ create })) it(t.name, t.run)
  })

  it('sees what another process wrote since its last read', async () => {
    const path = scratchPath(dir, 'shared.csv')
    const mine = new FileStore(path)
    await mine.saveToken(token('ada@example.com', NOW + 60_000))
    expect(await mine.findDueTokens({ before: NOW })).toEqual([])
    const other = new FileStore(path)
    const moved = (await other.getTokens())[0]!
    moved.expiryTime = NOW - 1
    await other.saveToken(moved)
    await other.saveToken(token('bob@example.com', NOW))
    const due = await mine.findDueTokens({ before: NOW })
    expect(due.map((t) => [t.userSignature?.name, t.expiryTime])).toEqual([
      ['ada@example.com', NOW - 1],
      ['bob@example.com', NOW],
    ])
  })

  it('scans a 9-column file of the official SDKs and passes over rows that cannot be read', async () => {
    const path = scratchPath(dir, 'older.txt')
    const row = (id: string, user: string, expiry: string) =>
      `${id},${user},c,s,r-${id},a-${id},,${expiry},`
    writeFileSync(
      path,
      [
        'id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url',
        row('1', 'ada@example.com', String(NOW + 1)),
        row('2', 'bob@example.com', String(NOW - 10)),
        '3,carol@example.com,"c,s,r-3,a-3,,1,',
        row('4', 'dave@example.com', ''),
        row('5', 'erin@example.com', String(NOW - 10)),
      ].join('\n') + '\n',
    )
    const store = new FileStore(path)
    expect((await store.findDueTokens({ before: NOW })).map((t) => t.id)).toEqual(['2', '5'])
    expect(store.problems.map((p) => p.line)).toEqual([4])
  })
})
