// Renders benchmark results as one standalone SVG document: a row of log-log line charts,
// one per operation, with stored tokens along x and median operations per second along y.
// No dependencies; the same input always gives the same string.

export interface ChartPoint {
  readonly tokens: number
  readonly opsPerSecond: number
}

export interface ChartSeries {
  readonly name: string
  readonly points: readonly ChartPoint[]
  /** Drawn dashed with hollow markers: a measurement of the official SDK. */
  readonly official?: boolean
  /** Series with the same key share a colour (an official store and ours); default the name. */
  readonly colourKey?: string
}

export interface ChartPanel {
  readonly title: string
  readonly series: readonly ChartSeries[]
}

/** One row of bench/results.json (only the fields the chart needs). */
export interface BenchResult {
  readonly store: string
  readonly operation: string
  readonly tokens: number
  readonly callers: number
  readonly median: number
}

// Okabe–Ito colour-blind-friendly palette; its yellow is darkened to stay readable on white.
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#000000',
  '#A08800',
]

// Layout, in SVG user units (pixels).
const PLOT_W = 300 // plotting area of one panel
const PLOT_H = 260
const INSET = 10 // gap between the plotting area's frame and the outermost power of ten
const MARGIN = { left: 64, right: 18, top: 34, bottom: 50 } // around each plotting area
const PANEL_W = MARGIN.left + PLOT_W + MARGIN.right
const PANEL_H = MARGIN.top + PLOT_H + MARGIN.bottom
const PAD = 16 // around the whole chart
const LEGEND_ROW = 22
const LEGEND_GAP = 8 // between the panels' axis titles and the legend
const CHAR_W = 7 // rough width of a 12px sans-serif character, to wrap the legend

/** Escapes text for use in XML content and in double- or single-quoted attributes. */
function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

/** Rounds a coordinate to one decimal so the output stays short and stable. */
function num(value: number): string {
  return String(Math.round(value * 10) / 10)
}

/** Labels 10^exponent compactly: 0.1, 1, 10, 100, 1k, 10k, 100k, 1M, ... */
function powerLabel(exponent: number): string {
  if (exponent < 0) return (10 ** exponent).toFixed(-exponent)
  const units = ['', 'k', 'M', 'G', 'T']
  const unit = Math.min(Math.floor(exponent / 3), units.length - 1)
  return `${10 ** (exponent - unit * 3)}${units[unit] ?? ''}`
}

/** The exponents [low, high] of the powers of ten that enclose all values (at least one decade). */
function decades(values: readonly number[]): [number, number] {
  if (values.length === 0) return [0, 1]
  // The small nudges keep exact powers of ten (log10 may be off by one ulp) on their own decade.
  const low = Math.floor(Math.log10(Math.min(...values)) + 1e-9)
  const high = Math.ceil(Math.log10(Math.max(...values)) - 1e-9)
  return [low, Math.max(high, low + 1)]
}

/** Maps a positive value onto [from, to] (pixels) on a log scale spanning the given decades. */
function logScale([low, high]: [number, number], from: number, to: number) {
  return (value: number) => from + ((Math.log10(value) - low) / (high - low)) * (to - from)
}

/** The points that can be drawn on log axes (finite and positive), sorted by tokens. */
function drawable(points: readonly ChartPoint[]): ChartPoint[] {
  return points
    .filter((p) => p.tokens > 0 && p.opsPerSecond > 0 && isFinite(p.tokens + p.opsPerSecond))
    .sort((a, b) => a.tokens - b.tokens || a.opsPerSecond - b.opsPerSecond)
}

/** Draws one panel at the origin; the caller places it with a transform. */
function renderPanel(panel: ChartPanel, colourOf: (name: string) => string): string[] {
  const series = panel.series.map((s) => ({ ...s, points: drawable(s.points) }))
  const all = series.flatMap((s) => s.points)
  const xDecades = decades(all.map((p) => p.tokens))
  const yDecades = decades(all.map((p) => p.opsPerSecond))
  const [left, top] = [MARGIN.left, MARGIN.top]
  const [right, bottom] = [left + PLOT_W, top + PLOT_H]
  const x = logScale(xDecades, left + INSET, right - INSET)
  const y = logScale(yDecades, bottom - INSET, top + INSET) // larger values higher up
  const out: string[] = []

  out.push(
    `<text x="${num(left + PLOT_W / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#888"/>`,
  )
  // Gridlines and labels at every power of ten.
  for (let e = xDecades[0]; e <= xDecades[1]; e++) {
    const px = num(x(10 ** e))
    out.push(
      `<line x1="${px}" y1="${top}" x2="${px}" y2="${bottom}" stroke="#e4e4e4"/>`,
      `<text x="${px}" y="${bottom + 16}" text-anchor="middle" font-size="11" fill="#444">${powerLabel(e)}</text>`,
    )
  }
  for (let e = yDecades[0]; e <= yDecades[1]; e++) {
    const py = y(10 ** e)
    out.push(
      `<line x1="${left}" y1="${num(py)}" x2="${right}" y2="${num(py)}" stroke="#e4e4e4"/>`,
      `<text x="${left - 6}" y="${num(py + 4)}" text-anchor="end" font-size="11" fill="#444">${powerLabel(e)}/s</text>`,
    )
  }
  out.push(
    `<text x="${num(left + PLOT_W / 2)}" y="${bottom + 38}" text-anchor="middle" font-size="12">stored tokens</text>`,
    `<text transform="translate(14 ${num(top + PLOT_H / 2)}) rotate(-90)" text-anchor="middle" font-size="12">operations per second (median)</text>`,
  )
  // Each series: a line through its points, then a marker on each point (with a tooltip).
  for (const s of series) {
    const colour = colourOf(s.name)
    const dash = s.official ? ' stroke-dasharray="6 4"' : ''
    const coords = s.points.map((p) => `${num(x(p.tokens))},${num(y(p.opsPerSecond))}`)
    out.push(
      `<g class="series" data-series="${escapeXml(s.name)}">`,
      `<polyline points="${coords.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`,
    )
    for (const p of s.points) {
      const tip = `${s.name}: ${p.tokens} tokens, ${Math.round(p.opsPerSecond)} ops/s`
      out.push(
        `<circle cx="${num(x(p.tokens))}" cy="${num(y(p.opsPerSecond))}" r="3.5" fill="${s.official ? 'white' : colour}" stroke="${colour}" stroke-width="1.5"><title>${escapeXml(tip)}</title></circle>`,
      )
    }
    out.push('</g>')
  }
  return out
}

/** Renders panels side by side (one row), each a log-log line chart, into one standalone SVG document string. */
export function renderChart(
  panels: readonly ChartPanel[],
  options: { title?: string; subtitle?: string } = {},
): string {
  // One legend entry and one colour per distinct series name, in order of first appearance,
  // so a store keeps its colour in every panel.
  const legend = new Map<string, { colour: string; official: boolean }>()
  const colours = new Map<string, string>()
  for (const s of panels.flatMap((p) => p.series)) {
    if (legend.has(s.name)) continue
    const key = s.colourKey ?? s.name
    const colour = colours.get(key) ?? PALETTE[colours.size % PALETTE.length] ?? '#000'
    colours.set(key, colour)
    legend.set(s.name, { colour, official: !!s.official })
  }
  const colourOf = (name: string) => legend.get(name)?.colour ?? '#000'

  const width = 2 * PAD + Math.max(1, panels.length) * PANEL_W
  const header = (options.title ? 26 : 0) + (options.subtitle ? 20 : 0)

  // Lay the legend out in rows that fit the width, each row centred.
  const rows: { name: string; width: number }[][] = [[]]
  let rowWidth = 0
  for (const name of legend.keys()) {
    const entryWidth = 34 + name.length * CHAR_W + 20
    const row = rows[rows.length - 1] ?? []
    if (row.length > 0 && rowWidth + entryWidth > width - 2 * PAD) {
      rows.push([{ name, width: entryWidth }])
      rowWidth = entryWidth
    } else {
      row.push({ name, width: entryWidth })
      rowWidth += entryWidth
    }
  }
  const legendTop = PAD + header + PANEL_H + LEGEND_GAP
  const height = legendTop + (legend.size > 0 ? rows.length * LEGEND_ROW : 0) + PAD

  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ]
  if (options.title) {
    out.push(
      `<text x="${PAD}" y="${PAD + 18}" font-size="18" font-weight="bold">${escapeXml(options.title)}</text>`,
    )
  }
  if (options.subtitle) {
    const baseline = PAD + header - 6
    out.push(
      `<text x="${PAD}" y="${baseline}" font-size="12" fill="#555">${escapeXml(options.subtitle)}</text>`,
    )
  }
  panels.forEach((panel, i) => {
    out.push(`<g class="panel" transform="translate(${PAD + i * PANEL_W} ${PAD + header})">`)
    out.push(...renderPanel(panel, colourOf), '</g>')
  })
  rows.forEach((row, i) => {
    let left = (width - row.reduce((sum, entry) => sum + entry.width, 0)) / 2
    const mid = legendTop + i * LEGEND_ROW + LEGEND_ROW / 2
    for (const { name, width: entryWidth } of row) {
      const { colour, official } = legend.get(name) ?? { colour: '#000', official: false }
      const dash = official ? ' stroke-dasharray="6 4"' : ''
      out.push(
        `<g class="legend-entry">`,
        `<line x1="${num(left)}" y1="${mid}" x2="${num(left + 28)}" y2="${mid}" stroke="${colour}" stroke-width="2"${dash}/>`,
        `<circle cx="${num(left + 14)}" cy="${mid}" r="3.5" fill="${official ? 'white' : colour}" stroke="${colour}" stroke-width="1.5"/>`,
        `<text x="${num(left + 34)}" y="${mid + 4}" font-size="12">${escapeXml(name)}</text>`,
        '</g>',
      )
      left += entryWidth
    }
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Builds the panels from bench results: one panel per operation in `operations`, one series per store, single-caller results only, tokens > 0 only, series with < 1 point dropped. */
export function panelsFromResults(
  results: readonly BenchResult[],
  operations: readonly { operation: string; title: string }[],
): ChartPanel[] {
  return operations.map(({ operation, title }) => {
    // Stores in order of first appearance; a store appears only once it has a point.
    const byStore = new Map<string, ChartPoint[]>()
    for (const r of results) {
      if (r.operation !== operation || r.callers !== 1 || !(r.tokens > 0)) continue
      const points = byStore.get(r.store) ?? []
      points.push({ tokens: r.tokens, opsPerSecond: r.median })
      byStore.set(r.store, points)
    }
    const series = [...byStore].map(([name, points]) => ({
      name,
      points: drawable(points),
      official: name.startsWith('official'),
      // 'official FileStore' and 'official SDK, FileStore' take FileStore's colour.
      colourKey: name.replace(/^official (SDK, )?/, ''),
    }))
    return { title, series: series.filter((s) => s.points.length > 0) }
  })
}
