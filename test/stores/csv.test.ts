import { describe, expect, it } from 'vitest'
import { formatRecord, parseRecords } from '../../src/stores/csv.ts'

describe('the CSV dialect', () => {
  it('quotes only when needed and reads back exactly', () => {
    const values = ['plain', 'a,b', 'say "x"', 'two\nlines', 'cr\r\nlf', '', null, ' spaced ']
    const line = formatRecord(values)
    expect(line).toBe('plain,"a,b","say ""x""","two\nlines","cr\r\nlf",,, spaced ')
    const [record] = [...parseRecords(`${line}\r\n`)]
    expect(record).toMatchObject({
      line: 1,
      fields: ['plain', 'a,b', 'say "x"', 'two\nlines', 'cr\r\nlf', '', '', ' spaced '],
    })
  })
  it('counts lines across quoted line breaks and recovers after a bad record', () => {
    const text = 'h1,h2\n"multi\nline",x\n"open,y\nok,z\nbad"tail,w\nlast,v\n"never closed,u'
    const records = [...parseRecords(text)]
    expect(records.map((r) => [r.line, 'fields' in r ? r.fields : r.error])).toEqual([
      [1, ['h1', 'h2']],
      [2, ['multi\nline', 'x']],
      // The quote opened here closes two lines down, and text follows it: only line 4 is lost.
      [4, 'text follows a closing quote'],
      [5, ['ok', 'z']],
      [6, ['bad"tail', 'w']],
      [7, ['last', 'v']],
      [8, 'a quoted value is never closed'],
    ])
  })
  it('takes a quote inside an unquoted value as it is, like Python csv', () => {
    const [record] = [...parseRecords('a"b,c\n')]
    expect(record).toMatchObject({ fields: ['a"b', 'c'] })
  })
})
