// FileStore's options, given either way: `new FileStore(path, options)` honours its second
// argument (it used to be ignored, so `{ encryption }` stored plaintext), and an option that
// does not exist, a path given twice or options given twice are refused with an
// InvalidArgumentError that names the argument, never ignored.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  FileStore,
  InvalidArgumentError,
  OAuthToken,
  UserSignature,
  type EncryptionOptions,
} from '../../../src/index.ts'
import { FileLock } from '../../../src/stores/file-lock.ts'
import { scratchDir, scratchPath } from '../../helpers/common.ts'

const dir = scratchDir('tokenkeeper-file-options-')
const encryption: EncryptionOptions = { keys: { k1: randomBytes(32) }, activeKeyId: 'k1' }

function token(): OAuthToken {
  const tag = randomBytes(8).toString('hex')
  return new OAuthToken({
    userSignature: new UserSignature('ada@example.com'),
    clientId: '1000.CLIENT',
    clientSecret: `client-secret-${tag}`,
    refreshToken: `1000.refresh.${tag}`,
    accessToken: `1000.access.${tag}`,
    expiryTime: 1_900_000_000_000,
  })
}

function refusal(make: () => unknown): InvalidArgumentError {
  try {
    make()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    return err as InvalidArgumentError
  }
  throw new Error('expected an InvalidArgumentError, but the store was made')
}

describe('new FileStore(path, options)', () => {
  it('seals the secrets with { encryption } given after the path', async () => {
    const path = scratchPath(dir, 'sealed.csv')
    const store = new FileStore(path, { encryption })
    const saved = token()
    await store.saveToken(saved)
    const raw = readFileSync(path, 'utf8')
    for (const secret of [saved.clientSecret!, saved.refreshToken!, saved.accessToken!]) {
      expect(raw).not.toContain(secret)
    }
    // The same key opens them, through either form of the constructor.
    expect((await store.findTokenById(saved.id!))?.refreshToken).toBe(saved.refreshToken)
    const other = new FileStore({ path, encryption })
    expect((await other.findTokenById(saved.id!))?.accessToken).toBe(saved.accessToken)
    expect(typeof (store as unknown as { rekey?: unknown }).rekey).toBe('function')
  })

  it('honours lockTimeoutMs given after the path', async () => {
    const path = scratchPath(dir, 'locked.csv')
    const release = await new FileLock(`${path}.lock`, {
      timeoutMs: 1000,
      staleMs: 60_000,
    }).acquire()
    try {
      const store = new FileStore(path, { lockTimeoutMs: 200 })
      const started = Date.now()
      await expect(store.saveToken(token())).rejects.toMatchObject({ operation: 'lock' })
      // The default would wait 10 s.
      expect(Date.now() - started).toBeLessThan(2000)
    } finally {
      await release()
    }
  })

  it('refuses an option that does not exist, naming it, in either form', () => {
    const misspelt = refusal(() => new FileStore('tokens.csv', { encrypton: encryption } as never))
    expect(misspelt.argument).toBe('encrypton')
    expect(misspelt.message).toBe(
      "FileStore has no option 'encrypton'; it takes encryption, path, lockTimeoutMs, staleLockMs, lockLeaseMs",
    )
    expect(refusal(() => new FileStore({ path: 'x.csv', lockTimeout: 5 } as never)).argument).toBe(
      'lockTimeout',
    )
  })

  it('refuses a path given twice, options given twice, and options that are not an object', () => {
    const twice = refusal(() => new FileStore('a.csv', { path: 'b.csv' } as never))
    expect(twice.argument).toBe('path')
    expect(twice.message).toMatch(/given a path twice/)
    expect(refusal(() => new FileStore({ path: 'a.csv' }, {})).argument).toBe('options')
    expect(refusal(() => new FileStore('a.csv', 'b.csv' as never)).argument).toBe('options')
    expect(refusal(() => new FileStore('a.csv', { lockTimeoutMs: -1 })).argument).toBe(
      'lockTimeoutMs',
    )
  })

  it('still takes a path alone, options alone, or nothing', () => {
    expect(new FileStore('a.csv').path).toBe('a.csv')
    expect(new FileStore({ path: 'b.csv' }).path).toBe('b.csv')
    expect(new FileStore('c.csv', {}).path).toBe('c.csv')
    expect(new FileStore('d.csv', undefined).path).toBe('d.csv')
    expect(new FileStore().path).toBe('./sdk_tokens.txt')
  })
})
