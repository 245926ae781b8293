// The portal's pages: the layout every page shares (style, icon, the countdown script) and the
// bodies of the welcome page and the dashboard, with its tables of leads and tokens.
import { EMULATOR_ICON, EMULATOR_PAGE_STYLE } from 'tokenkeeper/testing'
import { html, raw, type SafeHtml } from './html.ts'

// The emulator's look (font, colours, buttons, icon: one source, in tokenkeeper/testing), so that
// signing in does not look like leaving for another site; then what only the portal has.
const STYLE = `${EMULATOR_PAGE_STYLE}
body { max-width: 70rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.table-box { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #dde3ea; vertical-align: top; }
.notice { background: #eef7ee; padding: .5rem .8rem; border-radius: 4px; }
.timestamp, .countdown, code.client-id { white-space: nowrap; overflow-wrap: normal; }
button.danger { background: #c0392b; }
form.inline { display: inline; margin: 0 .2rem 0 0; } td.actions form.inline { display: inline-block; margin: 0 .2rem .2rem 0; }
@media (max-width: 40rem) {
  table.cards thead { display: none; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; }
  table.cards tr { border: 1px solid #dde3ea; border-radius: 4px; margin: 0 0 .8rem; padding: .3rem 0; }
  table.cards td { border: 0; padding: .15rem .6rem; display: flex; gap: .3rem; align-items: baseline; }
  table.cards td::before { content: attr(data-label); flex: 0 0 7rem; font-size: .9em; font-weight: 600; }
}
header { display: flex; flex-wrap: wrap; gap: .5rem; justify-content: space-between; align-items: center; }
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
        <link rel="icon" type="image/svg+xml" href="${EMULATOR_ICON}" />
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

/** A secret's cell: whether there is one, never what it is. */
export function secret(value: string | undefined): string {
  return value ? '[redacted]' : '—'
}

/**
 * A table with its header row. On a phone each row becomes a card (see STYLE), each cell
 * labelled by its `data-label`; the box only scrolls if a card cannot fit.
 */
function cardTable(id: string, headers: readonly string[], rows: readonly SafeHtml[]): SafeHtml {
  return html`<div class="table-box">
    <table id="${id}" class="cards">
      <thead>
        <tr>
          ${headers.map((header) => html`<th>${header}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`
}

/** What a row of a token table shows; secrets only as present or absent. */
export interface TokenRowView {
  readonly id: string
  readonly userName: string | undefined
  readonly clientId: string | undefined
  readonly clientSecret: string | undefined
  readonly refreshToken: string | undefined
  readonly accessToken: string | undefined
  readonly expiryTime: number | undefined
  /** Refreshes counted since the portal started. */
  readonly refreshes: number
}

/**
 * A table of tokens. With `actions`, each row has Refresh and Revoke forms carrying the
 * session's CSRF token (the portal shows them for the signed-in user's own token only);
 * without, the table is read-only.
 */
export function tokenTable(
  tableId: string,
  tokens: readonly TokenRowView[],
  options: { now: number; you: string; actions?: { csrf: string } },
): SafeHtml {
  const { now, you, actions } = options
  const rows = tokens.map((token) => {
    const expiry = token.expiryTime
    return html`<tr data-token-id="${token.id}">
      <td data-label="Id">
        <code>${token.id}</code>${token.id === you ? html` <span class="muted">(you)</span>` : ''}
      </td>
      <td data-label="User">${token.userName ?? '—'}</td>
      <td data-label="Client id"><code class="client-id">${maskClientId(token.clientId)}</code></td>
      <td data-label="Client secret">${secret(token.clientSecret)}</td>
      <td data-label="Refresh token">${secret(token.refreshToken)}</td>
      <td data-label="Access token">${secret(token.accessToken)}</td>
      <td data-label="Expires in">
        ${expiry === undefined ? '—' : html`<span class="stack"><span class="countdown" data-expiry="${expiry}">${formatRemaining(expiry - now)}</span><br /><span class="muted timestamp">${new Date(expiry).toISOString()}</span></span>`}
      </td>
      <td class="refreshes" data-label="Refreshes">${token.refreshes}</td>
      ${
        actions
          ? html`<td class="actions">
              <form
                class="inline"
                method="post"
                action="/tokens/${encodeURIComponent(token.id)}/refresh"
              >
                <input type="hidden" name="csrf" value="${actions.csrf}" /><button type="submit">
                  Refresh
                </button>
              </form>
              <form
                class="inline"
                method="post"
                action="/tokens/${encodeURIComponent(token.id)}/revoke"
              >
                <input type="hidden" name="csrf" value="${actions.csrf}" /><button
                  type="submit"
                  class="danger"
                >
                  Revoke
                </button>
              </form>
            </td>`
          : ''
      }
    </tr>`
  })
  const headers = [
    'Id',
    'User',
    'Client id',
    'Client secret',
    'Refresh token',
    'Access token',
    'Expires in',
    'Refreshes',
  ]
  // The actions column has no heading.
  return cardTable(tableId, actions ? [...headers, ''] : headers, rows)
}

/** The page of a visitor who is not signed in. */
export function welcomeBody(options: {
  notice: string | undefined
  gone: boolean
  accountsUrl: string
}): SafeHtml {
  const { notice, gone, accountsUrl } = options
  return html` <h1>tokenkeeper portal</h1>
    ${notice ? html`<p class="notice">${notice}</p>` : ''}
    ${gone ? html`<p class="notice">Your token is no longer stored; sign in again.</p>` : ''}
    <p>
      Sign in with your Zoho account: the portal keeps your OAuth tokens in SQLite with tokenkeeper,
      refreshes them before they expire, and lets you revoke them.
    </p>
    <p><a class="button" href="/login">Login with Zoho</a></p>
    <p class="muted">Accounts server: <code>${accountsUrl}</code></p>`
}

/** The sample API's leads as a table; only plain text and numbers are shown. */
export function leadsTable(leads: readonly Record<string, unknown>[]): SafeHtml {
  const text = (value: unknown): string =>
    typeof value === 'string' || typeof value === 'number' ? String(value) : ''
  const rows = leads.map(
    (lead) =>
      html`<tr>
        <td data-label="Last name">${text(lead.Last_Name)}</td>
        <td data-label="Company">${text(lead.Company)}</td>
        <td data-label="E-mail">${text(lead.Email)}</td>
      </tr>`,
  )
  return cardTable('leads', ['Last name', 'Company', 'E-mail'], rows)
}

/** The signed-in user's page: their leads, their own token and, for admins, every token. */
export function dashboardBody(options: {
  notice: string | undefined
  csrf: string
  userName: string | undefined
  tokenId: string
  environmentName: string
  leads: SafeHtml
  /** The user's own token, with its actions. */
  own: SafeHtml
  /** Every stored token, read-only; only for admins. */
  everyone: SafeHtml | undefined
}): SafeHtml {
  const { notice, csrf, userName, tokenId, environmentName, leads, own, everyone } = options
  return html` <header>
      <h1>tokenkeeper portal</h1>
      <form class="inline" method="post" action="/logout">
        <input type="hidden" name="csrf" value="${csrf}" /><button type="submit" class="plain">
          Sign out
        </button>
      </form>
    </header>
    ${notice ? html`<p class="notice">${notice}</p>` : ''}
    <p>
      Signed in as <strong id="user">${userName ?? '(unknown user)'}</strong>
      <span class="muted">(token <code>${tokenId}</code>, ${environmentName})</span>
    </p>
    <h2>Leads</h2>
    <p class="muted">GET /crm/v8/Leads through <code>session.fetch</code></p>
    ${leads}
    <h2>Your token</h2>
    ${own}
    ${
      everyone
        ? html`<h2>All stored tokens <span class="muted">(read-only)</span></h2>
            ${everyone}`
        : ''
    }`
}
