// How the portal answers with a page: the security headers every page carries, the error page,
// and what an error may say on a page.
import { randomBytes } from 'node:crypto'
import type { Context } from 'hono'
import { SDKException } from 'tokenkeeper'
import { html, type SafeHtml } from './html.ts'
import { page } from './views.ts'

/** The statuses the portal's pages answer with. */
export type PageStatus = 200 | 400 | 403 | 404 | 502

/**
 * Sends a whole page. A fresh nonce allows its own style and script and nothing else; it is
 * never cached, sends no Referer and cannot be framed.
 */
export function sendPage(
  c: Context,
  status: PageStatus,
  title: string,
  body: (nonce: string) => SafeHtml,
  script = false,
): Response {
  const nonce = randomBytes(16).toString('base64url')
  c.header(
    'content-security-policy',
    `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  )
  c.header('cache-control', 'no-store')
  c.header('referrer-policy', 'no-referrer')
  c.header('x-content-type-options', 'nosniff')
  return c.html(page(title, nonce, body(nonce), { script }), status)
}

/** A page that says what went wrong, with the way back. */
export function problem(
  c: Context,
  status: Exclude<PageStatus, 200>,
  title: string,
  detail: string,
): Response {
  return sendPage(
    c,
    status,
    title,
    () =>
      html`<h1>${title}</h1>
        <p class="error">${detail}</p>
        <p><a href="/">Back to the portal</a></p>`,
  )
}

/** What a page may say about an error: tokenkeeper's code and message (never a secret), else nothing. */
export function describeError(err: unknown): string {
  return err instanceof SDKException
    ? `${err.code}: ${err.message}`
    : 'an unexpected error (see the server log)'
}
