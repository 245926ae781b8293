import { readFileSync, statSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createLogger, scrub } from '../src/index.ts'
import { SafeLog } from '../src/log.ts'
import { scratchDir, scratchPath } from './helpers.ts'

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
