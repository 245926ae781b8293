import { describe, expect, it } from 'vitest'
import { SafeLog, maskCredentials, scrub, scrubDriverText } from '../../src/log.ts'
import { fragmentsIn } from '../helpers/leak-capture.ts'

// A value that defeats the catch-all for quoted literals in scrubDriverText (a quote of each
// kind, a space and a line break inside): only the pattern written for a driver's message form
// removes all of it, so each form below tests its own pattern.
const SECRET = `ZQX7'vJ9 "k2W\nPm4T`

describe('scrubDriverText: each driver message form, a value with quotes and a line break inside', () => {
  const forms: [string, string, string][] = [
    [
      'MySQL Incorrect string value',
      `Incorrect string value: '${SECRET}' for column \`db\`.\`oauthtoken\`.\`access_token\` at row 1`,
      "Incorrect string value: '[redacted]' for column `db`.`oauthtoken`.`access_token` at row 1",
    ],
    [
      'MySQL Duplicate entry',
      `Duplicate entry '${SECRET}' for key 'oauthtoken.refresh_token'`,
      "Duplicate entry '[redacted]' for key 'oauthtoken.refresh_token'",
    ],
    [
      'MySQL syntax error near',
      `You have an error in your SQL syntax; check the manual near '${SECRET}' at line 12`,
      "You have an error in your SQL syntax; check the manual near '[redacted]' at line 12",
    ],
    [
      'MySQL Truncated incorrect value',
      `Truncated incorrect DOUBLE value: '${SECRET}'`,
      "Truncated incorrect DOUBLE value: '[redacted]'",
    ],
    [
      'MySQL Invalid character string',
      `Invalid utf8mb4 character string: '${SECRET}'`,
      "Invalid utf8mb4 character string: '[redacted]'",
    ],
    [
      "MySQL Variable can't be set",
      `Variable 'sql_mode' can't be set to the value of '${SECRET}'`,
      "Variable 'sql_mode' can't be set to the value of '[redacted]'",
    ],
    [
      'PostgreSQL key already exists, a key of two columns',
      `Key (user_name, refresh_token)=(ada, ${SECRET}) already exists.`,
      'Key (user_name, refresh_token)=([redacted]) already exists.',
    ],
    [
      'PostgreSQL Failing row contains',
      `Failing row contains (12, ada, ${SECRET}, null).`,
      'Failing row contains ([redacted]).',
    ],
    [
      'PostgreSQL invalid input syntax',
      `invalid input syntax for type bigint: "${SECRET}"`,
      'invalid input syntax for type bigint: "[redacted]"',
    ],
    [
      'PostgreSQL value out of range',
      `value "${SECRET}" is out of range for type integer`,
      'value "[redacted]" is out of range for type integer',
    ],
    [
      'PostgreSQL portal parameter, two-digit number, at the end',
      `CONTEXT: unnamed portal parameter $12 = '${SECRET}'`,
      "CONTEXT: unnamed portal parameter $12 = '[redacted]'",
    ],
    [
      'PostgreSQL portal parameter followed by another',
      `CONTEXT: unnamed portal parameter $1 = '${SECRET}', $2 = '...'`,
      "CONTEXT: unnamed portal parameter $1 = '[redacted]', $2 = '[redacted]'",
    ],
    [
      'Redis echoed arguments',
      `ERR unknown command 'FOO', with args beginning with: '${SECRET}' 'x' `,
      "ERR unknown command 'FOO', with args beginning with: [redacted]",
    ],
    [
      'Redis echoed arguments, no space after the colon',
      `ERR unknown command 'FOO', with args beginning with:'${SECRET}'`,
      "ERR unknown command 'FOO', with args beginning with:[redacted]",
    ],
  ]
  for (const [name, raw, safe] of forms) {
    it(name, () => {
      const removed = new Set<string>()
      const out = scrubDriverText(raw, removed)
      expect(fragmentsIn([out], SECRET)).toEqual([])
      expect(out).toBe(safe)
      expect([...removed].some((value) => value.includes(SECRET))).toBe(true)
    })
  }
})

describe('scrubDriverText: names stay, each value goes, wherever the message ends', () => {
  const cases: [string, string, string][] = [
    [
      'two Incorrect string value messages: the column between them stays',
      "Incorrect string value: 'A1b2' for column 'c1' at row 1; Incorrect string value: 'B3c4' for column 'c2' at row 2",
      "Incorrect string value: '[redacted]' for column 'c1' at row 1; Incorrect string value: '[redacted]' for column 'c2' at row 2",
    ],
    [
      "Variable can't be set, then more text: the next variable's name stays",
      "Variable 'a' can't be set to the value of 'S1x'; Variable 'b' can't be set to the value of 'S2y'.",
      "Variable 'a' can't be set to the value of '[redacted]'; Variable 'b' can't be set to the value of '[redacted]'.",
    ],
    [
      'invalid input syntax not at the end, then a column and a relation named: both names stay',
      'invalid input syntax for type bigint: "S1x"; column "expiry_time" of relation "oauthtoken" (row 3)',
      'invalid input syntax for type bigint: "[redacted]"; column "expiry_time" of relation "oauthtoken" (row 3)',
    ],
    [
      'a name word counts only right before the quote, not earlier in the text',
      "null value in column user_name violates not-null constraint; got 'ZQX7vJ9k'",
      "null value in column user_name violates not-null constraint; got '[redacted]'",
    ],
    [
      'a name word followed by several spaces still names what follows',
      "Table  'zohooauth.oauthtoken' doesn't exist",
      "Table  'zohooauth.oauthtoken' doesn't exist",
    ],
    [
      'bytes written as \\xNN outside quotes: one marker for the run, no half byte left',
      'Cannot convert string \\xF0\\x9F\\x98\\x80 from binary to utf8mb4',
      'Cannot convert string [redacted] from binary to utf8mb4',
    ],
  ]
  for (const [name, raw, safe] of cases) {
    it(name, () => {
      expect(scrubDriverText(raw)).toBe(safe)
    })
  }
})

describe('scrub: the patterns for Authorization and form fields', () => {
  it('Authorization without a scheme, in any letter case, every occurrence', () => {
    const text = 'Authorization: ZQX7vJ9k-1; AUTHORIZATION=ZQX7vJ9k-2'
    expect(scrub(text)).toBe('Authorization: [redacted]; AUTHORIZATION=[redacted]')
  })

  it('code= and token= inside quoted form bodies, every occurrence, in any letter case', () => {
    const text = 'bodies ["code=ZQX7vJ9k-1","TOKEN=ZQX7vJ9k-2","token=ZQX7vJ9k-3"]'
    expect(scrub(text)).toBe('bodies ["code=[redacted]","TOKEN=[redacted]","token=[redacted]"]')
  })

  it('JSON fields that are not secrets keep their values', () => {
    for (const text of [
      '{"user":"ada@zylker.example","expires_in":3600,"api_domain":"https://www.zohoapis.com"}',
      "{'user': 'ada', 'id': 42}",
      'retries: 3, waited=120',
    ]) {
      expect(scrub(text)).toBe(text)
    }
  })
})

describe('maskCredentials: which parameter names are credentials', () => {
  const cases: [string, string][] = [
    ['?apikey=ZQX7vJ9k&api_key=ZQX7vJ9k', '?apikey=[redacted]&api_key=[redacted]'],
    ['?auth=ZQX7vJ9k&authToken=ZQX7vJ9k', '?auth=[redacted]&authToken=[redacted]'],
    // A name that only contains "auth", "code" or ends in "code" is not a credential.
    ['?oauth_version=1.0&zipcode=12345&code_challenge_method=S256', 'unchanged'],
    ['?code=ZQX7vJ9k', '?code=[redacted]'],
    // A malformed escape in a credential's name: the value goes all the same.
    ['?password%2=ZQX7vJ9k&x=1', '?password%2=[redacted]&x=1'],
  ]
  for (const [text, out] of cases) {
    it(text, () => {
      expect(maskCredentials(text)).toBe(out === 'unchanged' ? text : out)
    })
  }
})

describe('SafeLog: no logger, and nothing to forget', () => {
  it('without a logger, every method does nothing and throws nothing', () => {
    const log = new SafeLog(undefined)
    expect(() => {
      log.info('token refreshed', { id: 'abc' })
      log.error('failed')
    }).not.toThrow()
  })

  it('forget ignores undefined and empty values, and logging still works', () => {
    const lines: string[] = []
    const push = (m: string) => lines.push(m)
    const log = new SafeLog({ debug: push, info: push, warn: push, error: push })
    log.forget(undefined, '', 'ZQX7vJ9k')
    log.info('saved ZQX7vJ9k')
    expect(lines).toEqual(['saved [redacted]'])
  })
})
