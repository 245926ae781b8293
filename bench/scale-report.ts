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
    'What the first open builds:',
    '',
    ...stores.map((f) => `- ${f.store}: ${f.firstOpenNote}. Fill: ${f.fillNote}.`),
    '',
  ]
}
