import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  panelsFromResults,
  renderChart,
  type BenchResult,
  type ChartPanel,
} from '../../bench/chart.ts'

/** Checks that every tag is closed in order and that no stray `<`, `>` or `&` is left in text. */
function expectWellFormed(svg: string): void {
  const stack: string[] = []
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<>]*")*)\s*(\/?)>/g
  let rest = ''
  let last = 0
  for (const m of svg.matchAll(tag)) {
    rest += svg.slice(last, m.index)
    last = m.index + m[0].length
    const [, closing, name = '', , selfClosing] = m
    if (closing) expect(stack.pop(), `closing </${name}>`).toBe(name)
    else if (!selfClosing) stack.push(name)
  }
  rest += svg.slice(last)
  expect(stack).toEqual([])
  expect(rest).not.toMatch(/[<>]/)
  expect(svg.replace(/&(amp|lt|gt|quot|apos);/g, '')).not.toContain('&')
}

/** The contents of each `<g class="panel">` element, in order. */
function panelsOf(svg: string): string[] {
  return svg.split('<g class="panel"').slice(1)
}

/** The polylines in a piece of SVG, each with its series name, dash and points. */
function polylines(svg: string) {
  const series =
    /<g class="series" data-series="([^"]*)">\n<polyline points="([^"]*)"[^>]*?( stroke-dasharray="[^"]*")?\/>/g
  return [...svg.matchAll(series)].map(([, name = '', points = '', dash]) => ({
    name,
    dashed: dash !== undefined,
    points: points.split(' ').map((xy) => xy.split(',').map(Number) as [number, number]),
  }))
}

const PANELS: ChartPanel[] = [
  {
    title: 'findToken',
    series: [
      {
        name: 'FileStore',
        points: [
          { tokens: 100_000, opsPerSecond: 50_000 },
          { tokens: 1, opsPerSecond: 500_000 },
          { tokens: 1000, opsPerSecond: 5_000_000 },
        ],
      },
      { name: 'official FileStore', official: true, points: [{ tokens: 1000, opsPerSecond: 3 }] },
    ],
  },
  {
    title: 'saveToken <update> & "new"',
    series: [
      { name: 'FileStore', points: [{ tokens: 10, opsPerSecond: 200 }] },
      { name: 'Weird <&> store', points: [{ tokens: 10, opsPerSecond: 2000 }] },
    ],
  },
]

describe('renderChart', () => {
  const svg = renderChart(PANELS, { title: 'Throughput', subtitle: 'Node 20 & "friends"' })

  it('is a well-formed standalone SVG document', () => {
    expectWellFormed(svg)
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+"/)
    expect(svg).toMatch(/viewBox="0 0 \d+ \d+"/)
    expect(svg).toContain('font-family="sans-serif"')
    expect(svg).toContain('fill="white"')
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
  })

  it('is deterministic', () => {
    expect(renderChart(PANELS, { title: 'Throughput', subtitle: 'Node 20 & "friends"' })).toBe(svg)
  })

  it('draws one polyline per series per panel, official ones dashed', () => {
    const panels = panelsOf(svg)
    expect(panels).toHaveLength(2)
    expect(polylines(panels[0] ?? '').map((p) => [p.name, p.dashed])).toEqual([
      ['FileStore', false],
      ['official FileStore', true],
    ])
    expect(polylines(panels[1] ?? '').map((p) => [p.name, p.dashed])).toEqual([
      ['FileStore', false],
      ['Weird &lt;&amp;&gt; store', false],
    ])
  })

  it('escapes text', () => {
    expect(svg).toContain('Weird &lt;&amp;&gt; store')
    expect(svg).toContain('saveToken &lt;update&gt; &amp; &quot;new&quot;')
    expect(svg).toContain('Node 20 &amp; &quot;friends&quot;')
    expect(svg).not.toContain('<&>')
  })

  it('places points by tokens along x and higher throughput higher up', () => {
    const [fileStore] = polylines(panelsOf(svg)[0] ?? '')
    const [a, b, c] = fileStore?.points ?? []
    // Sorted by tokens (1, 1000, 100000), so x increases along the line.
    expect(a?.[0]).toBeLessThan(b?.[0] ?? 0)
    expect(b?.[0]).toBeLessThan(c?.[0] ?? 0)
    // 5M/s at 1000 tokens is above 500k/s at 1 token, which is above 50k/s at 100k tokens.
    expect(b?.[1]).toBeLessThan(a?.[1] ?? 0)
    expect(a?.[1]).toBeLessThan(c?.[1] ?? 0)
    // In the second panel, 2000/s is above 200/s at the same number of tokens.
    const [slow, fast] = polylines(panelsOf(svg)[1] ?? '')
    expect(fast?.points[0]?.[1]).toBeLessThan(slow?.points[0]?.[1] ?? 0)
    expect(fast?.points[0]?.[0]).toBe(slow?.points[0]?.[0])
  })

  it('labels powers of ten and titles the axes', () => {
    const first = panelsOf(svg)[0] ?? ''
    for (const label of ['>1<', '>10<', '>100<', '>1k<', '>10k<', '>100k<']) {
      expect(first).toContain(label)
    }
    for (const label of ['>1/s<', '>10/s<', '>1k/s<', '>100k/s<', '>1M/s<', '>10M/s<']) {
      expect(first).toContain(label)
    }
    expect(first).toContain('>stored tokens<')
    expect(first).toContain('>operations per second (median)<')
  })

  it('keeps a store’s colour across panels and lists each series once in the legend', () => {
    const colours = [...svg.matchAll(/data-series="FileStore">\n<polyline [^>]*stroke="(#\w+)"/g)]
    expect(colours).toHaveLength(2)
    expect(colours[0]?.[1]).toBe(colours[1]?.[1])
    expect(svg.match(/<g class="legend-entry">/g)).toHaveLength(3)
  })
})

describe('panelsFromResults', () => {
  const row = (store: string, operation: string, tokens: number, callers: number, median: number) =>
    ({ store, operation, tokens, callers, median }) satisfies BenchResult

  it('keeps single-caller results of the operation with tokens > 0, one series per store', () => {
    const results = [
      row('FileStore', 'findToken', 100_000, 1, 160_000),
      row('FileStore', 'findToken', 1000, 1, 400_000),
      row('FileStore', 'findToken', 1000, 32, 999),
      row('FileStore', 'findToken', 0, 1, 999),
      row('FileStore', 'findToken (cold)', 1000, 1, 999),
      row('DBStore', 'findToken', 1000, 32, 999),
      row('official FileStore', 'findToken', 1000, 1, 1000),
      row('SQLiteStore', 'saveToken', 1000, 1, 4000),
    ]
    const panels = panelsFromResults(results, [
      { operation: 'findToken', title: 'find' },
      { operation: 'saveToken (update)', title: 'save' },
    ])
    expect(panels).toEqual([
      {
        title: 'find',
        series: [
          {
            name: 'FileStore',
            official: false,
            colourKey: 'FileStore',
            points: [
              { tokens: 1000, opsPerSecond: 400_000 },
              { tokens: 100_000, opsPerSecond: 160_000 },
            ],
          },
          {
            name: 'official FileStore',
            official: true,
            colourKey: 'FileStore',
            points: [{ tokens: 1000, opsPerSecond: 1000 }],
          },
        ],
      },
      { title: 'save', series: [] },
    ])
  })

  it("gives an official store its counterpart's colour, dashed", () => {
    const svg = renderChart(
      panelsFromResults(
        [
          row('FileStore', 'findToken', 1000, 1, 400_000),
          row('DBStore', 'findToken', 1000, 1, 8000),
          row('official FileStore', 'findToken', 1000, 1, 1000),
          row('official SDK, DBStore', 'findToken', 1000, 1, 900),
        ],
        [{ operation: 'findToken', title: 'find' }],
      ),
    )
    const colour = (name: string) =>
      new RegExp(`data-series="${name}">\n<polyline [^>]*stroke="(#\\w+)"`).exec(svg)?.[1]
    expect(colour('official FileStore')).toBe(colour('FileStore'))
    expect(colour('official SDK, DBStore')).toBe(colour('DBStore'))
    expect(colour('FileStore')).not.toBe(colour('DBStore'))
  })

  it('renders the bench results file', () => {
    const file = JSON.parse(
      readFileSync(new URL('../../bench/results.json', import.meta.url), 'utf8'),
    ) as { results: BenchResult[] }
    const panels = panelsFromResults(file.results, [
      { operation: 'getAccessToken', title: 'getAccessToken on a valid token' },
      { operation: 'findToken', title: 'findToken' },
    ])
    const svg = renderChart(panels)
    expectWellFormed(svg)
    expect(panelsOf(svg).map((p) => polylines(p).length)).toEqual(
      panels.map((p) => p.series.length),
    )
  })
})
