// The sealed format, pinned: known answers for both formats (a silent change of either would
// make every stored row unreadable or every lookup miss), an independent implementation of tk2
// from its description in docs/encryption.md, and the keys and options that are refused.
import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  EncryptionError,
  InvalidArgumentError,
  MemoryStore,
  OAuthToken,
  UserSignature,
  withEncryption,
} from '../../src/index.ts'
import { TokenCipher } from '../../src/crypto.ts'
import { sealTk1 } from '../helpers/backends.ts'

/** The key of the known answers: bytes 0, 1, ..., 31. */
const KAT_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
const kat = { keys: { k1: KAT_KEY }, activeKeyId: 'k1' }

/** Values sealed by the first format (tk1), as the release before this one wrote them. */
const TK1 = {
  '1000.kat.refresh-token':
    'tk1.k1.xqDipUPgSeNBAlg6q8joR9-DsJLheJ10sOxbpLROAo7AP1l34muN0SKIJ84HUSAOemU',
  'client-secret-kat': 'tk1.k1.Ee-rzep-dNQzl_xUtNYtZSuL7Y7AWYaqOI-h7hLbuozccPyzSonKrtJrxiFr',
  Ωmega: 'tk1.k1.SP59M5jtSTlFhJENg29MDSH5ugvlprMhsFfb7nnglkhuqA',
}

const katToken = (): OAuthToken =>
  new OAuthToken({
    userSignature: new UserSignature('ada@zylker.example'),
    clientId: '1000.KATCLIENT',
    clientSecret: 'client-secret-kat',
    refreshToken: '1000.kat.refresh-token',
    accessToken: '1000.kat.access-token',
    grantToken: '1000.kat.grant-code',
    expiryTime: 1_900_000_000_000,
    redirectUrl: 'https://app.example/callback',
    apiDomain: 'https://www.zohoapis.com',
  })

/** The row the known-answer token is stored as, under id 0KATKATKAT (format tk2). */
const TK2_ROW = {
  client_secret: 'tk2.k1.oJovuojoMmCJDaqFEy-VgmA0ukApmYSWuMV6DoSEPrM7e4dvIXJcWSSsz-Ma',
  grant_token: 'tk2.k1.y6VAEtgMpXav217JE2oHMQl4bFVSPBBvDTe0Y03CMdUUZsytR0vSXY-h4IJ0Om4',
  refresh_token: 'tk2.k1.cvHVkDEHNMYxdYEIdjNZwXaA-jLmcLoJgRqUbBPvPjeOxpQ0sI5cNdV74JUnBdXG_6E',
  access_token: 'tk2.k1.2i3_nDrtbyLOzYg1hJd66KPWpJ9CUFeoHGRmGL_E9GeMkbw1X1eO_Vkk4u_YlrB2LQ',
  api_domain: 'tk2.k1.vklPvdurVv4kH0PB_SX1tjWc0pRY-OsiyYnLtTJtjJ4g7_b4asZhvq3Q1QAFgLKNQ-XvCA',
}

/** tk2 as docs/encryption.md describes it, written apart from src/crypto.ts. */
function sealTk2(key: Buffer, keyId: string, aad: unknown[], value: string): string {
  const derive = (purpose: string): Buffer =>
    Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `tokenkeeper ${purpose}`, 32))
  const ad = Buffer.from(JSON.stringify(aad))
  const length = Buffer.alloc(4)
  length.writeUInt32BE(ad.length)
  const nonce = createHmac('sha256', derive('tk2 synthetic iv'))
    .update(Buffer.concat([length, ad, Buffer.from(value, 'utf8')]))
    .digest()
    .subarray(0, 12)
  const cipher = createCipheriv('aes-256-gcm', derive('tk2 aes-256-gcm'), nonce)
  cipher.setAAD(ad)
  const body = Buffer.concat([
    nonce,
    cipher.update(value, 'utf8'),
    cipher.final(),
    cipher.getAuthTag(),
  ])
  return `tk2.${keyId}.${body.toString('base64url')}`
}

describe('the sealed format', () => {
  it('opens values of the first format (tk1), and finds rows by them: known answers', async () => {
    for (const [value, sealed] of Object.entries(TK1)) {
      expect(sealTk1(KAT_KEY, 'k1', value)).toBe(sealed)
    }
    const inner = new MemoryStore()
    await inner.saveToken(
      new OAuthToken({
        userSignature: new UserSignature('ada@zylker.example'),
        clientSecret: TK1['client-secret-kat'],
        refreshToken: TK1['1000.kat.refresh-token'],
        accessToken: TK1['Ωmega'],
      }),
    )
    const store = withEncryption(inner, kat)
    const found = await store.findToken(
      new OAuthToken({ clientId: 'c', clientSecret: 's', refreshToken: '1000.kat.refresh-token' }),
    )
    expect([found?.clientSecret, found?.refreshToken, found?.accessToken]).toEqual([
      'client-secret-kat',
      '1000.kat.refresh-token',
      'Ωmega',
    ])
  })

  it('seals a row in the current format (tk2): known answers, and the same as its description', () => {
    const sealed = new TokenCipher(kat).sealRow(katToken(), '0KATKATKAT')
    const row = {
      client_secret: sealed.clientSecret,
      grant_token: sealed.grantToken,
      refresh_token: sealed.refreshToken,
      access_token: sealed.accessToken,
      api_domain: sealed.apiDomain,
    }
    expect(row).toEqual(TK2_ROW)
    const t = katToken()
    const independent = {
      client_secret: sealTk2(KAT_KEY, 'k1', ['tk2', 'k1', 'client_secret'], t.clientSecret!),
      grant_token: sealTk2(KAT_KEY, 'k1', ['tk2', 'k1', 'grant_token'], t.grantToken!),
      refresh_token: sealTk2(KAT_KEY, 'k1', ['tk2', 'k1', 'refresh_token'], t.refreshToken!),
      access_token: sealTk2(KAT_KEY, 'k1', ['tk2', 'k1', 'access_token'], t.accessToken!),
    }
    const rowSeal = sealTk2(
      KAT_KEY,
      'k1',
      [
        'tk2',
        'k1',
        'api_domain',
        '0KATKATKAT',
        'ada@zylker.example',
        '1000.KATCLIENT',
        independent.client_secret,
        independent.refresh_token,
        independent.access_token,
        independent.grant_token,
        '1900000000000',
        'https://app.example/callback',
      ],
      'https://www.zohoapis.com',
    )
    expect({ ...independent, api_domain: rowSeal }).toEqual(TK2_ROW)
    // The other fields are stored as they are: the user name and client id stay the lookup keys.
    expect([sealed.id, sealed.userSignature?.name, sealed.clientId, sealed.expiryTime]).toEqual([
      '0KATKATKAT',
      'ada@zylker.example',
      '1000.KATCLIENT',
      1_900_000_000_000,
    ])
  })

  it('opens the known-answer row, and refuses it once anything in it changes', () => {
    const cipher = new TokenCipher(kat)
    const stored = (): OAuthToken => {
      const t = katToken()
      t.id = '0KATKATKAT'
      t.clientSecret = TK2_ROW.client_secret
      t.grantToken = TK2_ROW.grant_token
      t.refreshToken = TK2_ROW.refresh_token
      t.accessToken = TK2_ROW.access_token
      t.apiDomain = TK2_ROW.api_domain
      return t
    }
    const opened = cipher.openRow(stored())
    expect({ ...opened.fields(), userSignature: opened.userSignature?.name }).toEqual({
      ...katToken().fields(),
      id: '0KATKATKAT',
      userSignature: 'ada@zylker.example',
    })
    const changes: [string, (t: OAuthToken) => void][] = [
      ['id', (t) => (t.id = '0KATKATKAU')],
      ['user', (t) => (t.userSignature = new UserSignature('eve@zylker.example'))],
      ['client id', (t) => (t.clientId = '1000.OTHER')],
      ['expiry', (t) => (t.expiryTime = 1_900_000_000_001)],
      ['redirect', (t) => (t.redirectUrl = 'https://evil.example/')],
      ['access <- refresh', (t) => (t.accessToken = TK2_ROW.refresh_token)],
      ['grant removed', (t) => (t.grantToken = undefined)],
      ['api domain in the clear', (t) => (t.apiDomain = 'https://evil.example')],
    ]
    for (const [name, change] of changes) {
      const t = stored()
      change(t)
      expect(() => cipher.openRow(t), name).toThrow(EncryptionError)
    }
  })
})

describe('encryption keys and options', () => {
  const attempt = (keys: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    try {
      withEncryption(new MemoryStore(), {
        keys,
        activeKeyId: Object.keys(keys)[0]!,
        ...extra,
      } as never)
      return 'accepted'
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err
      return `${err.argument}: ${err.message}`
    }
  }

  it('refuses degenerate keys, naming the key and never showing it', () => {
    const random = randomBytes(32)
    const pattern = Buffer.alloc(32)
    for (let i = 0; i < 32; i += 1) pattern[i] = [0x13, 0x37, 0xca, 0xfe][i % 4]!
    const bits = Buffer.from('01100101000111010110100110010111') // text, not random bytes
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['all zeros', { k1: Buffer.alloc(32) }, /encryption\.keys\.k1: .*'k1' is all zeros/],
      ['one byte repeated', { k1: Buffer.alloc(32, 0x41) }, /'k1' repeats one byte/],
      ['as base64', { k1: Buffer.alloc(32, 7).toString('base64') }, /'k1' repeats one byte/],
      ['a 4-byte pattern', { k1: pattern }, /'k1' repeats a pattern of 4 bytes/],
      ['ASCII 0s and 1s', { k1: bits }, /'k1' has only 2 distinct byte values/],
      [
        'the same key twice',
        { k1: random, k2: Buffer.from(random) },
        /'k1' and 'k2' are the same key/,
      ],
      ['not base64', { k1: `${'!'.repeat(43)}=` }, /'k1' must be 32 bytes/],
      [
        'a passphrase',
        { k1: 'correct horse battery staple, and then some more words' },
        /'k1' must be 32 bytes/,
      ],
      ['base64 of 31 bytes', { k1: randomBytes(31).toString('base64') }, /'k1' must be 32 bytes/],
    ]
    const outcomes = cases.map(([name, keys]) => `${name}: ${attempt(keys)}`)
    cases.forEach(([name, , expected], i) => {
      expect(outcomes[i], name).toMatch(expected)
      for (const key of Object.values(cases[i]![1])) {
        const text = typeof key === 'string' ? key : Buffer.from(key as Buffer).toString('base64')
        expect(outcomes[i]).not.toContain(text)
      }
    })
  })

  it('accepts random keys as Buffer, base64 and base64url, with surrounding whitespace', () => {
    const key = randomBytes(32)
    expect(attempt({ k1: key })).toBe('accepted')
    expect(attempt({ k1: `${key.toString('base64')}\n` })).toBe('accepted')
    expect(attempt({ k1: key.toString('base64url') })).toBe('accepted')
  })

  it('refuses options it does not know, and a non-boolean acceptLegacyRows', async () => {
    const keys = { k1: randomBytes(32) }
    expect(attempt(keys, { acceptLegacy: false })).toMatch(/^encryption\.acceptLegacy: .*no option/)
    expect(attempt(keys, { acceptLegacyRows: 'no' })).toMatch(/^encryption\.acceptLegacyRows: /)
    const store = withEncryption(new MemoryStore(), { keys, activeKeyId: 'k1' })
    await expect(store.rekey({ lockTimeout: 5 } as never)).rejects.toMatchObject({
      argument: 'options.lockTimeout',
    })
  })
})

/** A second fixed key: bytes 32, 33, ..., 63. */
const KEY_2 = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i))
const twoKeys = (activeKeyId: string, acceptLegacyRows = true): TokenCipher =>
  new TokenCipher({ keys: { k1: KAT_KEY, k2: KEY_2 }, activeKeyId, acceptLegacyRows })
const ID = '0KATKATKAT'

/** The message of the EncryptionError that opening `row` throws; its cause is kept. */
function refusal(cipher: TokenCipher, row: OAuthToken): string {
  try {
    cipher.openRow(row)
  } catch (err) {
    if (!(err instanceof EncryptionError)) throw err
    return err.message
  }
  throw new Error('the row opened')
}

/** A k1 row whose row seal covers `change` (made to its sealed secrets): only that value is wrong. */
function resealed(change: (secrets: OAuthToken) => void): OAuthToken {
  const secrets = new TokenCipher(kat).sealSecrets(katToken())
  change(secrets)
  return new TokenCipher(kat).sealRowFor(secrets, ID)
}

const ALTERED =
  'the key is wrong or the value was altered (changed, or moved from another row or column)'

describe('TokenCipher: each refusal says which value of which row, and why', () => {
  it('a row without some secrets or an API domain seals and opens to the same token', () => {
    const cipher = new TokenCipher(kat)
    const token = new OAuthToken({
      userSignature: new UserSignature('ada@zylker.example'),
      clientId: '1000.KATCLIENT',
      refreshToken: '1000.kat.refresh-token',
    })
    const sealed = cipher.sealRow(token, ID)
    expect([sealed.clientSecret, sealed.accessToken, sealed.grantToken]).toEqual([
      undefined,
      undefined,
      undefined,
    ])
    // The seal of an empty API domain is a nonce and a tag, no ciphertext: 28 bytes.
    expect(Buffer.from(sealed.apiDomain!.slice('tk2.k1.'.length), 'base64url')).toHaveLength(28)
    const opened = cipher.openRow(sealed)
    expect(opened.apiDomain).toBeUndefined()
    expect({ ...opened.fields(), userSignature: opened.userSignature?.name }).toEqual({
      ...token.fields(),
      id: ID,
      userSignature: 'ada@zylker.example',
    })
  })

  it('a value moved, cut short, or sealed with another key than its row is named', () => {
    const moved = resealed((t) => (t.accessToken = t.refreshToken))
    const cut = resealed((t) => (t.accessToken = t.accessToken!.slice(0, 'tk2.k1.'.length + 36)))
    const k2 = twoKeys('k2').sealSecrets(katToken()).accessToken
    const cases: [string, OAuthToken, string][] = [
      [
        'moved',
        moved,
        `the access_token of token ${ID} cannot be decrypted with key 'k1': ${ALTERED}`,
      ],
      ['cut', cut, `the access_token of token ${ID} cannot be decrypted with key 'k1': ${ALTERED}`],
      [
        'other key',
        resealed((t) => (t.accessToken = k2)),
        `the access_token of token ${ID} is not sealed with the key of its row ('k1'): the row was altered`,
      ],
      [
        'clear',
        resealed((t) => (t.accessToken = 'in-the-clear')),
        `the access_token of token ${ID} is not sealed with the key of its row ('k1'): the row was altered`,
      ],
    ]
    for (const [name, row, message] of cases)
      expect(refusal(twoKeys('k1'), row), name).toBe(message)
    // 27 bytes cannot hold a nonce and a tag: refused as too short, not tried.
    const err = (() => {
      try {
        twoKeys('k1').openRow(cut)
      } catch (caught) {
        return caught as EncryptionError
      }
    })()
    expect((err?.cause as Error).message).toBe('too short')
  })

  it('a row seal that is altered, missing, or names a key not configured is named', () => {
    const row = (): OAuthToken => new TokenCipher(kat).sealRow(katToken(), ID)
    const seal = (apiDomain: string): OAuthToken => Object.assign(row(), { apiDomain })
    const expiry = Object.assign(row(), { expiryTime: 1 })
    const unknown = (id: string) =>
      `the row seal (api_domain) of token ${ID} is encrypted with key '${id}', which is not among the configured keys`
    const cases: [string, OAuthToken, string][] = [
      [
        'expiry',
        expiry,
        `the row seal (api_domain) of token ${ID} cannot be decrypted with key 'k1': ${ALTERED}`,
      ],
      ['key k9', seal('tk2.k9.AAAA'), unknown('k9')],
      ['no dot after the key id', seal('tk2.k1'), unknown('')],
      ['a long key id, cut', seal(`tk2.${'x'.repeat(50)}.AAAA`), unknown('x'.repeat(32))],
      [
        'replaced',
        seal('https://evil.example'),
        `the client_secret of token ${ID} belongs to a sealed row, but the row seal (api_domain) is missing or was replaced: the row was altered`,
      ],
    ]
    for (const [name, stored, message] of cases)
      expect(refusal(twoKeys('k1'), stored), name).toBe(message)
  })

  it('rows without a row seal: refused once legacy rows are, and their tk1 values named', () => {
    const clear = new OAuthToken({ clientId: 'c', refreshToken: 'in-the-clear' })
    expect(refusal(twoKeys('k1', false), clear)).toBe(
      'token (no id) has no row seal (it is stored in the clear or in the first format, tk1) and ' +
        'encryption.acceptLegacyRows is false: it is not used. Restore it from a trusted copy, ' +
        'or delete it and sign the user in again',
    )
    expect(twoKeys('k1').openRow(clear).refreshToken).toBe('in-the-clear')
    const tk1 = (refreshToken: string) => new OAuthToken({ id: '7', clientId: 'c', refreshToken })
    expect(refusal(twoKeys('k1'), tk1(sealTk1(KEY_2, 'k9', 'x')))).toBe(
      "the refreshToken of token 7 is encrypted with key 'k9', which is not among the configured keys",
    )
    expect(refusal(twoKeys('k1'), tk1(sealTk1(KEY_2, 'k1', 'x')))).toBe(
      `the refreshToken of token 7 cannot be decrypted with key 'k1': ${ALTERED}`,
    )
  })
})

describe('TokenCipher: lookups, the active key, and what is refused at construction', () => {
  it('a lookup value is sought sealed with the active key first, then the others, then as legacy', () => {
    const value = '1000.kat.refresh-token'
    const k1 = twoKeys('k1').sealRow(katToken(), ID).refreshToken
    const k2 = twoKeys('k2').sealRow(katToken(), ID).refreshToken
    expect(k1).toBe(TK2_ROW.refresh_token)
    const legacy = [sealTk1(KEY_2, 'k2', value), sealTk1(KAT_KEY, 'k1', value), value]
    expect(twoKeys('k2').candidates('refresh_token', value)).toEqual([k2, k1, ...legacy])
    expect(twoKeys('k2', false).candidates('refresh_token', value)).toEqual([k2, k1])
  })

  it('isCurrent: sealed in the current format with the active key, and nothing else', () => {
    const k1 = twoKeys('k1').sealRow(katToken(), ID)
    const tk1 = new OAuthToken({ clientId: 'c', apiDomain: sealTk1(KAT_KEY, 'k1', 'x') })
    const none = new OAuthToken({ clientId: 'c' })
    const current = (cipher: TokenCipher) =>
      [k1, katToken(), tk1, none].map((t) => cipher.isCurrent(t))
    expect(current(twoKeys('k1'))).toEqual([true, false, false, false])
    expect(current(twoKeys('k2'))).toEqual([false, false, false, false])
    expect(twoKeys('k2').activeKeyId).toBe('k2')
  })

  it('refuses key ids a sealed value cannot carry, and options of the wrong shape', () => {
    const key = randomBytes(32)
    const attempt = (options: unknown): string => {
      try {
        new TokenCipher(options as never)
        return 'accepted'
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err
        return `${err.argument}: ${err.message}`
      }
    }
    // The id ends at the first '.' of a sealed value: 'k.1' would be read back as key 'k'.
    for (const id of ['k.1', '.k1', 'k1.', 'k 1', '', 'x'.repeat(33), '.'.repeat(60)]) {
      expect(attempt({ keys: { [id]: key }, activeKeyId: id }), id).toBe(
        `encryption.keys: key id '${id.slice(0, 40)}' must be 1 to 32 letters, digits, _ or -`,
      )
    }
    expect(
      attempt({ keys: { ['x'.repeat(32)]: key, 'a-b_C9': KEY_2 }, activeKeyId: 'a-b_C9' }),
    ).toBe('accepted')
    const shape = 'encryption: encryption must be { keys: { [keyId]: key }, activeKeyId }'
    for (const options of [
      undefined,
      null,
      'k1',
      { keys: null, activeKeyId: 'k1' },
      { keys: 'k1', activeKeyId: 'k1' },
    ]) {
      expect(attempt(options), JSON.stringify(options) ?? 'undefined').toBe(shape)
    }
    const keys = { k1: key }
    expect(attempt({ keys, activeKeyId: 'k2' })).toBe(
      "encryption.activeKeyId: activeKeyId 'k2' is not among the keys",
    )
    expect(attempt({ keys, activeKeyId: 'y'.repeat(60) })).toBe(
      `encryption.activeKeyId: activeKeyId '${'y'.repeat(40)}' is not among the keys`,
    )
    expect(attempt({ keys, activeKeyId: 'k1', acceptLegacy: false })).toBe(
      "encryption.acceptLegacy: encryption has no option 'acceptLegacy'; it takes keys, activeKeyId, acceptLegacyRows",
    )
    expect(attempt({ keys, activeKeyId: 'k1', acceptLegacyRows: 'no' })).toBe(
      'encryption.acceptLegacyRows: encryption.acceptLegacyRows must be true or false',
    )
    expect(attempt({ keys: { k1: key, k2: Buffer.from(key) }, activeKeyId: 'k1' })).toBe(
      "encryption.keys.k2: encryption keys 'k1' and 'k2' are the same key: each id needs its own random key",
    )
  })
})
