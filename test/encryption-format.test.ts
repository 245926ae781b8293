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
} from '../src/index.ts'
import { TokenCipher } from '../src/crypto.ts'
import { sealTk1 } from './helpers/backends.ts'

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
