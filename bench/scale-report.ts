// The "Scale" tables of bench/results.md: one table per size, a column per store.
import { cliCell, mb, ms, passCell, us, type ScaleFigures } from './scale.ts'

const count = (n: number) => n.toLocaleString('en-US')

/** The Markdown of the Scale section (empty when nothing was measured). */
export function renderScaleMarkdown(figures: readonly ScaleFigures[]): string[] {
  if (figures.length === 0) return []
  const sizes = [...new Set(figures.map((f) => f.rows))]
  const tables = sizes.flatMap((rows) => {
    const at = figures.filter((f) => f.rows === rows)
    const row = (what: string, cell: (f: ScaleFigures) => string) =>
      `| ${what} | ${at.map(cell).join(' | ')} |`
    return [
      `**${count(rows)} tokens**`,
      '',
      `| | ${at.map((f) => f.store).join(' | ')} |`,
      `|---|${at.map(() => '---:').join('|')}|`,
      row('fill in bulk (not tokenkeeper)', (f) => ms(f.fillMs)),
      row('first open (schema built, see below)', (f) => ms(f.firstOpenMs)),
      row('later open', (f) => ms(f.openMs)),
      row('findToken by user (median)', (f) => us(f.findTokenUs)),
      row('first findToken (the file store builds its index)', (f) =>
        f.firstFindUs === undefined ? '–' : us(f.firstFindUs),
      ),
      row('saveToken, new user (median)', (f) => us(f.saveTokenUs)),
      row('pass: iterateTokens; memory added', (f) => passCell(f.iterate)),
      row('pass: getTokens; memory added', (f) => (f.getTokens ? passCell(f.getTokens) : '–')),
      row('`tokenkeeper list --json > /dev/null`; max RSS', (f) => cliCell(f.list)),
      row('`tokenkeeper purge --expired` (none expired); max RSS', (f) => cliCell(f.purge)),
      row('official SDK findToken (median); max RSS', (f) =>
        f.official ? `${ms(f.official.medianMs)}; ${mb(f.official.maxRss)}` : '–',
      ),
      '',
    ]
  })
  const stores = [...new Map(figures.map((f) => [f.store, f])).values()]
  return [
    '**Scale:** each store filled in bulk as a user of the official SDKs has it (ids 1..N), then',
    'opened by tokenkeeper (`npx tsx bench/scale.ts`; `SCALE_ROWS` sets the sizes). Each open',
    'and pass runs in a process of its own; "memory added" is the peak resident size above the',
    "open store's, then the part that is not file pages, then the JS heap. The CLI's figures are",
    'its whole process (`/usr/bin/time -v`).',
    '',
    ...tables,
    ...growthTable(figures, sizes),
    'What the first open builds:',
    '',
    ...stores.map((f) => `- ${f.store}: ${f.firstOpenNote}. Fill: ${f.fillNote}.`),
    '',
  ]
}

/**
 * Whether each cost grows in proportion to the rows: per store, the time per row at the largest
 * size over that at the smallest (1.00 is linear; a reader that is quadratic shows the size
 * ratio, 10 for 100,000 → 1,000,000). Measured here, not in `npm test`: a loaded machine makes
 * any timed threshold flaky there.
 */
export function growthTable(figures: readonly ScaleFigures[], sizes: readonly number[]): string[] {
  if (sizes.length < 2) return []
  const [small, large] = [Math.min(...sizes), Math.max(...sizes)]
  const perRow = (f: ScaleFigures | undefined, value: (f: ScaleFigures) => number) =>
    f === undefined ? undefined : value(f) / f.rows
  const ratio = (store: string, value: (f: ScaleFigures) => number): string => {
    const at = (rows: number) => figures.find((f) => f.store === store && f.rows === rows)
    const a = perRow(at(small), value)
    const b = perRow(at(large), value)
    if (a === undefined || b === undefined || a <= 0) return '–'
    const r = b / a
    return `${r.toFixed(2)}${r < 2 ? '' : ' (grows faster than the rows)'}`
  }
  const stores = [...new Set(figures.map((f) => f.store))]
  return [
    `**Growth, ${count(small)} → ${count(large)} tokens:** time per row at the larger size over`,
    'the time per row at the smaller (1.00 is linear; under 2 counts as linear here).',
    '',
    '| store | first open | later open | pass: iterateTokens |',
    '|---|---:|---:|---:|',
    ...stores.map(
      (store) =>
        `| ${store} | ${ratio(store, (f) => f.firstOpenMs)} | ${ratio(store, (f) => f.openMs)} | ${ratio(store, (f) => f.iterate.ms)} |`,
    ),
    '',
  ]
}
