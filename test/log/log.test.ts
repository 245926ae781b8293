import { readFileSync, rmSync, statSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createLogger, scrub } from '../../src/index.ts'
import { SafeLog, escapeControl, maskCredentials, scrubDriverText } from '../../src/log.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { fragmentsIn } from '../helpers/leak-capture.ts'

const dir = scratchDir()

describe('logging', () => {
  it('createLogger writes lines at and above its level to a 0600 file', () => {
    const filePath = scratchPath(dir, 'log.txt')
    const logger = createLogger({ level: 'info', filePath })
    logger.debug('not written')
    logger.info('token refreshed id="abc"')
    logger.error('boom')
    const lines = readFileSync(filePath, 'utf8').trim().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.* INFO token refreshed id="abc"$/)
    expect(lines[1]).toMatch(/ ERROR boom$/)
    expect(statSync(filePath).mode & 0o777).toBe(0o600)
  })

  it('rejects a level it does not know', () => {
    expect(() => createLogger({ level: 'loud' as never })).toThrow(/level must be one of/)
  })

  it('scrub removes known secrets and token-shaped text', () => {
    const zoho = '1000.0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210'
    const text = `got ${zoho}; Authorization: Zoho-oauthtoken abc.def; Bearer xyz; client_secret=s3cr3t&code=1000.abc; {"refresh_token":"rt-1"} my-own-secret`
    const out = scrub(text, ['my-own-secret'])
    for (const secret of [zoho, 'abc.def', 'xyz', 's3cr3t', '1000.abc', 'rt-1', 'my-own-secret'])
      expect(out).not.toContain(secret)
    expect(out).toContain('Zoho-oauthtoken [redacted]')
  })

  it('SafeLog formats fields, scrubs what it was told to forget, and survives a broken logger', () => {
    const lines: string[] = []
    const log = new SafeLog({
      debug: (m) => lines.push(m),
      info: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      error: () => {
        throw new Error('broken')
      },
    })
    log.forget('secret-value')
    log.info('token refreshed', {
      id: 'abcdefghij',
      user: 'ada@example.com',
      note: 'has secret-value inside',
    })
    log.error('does not throw')
    expect(lines).toEqual([
      'token refreshed id="abcdefghij" user="ada@example.com" note="has [redacted] inside"',
    ])
    expect(() => new SafeLog({ info: () => undefined } as never)).toThrow(
      /debug, info, warn and error/,
    )
  })
})

describe('scrub: every way a secret is written leaves only the marker', () => {
  // Base64-ish, with the characters that encoding changes (+ / =).
  const SECRET = 'ZQX7vJ9k+Wq2/PmB4h=='
  const percentAll = [...SECRET]
    .map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .join('')
  const forms: [string, string][] = [
    [
      'a form body, the value URL-encoded',
      `grant_type=refresh_token&refresh_token=${encodeURIComponent(SECRET)}&client_id=1000.X`,
    ],
    ['a value percent-encoded whole', `refresh_token=${percentAll}&x=1`],
    [
      'a JSON pair percent-encoded inside another URL',
      `https://app.example/cb?state=${encodeURIComponent(`{"refresh_token":"${SECRET}"}`)}`,
    ],
    [
      'a form field encoded twice',
      `?next=${encodeURIComponent(`https://y.example/?client_secret=${encodeURIComponent(SECRET)}`)}`,
    ],
    ['camelCase JSON: accessToken', `{"accessToken":"${SECRET}","expiryTime":1}`],
    ['camelCase JSON: refreshToken', `{"refreshToken":"${SECRET}"}`],
    ['camelCase JSON: clientSecret', `{"clientId":"1000.X","clientSecret":"${SECRET}"}`],
    ['camelCase JSON: grantToken', `{"grantToken":"${SECRET}"}`],
    ['snake_case JSON with a space', `{"refresh_token": "${SECRET}"}`],
    ['snake_case JSON: client_secret', `{"client_secret":"${SECRET}"}`],
    ['JSON: password', `{"user":"root","password":"${SECRET}"}`],
    [
      'JSON inside a JSON string',
      JSON.stringify({ body: JSON.stringify({ refreshToken: SECRET }) }),
    ],
    [
      'JSON inside JSON inside JSON',
      JSON.stringify({ a: JSON.stringify({ b: JSON.stringify({ clientSecret: SECRET }) }) }),
    ],
    [
      'a quoted Bearer inside a JSON string',
      JSON.stringify({ headers: `{"Authorization":"Bearer \\"${SECRET}\\""}` }),
    ],
    ['a Python or JS object', `{'refresh_token': '${SECRET}'}`],
    // Single quotes are percent-encoded by some clients (not by encodeURIComponent).
    [
      'a Python object percent-encoded in a URL',
      `/cb?state=%7B%27refresh_token%27%3A%20%27${encodeURIComponent(SECRET)}%27%7D`,
    ],
    [
      'a JSON pair with a space, form-encoded',
      new URLSearchParams({ state: `{"refresh_token": "${SECRET}"}` }).toString(),
    ],
    ['Bearer, quoted', `Authorization: Bearer "${SECRET}"`],
    ['Bearer, single-quoted', `Authorization: Bearer '${SECRET}'`],
    ['Bearer, URL-encoded', `authorization=Bearer%20${encodeURIComponent(SECRET)}`],
    // A header dump aligned with spaces: the scheme is followed by more than one.
    ['Bearer and several spaces', `Authorization:  Bearer   ${SECRET}`],
    ['Bearer and a tab and a space', `Bearer\t ${SECRET}`],
    ['Zoho-oauthtoken, unquoted', `authorization: Zoho-oauthtoken ${SECRET}`],
    ['Zoho-oauthtoken in a header object', `{"Authorization":"Zoho-oauthtoken ${SECRET}"}`],
    ['authorization without a scheme', `authorization: ${SECRET}`],
    ['code= in a callback URL', `/oauth/callback?code=${encodeURIComponent(SECRET)}&state=abc`],
    ['code= first in a form', `code=${encodeURIComponent(SECRET)}&grant_type=authorization_code`],
    ['grant_token=', `grant_token=${SECRET}`],
    ['token= of a revocation', `token=${encodeURIComponent(SECRET)}`],
    ['a URL password', `mysql://root:${encodeURIComponent(SECRET)}@db.example:3306/zohooauth`],
    ['?password= in a URL', `postgres://db.example/x?sslmode=require&password=${SECRET}`],
  ]
  for (const [name, text] of forms) {
    it(name, () => {
      const out = scrub(text)
      expect(fragmentsIn([out], SECRET)).toEqual([])
      expect(out).toContain('[redacted]')
      // Scrubbing twice changes nothing: the marker is not taken for a value.
      expect(scrub(out)).toBe(out)
    })
  }

  it('Basic credentials: nothing of the base64 is left', () => {
    const basic = Buffer.from(`1000.CLIENT:${SECRET}`).toString('base64')
    const out = scrub(`Authorization: Basic ${basic}`)
    expect(fragmentsIn([out], basic)).toEqual([])
    expect(out).toBe('Authorization: Basic [redacted]')
  })

  it('what is not a secret is left as it is', () => {
    for (const text of [
      '{"code":"TOKEN_STORE","name":"TokenStoreError"}',
      'token_type=Bearer&expires_in=3600&api_domain=https://www.zohoapis.com',
      'client_id=1000.ABCDEFGHIJ&redirect_uri=https://app.example/cb',
      'cannot read /tmp/tokens.txt: ENOENT: no such file or directory',
      '{"error":"invalid_code","error_description":"the code expired"}',
      'mysql://root@127.0.0.1:3306/zohooauth?ssl={"rejectUnauthorized":true}',
      'refreshed 3 tokens; 1 failed (INVALID_TOKEN_ERROR)',
    ]) {
      expect(scrub(text)).toBe(text)
    }
  })

  it('a check of 4-character pieces catches a pattern that keeps all but the first character', () => {
    // What a dropped `+` in a pattern does: only the first character of the value goes.
    const broken = (text: string) => text.replace(/(refresh_token=)[^&]/, '$1[redacted]')
    const out = broken(`refresh_token=${SECRET}`)
    expect(out).not.toContain(SECRET)
    expect(fragmentsIn([out], SECRET).length).toBeGreaterThan(10)
  })
})

describe('scrubDriverText: values out, names and the kind of problem in', () => {
  const cases: [string, string][] = [
    [
      "Incorrect string value: '\\xCE\\xA9-ZQX...' for column `db`.`oauthtoken`.`client_secret` at row 1",
      "Incorrect string value: '[redacted]' for column `db`.`oauthtoken`.`client_secret` at row 1",
    ],
    [
      "Incorrect string value: '\\xF0\\x9F\\x98' for column 'access_token' at row 1",
      "Incorrect string value: '[redacted]' for column 'access_token' at row 1",
    ],
    [
      "Duplicate entry 'ZQX7vJ9k' for key 'oauthtoken.refresh_token'",
      "Duplicate entry '[redacted]' for key 'oauthtoken.refresh_token'",
    ],
    ["Duplicate entry 'it's ZQX' for key 'k'", "Duplicate entry '[redacted]' for key 'k'"],
    [
      "Truncated incorrect DOUBLE value: 'ZQX7vJ9k'",
      "Truncated incorrect DOUBLE value: '[redacted]'",
    ],
    [
      "You have an error in your SQL syntax; check the manual near 'ZQX7vJ9k' at line 1",
      "You have an error in your SQL syntax; check the manual near '[redacted]' at line 1",
    ],
    [
      "Data too long for column 'access_token' at row 1",
      "Data too long for column 'access_token' at row 1",
    ],
    ["Table 'zohooauth.oauthtoken' doesn't exist", "Table 'zohooauth.oauthtoken' doesn't exist"],
    [
      'Key (refresh_token)=(ZQX7vJ9k) already exists.',
      'Key (refresh_token)=([redacted]) already exists.',
    ],
    [
      'Failing row contains (12, ada@zylker.example, 1000.X, ZQX7vJ9k, null).',
      'Failing row contains ([redacted]).',
    ],
    [
      'invalid byte sequence for encoding "UTF8": 0x00',
      'invalid byte sequence for encoding "UTF8": [redacted]',
    ],
    [
      'character with byte sequence 0xce 0xa9 in encoding "UTF8" has no equivalent in encoding "LATIN1"',
      'character with byte sequence [redacted]in encoding "UTF8" has no equivalent in encoding "LATIN1"',
    ],
    [
      'invalid input syntax for type bigint: "ZQX7vJ9k"',
      'invalid input syntax for type bigint: "[redacted]"',
    ],
    [
      'null value in column "user_name" of relation "oauthtoken" violates not-null constraint',
      'null value in column "user_name" of relation "oauthtoken" violates not-null constraint',
    ],
    [
      "ERR unknown command 'FOO', with args beginning with: 'ZQX7vJ9k' 'x' ",
      "ERR unknown command 'FOO', with args beginning with: [redacted]",
    ],
    ["something else quoting 'ZQX7vJ9k' here", "something else quoting '[redacted]' here"],
  ]
  for (const [raw, safe] of cases) {
    it(raw, () => {
      const removed = new Set<string>()
      expect(scrubDriverText(raw, removed)).toBe(safe)
      if (raw !== safe) expect(removed.size).toBeGreaterThan(0)
    })
  }
})

describe('escaping control characters', () => {
  it('escapeControl makes any text one line that cannot recolour a terminal', () => {
    const text = 'ada\r\n1 | forged@evil | x\t\x1b[31mred\x07\x7f\x9b2J\u2028\u2029\u202eevil\u2066'
    const out = escapeControl(text)
    expect(out).toBe(
      'ada\\r\\n1 | forged@evil | x\\t\\x1b[31mred\\x07\\x7f\\x9b2J\\u2028\\u2029\\u202eevil\\u2066',
    )
    expect(out).toMatch(/^[\x20-\x7e]*$/)
    expect(escapeControl('plain ünïcödé 日本')).toBe('plain ünïcödé 日本')
  })

  it('createLogger writes one line per event, whatever the message holds', () => {
    const filePath = scratchPath(dir, 'injection.txt')
    const logger = createLogger({ level: 'info', filePath })
    logger.warn('user "ada"\n2099-01-01T00:00:00.000Z INFO forged line \x1b[2J')
    const lines = readFileSync(filePath, 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain('\\n2099-01-01T00:00:00.000Z INFO forged line \\x1b[2J')
  })
})

describe('maskCredentials', () => {
  const cases: [string, string][] = [
    ['mysql://root:pw@db:3306/z', 'mysql://root:[redacted]@db:3306/z'],
    ['mysql://root:p%40ss%2Fw@db/z', 'mysql://root:[redacted]@db/z'],
    ['mysql://root:p@ss@db/z', 'mysql://root:[redacted]@db/z'],
    ['mysql://root:pa#ss@db/z', 'mysql://root:[redacted]@db/z'],
    ['redis://:pw@127.0.0.1:6379/0', 'redis://:[redacted]@127.0.0.1:6379/0'],
    [
      'mysql://db/z?user=root&password=pw&ssl=x',
      'mysql://db/z?user=root&password=[redacted]&ssl=x',
    ],
    ['redis://h?pass=pw', 'redis://h?pass=[redacted]'],
    ['redis://h/0?auth=pw', 'redis://h/0?auth=[redacted]'],
    [
      'postgres://u@h/d?sslpassword=pw&sslmode=require',
      'postgres://u@h/d?sslpassword=[redacted]&sslmode=require',
    ],
    ['postgres://h/d?%70assword=pw', 'postgres://h/d?%70assword=[redacted]'],
    ['host=h user=u password=pw dbname=d', 'host=h user=u password=[redacted] dbname=d'],
    ["postgres://h/d?password='p w'", 'postgres://h/d?password=[redacted]'],
    ['mysql://root@db/z?table=oauthtoken', 'mysql://root@db/z?table=oauthtoken'],
    ['https://api.example/x?email=a@b.example', 'https://api.example/x?email=a@b.example'],
  ]
  for (const [raw, safe] of cases) {
    it(raw, () => {
      expect(maskCredentials(raw)).toBe(safe)
      expect(maskCredentials(safe)).toBe(safe)
    })
  }
})

describe('createLogger: levels, file and standard error', () => {
  it('each method writes at its level; the default level is info, and off writes nothing', () => {
    const all = scratchPath(dir, 'levels-debug.txt')
    const debug = createLogger({ level: 'debug', filePath: all })
    debug.debug('d')
    debug.info('i')
    debug.warn('w')
    debug.error('e')
    const lines = readFileSync(all, 'utf8').trim().split('\n')
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'DEBUG d',
      'INFO i',
      'WARN w',
      'ERROR e',
    ])
    const byDefault = scratchPath(dir, 'levels-default.txt')
    createLogger({ filePath: byDefault }).debug('not written')
    createLogger({ filePath: byDefault }).info('written')
    expect(readFileSync(byDefault, 'utf8')).toMatch(/^\S+ INFO written\n$/)
    const off = scratchPath(dir, 'levels-off.txt')
    const silent = createLogger({ level: 'off', filePath: off })
    for (const level of ['debug', 'info', 'warn', 'error'] as const) silent[level]('x')
    expect(readFileSync(off, 'utf8')).toBe('')
  })

  it('creates its file 0600 at once, and again 0600 when it was removed (log rotation)', () => {
    const filePath = scratchPath(dir, 'rotated.txt')
    const logger = createLogger({ filePath })
    expect(statSync(filePath).mode & 0o777).toBe(0o600)
    rmSync(filePath)
    logger.warn('after rotation')
    expect(statSync(filePath).mode & 0o777).toBe(0o600)
    expect(readFileSync(filePath, 'utf8')).toMatch(/ WARN after rotation\n$/)
  })

  it('refuses a level or a file path it cannot use, saying which and what it takes', () => {
    const refusal = (options: unknown): string => {
      try {
        createLogger(options as never)
        return 'accepted'
      } catch (err) {
        return `${(err as { argument?: string }).argument}: ${(err as Error).message}`
      }
    }
    expect(refusal({ level: 'loud' })).toBe(
      'level: level must be one of debug, info, warn, error, off',
    )
    expect(refusal({ filePath: '' })).toBe('filePath: filePath must be a non-empty string')
    expect(refusal({ filePath: 42 })).toBe('filePath: filePath must be a non-empty string')
  })

  it('without a file, writes scrubbed lines to standard error', () => {
    const written: string[] = []
    const stderr = process.stderr
    const write = stderr.write.bind(stderr)
    // The real stream's writes, recorded for the length of one call.
    stderr.write = (chunk: string | Uint8Array) => {
      written.push(String(chunk))
      return true
    }
    try {
      createLogger({ level: 'warn' }).warn('refresh_token=ZQX7vJ9k-Wq2')
    } finally {
      stderr.write = write
    }
    expect(written).toHaveLength(1)
    expect(written[0]).toMatch(/^\S+ WARN refresh_token=\[redacted\]\n$/)
  })
})

describe('scrub and redaction: exact output', () => {
  it('keeps the quotes around a value, closed or not, raw or percent-encoded', () => {
    const cases: [string, string][] = [
      // (`name: value`, not `name=value`: maskCredentials would take the whole field first.)
      ['{"refresh_token":"abc"}', '{"refresh_token":"[redacted]"}'],
      ['refresh_token: "abc', 'refresh_token: "[redacted]'],
      ['refresh_token: ""', 'refresh_token: "[redacted]"'],
      ["refresh_token: 'abc'", "refresh_token: '[redacted]'"],
      ['refresh_token: %22abc%22', 'refresh_token: %22[redacted]%22'],
      ['refresh_token: %22', 'refresh_token: %22[redacted]'],
      ['Bearer abc', 'Bearer [redacted]'],
    ]
    for (const [text, out] of cases) expect(scrub(text), text).toBe(out)
  })

  it('removes given secrets of 4 characters or more, not shorter ones', () => {
    expect(scrub('abcd and abc', ['abcd', 'abc'])).toBe('[redacted] and abc')
  })

  it('scrubDriverText reports exactly the values it removed, and works without a set', () => {
    const removed = new Set<string>()
    const text =
      "Duplicate entry 'ZQX7vJ9k' for key 'k'; near '' at line 1; near '[redacted]' at line 2"
    expect(scrubDriverText(text, removed)).toBe(
      "Duplicate entry '[redacted]' for key 'k'; near '' at line 1; near '[redacted]' at line 2",
    )
    expect([...removed]).toEqual(['ZQX7vJ9k'])
    expect(scrubDriverText("quoting 'ZQX7vJ9k' and ''")).toBe("quoting '[redacted]' and ''")
  })

  it('maskCredentials: a parameter at the start, quoted values with spaces, one-letter schemes', () => {
    const cases: [string, string][] = [
      ['password=pw host=h', 'password=[redacted] host=h'],
      ['host=h password="p w x" dbname=d', 'host=h password=[redacted] dbname=d'],
      ['host=h password="p w x', 'host=h password=[redacted]'],
      ["host=h password='p w x", 'host=h password=[redacted]'],
      ['see x://u:pw@h', 'see x://u:[redacted]@h'],
    ]
    for (const [text, out] of cases) expect(maskCredentials(text), text).toBe(out)
  })

  it('escapeControl writes characters above 0xff as four hex digits', () => {
    expect(escapeControl('a\u061cb\u200e')).toBe('a\\u061cb\\u200e')
  })
})

describe('SafeLog: each level, and fields as written', () => {
  it('sends each level to its method; leaves out undefined fields; shows NaN as NaN', () => {
    const lines: string[] = []
    const at = (level: string) => (m: string) => lines.push(`${level} ${m}`)
    const log = new SafeLog({
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    })
    log.debug('a')
    log.info('b', { skipped: undefined, n: 1, ok: true, waited: NaN })
    log.warn('c', { user: 'ada' })
    log.error('d')
    expect(lines).toEqual([
      'debug a',
      'info b n=1 ok=true waited=NaN',
      'warn c user="ada"',
      'error d',
    ])
    const refused = (() => {
      try {
        return new SafeLog({ info: () => undefined } as never)
      } catch (err) {
        return (err as { argument?: string }).argument
      }
    })()
    expect(refused).toBe('logger')
  })
})
