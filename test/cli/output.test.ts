// The CLI's JSON output stays JSON whatever the values hold, with credentials masked.
import { describe, expect, it } from 'vitest'
import { JsonArrayText, jsonText } from '../../src/cli/output.ts'

const values = {
  redirectUrl: 'https://app.example/cb?password=',
  store: 'mysql://root:pw@db:3306/x?ssl=on&password=hunter2',
  note: 'auth=',
  state: 'valid',
}

describe('jsonText', () => {
  it('masks credentials inside each value and keeps the text valid JSON', () => {
    const text = jsonText(values)
    const parsed = JSON.parse(text) as Record<string, string>
    expect(parsed.store).toBe('mysql://root:[redacted]@db:3306/x?ssl=on&password=[redacted]')
    expect(text).not.toContain('hunter2')
    expect(parsed.state).toBe('valid')
    expect(Object.keys(parsed)).toEqual(Object.keys(values))
  })

  it('an array written item by item is the same text as the whole array', () => {
    const items = [values, { ...values, state: 'expired' }]
    const writer = new JsonArrayText()
    const text = items.map((item) => writer.item(item)).join('') + writer.end()
    expect(text).toBe(`${jsonText(items)}\n`)
    expect(JSON.parse(text)).toHaveLength(2)
  })
})
