// HTML from a tagged template that escapes every interpolated value, so that nothing a user, a
// token store or an API answer contains can turn into markup.

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

/** Text made safe to put in HTML, in element content and in quoted attributes. */
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
