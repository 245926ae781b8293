import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { parse } from 'csv-parse/sync'
import { describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../../src/index.ts'
import { tokenStoreConformance, type RawRow } from '../../../src/testing/index.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir()

/** The file as an independent CSV parser reads it. */
function readRaw(path: string): RawRow[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  const rows = parse<Record<string, string>>(text, {
    columns: true,
    skip_empty_lines: true,
    relax_quotes: true,
  })
  return rows.map((row) =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v === '' ? null : v])),
  )
}

describe('FileStore conformance', () => {
  for (const t of tokenStoreConformance({
    create: () => new FileStore(scratchPath(dir, 'tokens.csv')),
    reopen: (store) => new FileStore((store as FileStore).path),
    readRaw: (store) => Promise.resolve(readRaw((store as FileStore).path)),
    createBroken: () => {
      const path = scratchPath(dir, 'a-directory')
      mkdirSync(path)
      return new FileStore(path)
    },
  })) {
    it(t.name, t.run)
  }
})

function token(
  user: string,
  extra: Partial<ConstructorParameters<typeof OAuthToken>[0]> = {},
): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.CLIENT',
    clientSecret: 'secret',
    refreshToken: `1000.refresh.${user}`,
    accessToken: `1000.access.${user}`,
    expiryTime: 1_900_000_000_000,
    ...extra,
  })
}

describe('FileStore files', () => {
  it('creates the file with mode 0600 and the official header', async () => {
    const path = scratchPath(dir, 'new.csv')
    const store = new FileStore(path)
    await store.saveToken(token('ada@example.com'))
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const [header] = readFileSync(path, 'utf8').split('\n')
    expect(header).toBe(
      'id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain',
    )
  })

  it('writes plain values unquoted, so that the official SDKs split them on commas', async () => {
    const path = scratchPath(dir, 'plain.csv')
    const store = new FileStore(path)
    const ada = token('ada@example.com', {
      apiDomain: 'https://www.zohoapis.com',
      redirectUrl: 'https://x.example/cb',
    })
    await store.saveToken(ada)
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    const values = lines[1]!.split(',')
    expect(values).toEqual([
      ada.id,
      'ada@example.com',
      '1000.CLIENT',
      'secret',
      '1000.refresh.ada@example.com',
      '1000.access.ada@example.com',
      '',
      '1900000000000',
      'https://x.example/cb',
      'https://www.zohoapis.com',
    ])
  })

  it('quotes only values that need it and reads them back exactly', async () => {
    const path = scratchPath(dir, 'quoted.csv')
    const store = new FileStore(path)
    const odd = token('o,dd "user"\nname')
    await store.saveToken(odd)
    const text = readFileSync(path, 'utf8')
    expect(text).toContain('"o,dd ""user""\nname"')
    expect(text).toContain(',1000.CLIENT,secret,')
    const again = new FileStore(path)
    const found = await again.findToken(
      new OAuthToken({ userSignature: new UserSignature('o,dd "user"\nname') }),
    )
    expect(found?.refreshToken).toBe(odd.refreshToken)
  })

  it('reads the official TypeScript SDK file (user_mail, LF, no final newline) and keeps its header', async () => {
    const path = scratchPath(dir, 'ts-sdk.txt')
    writeFileSync(
      path,
      readFileSync(new URL('../../fixtures/typescript-sdk-tokens.txt', import.meta.url)),
    )
    const store = new FileStore(path)
    const tokens = await store.getTokens()
    expect(tokens.map((t) => t.userSignature?.name)).toEqual(['ada@example.com', 'bob@example.com'])
    const ada = await store.findToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
    )
    expect(ada).toMatchObject({
      id: '1',
      clientId: '1000.ABCDEFGHIJ',
      refreshToken: '1000.r1',
      accessToken: '1000.a1',
    })
    expect(ada?.expiryTime).toBe(1732000000000)
    expect(ada?.apiDomain).toBe('https://www.zohoapis.com')
    const bob = await store.findToken(
      new OAuthToken({ clientId: 'c', clientSecret: 's', grantToken: '1000.g2' }),
    )
    expect(bob?.id).toBe('2')
    await store.saveToken(token('carol@example.com'))
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n')
    expect(lines[0]).toBe(
      'id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain',
    )
    expect(lines[1]).toBe(
      readFileSync(
        new URL('../../fixtures/typescript-sdk-tokens.txt', import.meta.url),
        'utf8',
      ).split('\n')[1],
    )
    expect(lines).toHaveLength(4)
  })

  it('reads each value from its own column in a header of another order, with non-ASCII text', async () => {
    // Rows without quotes are read lazily from the text: each column must come from its place.
    const path = scratchPath(dir, 'shuffled.txt')
    const header =
      'id,api_domain,expiry_time,access_token,grant_token,refresh_token,client_secret,client_id,user_name,redirect_url'
    const rows = [
      '7,https://www.zohoapis.eu,1732000000000,1000.a7,,1000.r7,s7,1000.C7,zoë@example.com,https://x.example/cb',
      '8,,,1000.a8,1000.g8,,s8,1000.C8,bob@example.com,',
    ]
    writeFileSync(path, [header, ...rows].join('\n') + '\n')
    const store = new FileStore(path)
    const zoe = await store.findToken(
      new OAuthToken({ userSignature: new UserSignature('zoë@example.com') }),
    )
    expect({ ...zoe }).toMatchObject({
      id: '7',
      apiDomain: 'https://www.zohoapis.eu',
      expiryTime: 1732000000000,
      accessToken: '1000.a7',
      refreshToken: '1000.r7',
      clientSecret: 's7',
      clientId: '1000.C7',
      redirectUrl: 'https://x.example/cb',
    })
    expect(zoe?.grantToken).toBeUndefined()
    const bob = await store.findTokenById('8')
    expect(bob).toMatchObject({ grantToken: '1000.g8', clientId: '1000.C8' })
    expect(bob?.refreshToken).toBeUndefined()
    await store.saveToken(token('carol@example.com'))
    // The rows read are written back byte for byte, in the file's column order.
    const lines = readFileSync(path, 'utf8').split('\n')
    expect(lines.slice(0, 3)).toEqual([header, ...rows])
    expect(lines[3]!.split(',')[8]).toBe('carol@example.com')
  })

  it('reads the Python SDK files (CRLF, quoted values, 9-column redirect_uri header) and adds api_domain', async () => {
    const path = scratchPath(dir, 'python-sdk.txt')
    writeFileSync(
      path,
      readFileSync(new URL('../../fixtures/python-sdk-2.1-tokens.txt', import.meta.url)),
    )
    const store = new FileStore(path)
    const tokens = await store.getTokens()
    expect(tokens).toHaveLength(2)
    const ada = await store.findTokenById('1')
    expect(ada?.userSignature?.name).toBe('ada@example.com')
    expect(ada?.redirectUrl).toBe('https://example.com/callback')
    expect(ada?.apiDomain).toBeUndefined()
    const quoted = await store.findTokenById('2')
    expect(quoted?.userSignature?.name).toBe('Smith, Bob')
    expect(quoted?.grantToken).toBeUndefined()
    ada!.apiDomain = 'https://www.zohoapis.eu'
    await store.saveToken(ada!)
    const text = readFileSync(path, 'utf8')
    expect(text.split('\r\n')[0]).toBe(
      'id,user_mail,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain',
    )
    expect(text).toContain('"Smith, Bob"')
    const reread = new FileStore(path)
    expect((await reread.findTokenById('1'))?.apiDomain).toBe('https://www.zohoapis.eu')
    expect((await reread.findTokenById('2'))?.userSignature?.name).toBe('Smith, Bob')
  })

  it('reads the current Python SDK file (user_name, api_domain, CRLF)', async () => {
    const path = scratchPath(dir, 'python-sdk-new.txt')
    writeFileSync(
      path,
      readFileSync(new URL('../../fixtures/python-sdk-tokens.txt', import.meta.url)),
    )
    const store = new FileStore(path)
    const found = await store.findToken(new OAuthToken({ accessToken: '1000.a9' }))
    expect(found).toMatchObject({ id: '9', apiDomain: 'https://www.zohoapis.in' })
    expect(found?.userSignature?.name).toBe('dev@example.in')
  })

  it('serves every other row when one cannot be read, names the line when it is asked for, and keeps it', async () => {
    const path = scratchPath(dir, 'damaged.txt')
    const good = (id: string, user: string) => `${id},${user},c,s,r-${id},a-${id},,1900000000000,,`
    const lines = [
      'id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain',
      good('1', 'ada@example.com'),
      '2,bob@example.com,"c,s,r-2,a-2,,1900000000000,,',
      good('3', 'carol@example.com'),
      '4,dave@example.com,too,few',
      good('5', 'erin@example.com'),
    ]
    writeFileSync(path, lines.join('\n') + '\n')
    const store = new FileStore(path)
    expect((await store.getTokens()).map((t) => t.id)).toEqual(['1', '3', '5'])
    expect(store.problems).toEqual([
      { file: path, line: 3, reason: 'a quoted value is never closed' },
      { file: path, line: 5, reason: 'expected 10 values, found 4' },
    ])
    await expect(store.findTokenById('2')).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      message: expect.stringContaining(`${path} line 3`) as unknown,
    })
    await expect(
      store.findToken(new OAuthToken({ userSignature: new UserSignature('dave@example.com') })),
    ).rejects.toThrow(/line 5: the row asked for cannot be read \(expected 10 values, found 4\)/)
    expect(await store.findTokenById('9')).toBeNull()
    // A write keeps the damaged rows, byte for byte.
    await store.saveToken(token('frank@example.com'))
    await store.deleteToken('1')
    const text = readFileSync(path, 'utf8')
    expect(text).toContain(lines[2])
    expect(text).toContain(lines[4])
    expect((await new FileStore(path).getTokens()).map((t) => t.userSignature?.name)).toEqual([
      'carol@example.com',
      'erin@example.com',
      'frank@example.com',
    ])
  })

  it('refuses a file whose header is not a token header, and leaves it alone', async () => {
    const path = scratchPath(dir, 'notes.txt')
    writeFileSync(path, 'dear diary,today\nnothing happened\n')
    const store = new FileStore(path)
    await expect(store.getTokens()).rejects.toThrow(
      /line 1: 'dear diary' is not a column of a token file/,
    )
    await expect(store.saveToken(token('ada@example.com'))).rejects.toMatchObject({
      code: 'TOKEN_STORE',
    })
    expect(readFileSync(path, 'utf8')).toBe('dear diary,today\nnothing happened\n')
  })

  it('refuses to write a read-only file and leaves it alone', async () => {
    const path = scratchPath(dir, 'readonly.txt')
    const store = new FileStore(path)
    await store.saveToken(token('ada@example.com'))
    chmodSync(path, 0o400)
    const before = readFileSync(path, 'utf8')
    await expect(store.saveToken(token('bob@example.com'))).rejects.toThrow(
      /is read-only; it was left as it is/,
    )
    expect(readFileSync(path, 'utf8')).toBe(before)
    expect((await store.getTokens()).map((t) => t.userSignature?.name)).toEqual(['ada@example.com'])
  })

  it('notices when another process changed the file, without reading it on every call', async () => {
    const path = scratchPath(dir, 'shared.txt')
    const mine = new FileStore(path)
    const theirs = new FileStore(path)
    await mine.saveToken(token('ada@example.com'))
    expect(
      await theirs.findToken(
        new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
      ),
    ).not.toBeNull()
    await theirs.saveToken(token('ada@example.com', { accessToken: 'rotated' }))
    const seen = await mine.findToken(
      new OAuthToken({ userSignature: new UserSignature('ada@example.com') }),
    )
    expect(seen?.accessToken).toBe('rotated')
  })

  it('writes saves that arrive together in one go, each with its own outcome', async () => {
    const path = scratchPath(dir, 'batch.txt')
    const store = new FileStore(path)
    const ada = token('ada@example.com')
    await store.saveToken(ada)
    const clash = token('ada@example.com', { id: 'zzzzzzzzzz' })
    const results = await Promise.allSettled([
      store.saveToken(token('bob@example.com')),
      store.saveToken(clash),
      store.saveToken(token('carol@example.com')),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((await new FileStore(path).getTokens()).length).toBe(3)
  })

  it('does not leave temporary or lock files behind', async () => {
    const sub = scratchPath(dir, 'clean')
    mkdirSync(sub)
    const store = new FileStore(`${sub}/tokens.txt`)
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.saveToken(token(`u${i}`))))
    await store.close()
    const { readdirSync } = await import('node:fs')
    expect(readdirSync(sub)).toEqual(['tokens.txt'])
  })
})

describe('FileStore lock', () => {
  it('takes over at once a lock left by a process that died', async () => {
    const path = scratchPath(dir, 'stale.txt')
    // A pid that is surely not running: a child that has exited.
    const { spawnSync } = await import('node:child_process')
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    const { hostname } = await import('node:os')
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: dead, host: hostname(), nonce: 'x' }))
    const store = new FileStore({ path, lockTimeoutMs: 2000 })
    await store.saveToken(token('ada@example.com'))
    expect((await store.getTokens()).length).toBe(1)
    expect(existsSync(`${path}.lock`)).toBe(false)
  })

  it('waits for a live holder and then gives a clear error, changing nothing', async () => {
    const path = scratchPath(dir, 'held.txt')
    const first = new FileStore(path)
    await first.saveToken(token('ada@example.com'))
    const before = readFileSync(path, 'utf8')
    const { hostname } = await import('node:os')
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'held' }),
    )
    const store = new FileStore({ path, lockTimeoutMs: 300 })
    await expect(store.saveToken(token('bob@example.com'))).rejects.toMatchObject({
      code: 'TOKEN_STORE',
      operation: 'lock',
      message: expect.stringMatching(
        /timed out after \d+ ms waiting for the lock held by pid \d+/,
      ) as unknown,
    })
    expect(readFileSync(path, 'utf8')).toBe(before)
    // Once the holder lets go, writes go on.
    unlinkSync(`${path}.lock`)
    await store.saveToken(token('bob@example.com'))
    expect((await store.getTokens()).length).toBe(2)
  })

  it('takes over a lock older than staleLockMs even if its holder seems alive', async () => {
    const path = scratchPath(dir, 'old-lock.txt')
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 1, host: 'another-host', nonce: 'old' }))
    const past = new Date(Date.now() - 120_000)
    utimesSync(`${path}.lock`, past, past)
    const store = new FileStore({ path, staleLockMs: 60_000, lockTimeoutMs: 2000 })
    await store.saveToken(token('ada@example.com'))
    expect((await store.getTokens()).length).toBe(1)
  })
})
