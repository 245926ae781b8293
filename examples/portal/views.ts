// The portal's pages: plain HTML from a tagged template that escapes every interpolated value,
// so nothing a user, a token store or an API answer contains can turn into markup.

/** Markup that is already safe: produced by {@link html} (or {@link raw} for constants). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ENTITIES[ch]!)
}

type Value = SafeHtml | string | number | boolean | null | undefined | readonly Value[]

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return ''
  if (value instanceof SafeHtml) return value.value
  if (Array.isArray(value)) return (value as readonly Value[]).map(render).join('')
  return escapeHtml(String(value))
}

/** `html\`<p>${text}</p>\``: every value is escaped unless it is itself {@link SafeHtml}. */
export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '')
  })
  return new SafeHtml(out)
}

/** Trusted constant markup (never user data). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2733; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #dde3ea; vertical-align: top; }
code { font-size: .9em; } .muted { color: #667; } .notice { background: #eef7ee; padding: .5rem .8rem; border-radius: 4px; }
.error { background: #fdecec; padding: .5rem .8rem; border-radius: 4px; }
.button, button { display: inline-block; background: #0b62d6; color: #fff; border: 0; border-radius: 4px; padding: .45rem .9rem; font: inherit; text-decoration: none; cursor: pointer; }
button.danger { background: #c0392b; } button.plain { background: #667; }
form.inline { display: inline; margin: 0 .2rem 0 0; }
header { display: flex; justify-content: space-between; align-items: center; }
`

// Updates every countdown each second from its absolute expiry (epoch ms in data-expiry).
const COUNTDOWN = `
const format = (ms) => {
  if (ms <= 0) return 'expired'
  const s = Math.floor(ms / 1000)
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60
  return (h > 0 ? h + 'h ' : '') + String(m).padStart(2, '0') + 'm ' + String(r).padStart(2, '0') + 's'
}
const tick = () => {
  for (const el of document.querySelectorAll('[data-expiry]')) {
    el.textContent = format(Number(el.getAttribute('data-expiry')) - Date.now())
  }
}
tick()
setInterval(tick, 1000)
`

/** A whole page; `nonce` allows the page's own style and script under the CSP. */
export function page(
  title: string,
  nonce: string,
  body: SafeHtml,
  options: { script?: boolean } = {},
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <style nonce="${nonce}">
          ${raw(STYLE)}
        </style>
      </head>
      <body>
        ${body}
        ${
          options.script
            ? html`<script nonce="${nonce}">
                ${raw(COUNTDOWN)}
              </script>`
            : ''
        }
      </body>
    </html> `.value
}

/** The countdown's text on the server, the same as the script's. */
export function formatRemaining(ms: number): string {
  if (ms <= 0) return 'expired'
  const s = Math.floor(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  return `${h > 0 ? `${h}h ` : ''}${String(m).padStart(2, '0')}m ${String(r).padStart(2, '0')}s`
}

/** The client id with its middle hidden: enough to tell clients apart, not to copy one. */
export function maskClientId(clientId: string | undefined): string {
  if (!clientId) return '—'
  if (clientId.length <= 12) return `${clientId.slice(0, 2)}…`
  return `${clientId.slice(0, 9)}…${clientId.slice(-4)}`
}

export function secret(value: string | undefined): string {
  return value ? '[redacted]' : '—'
}
