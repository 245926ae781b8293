// The demo portal in a real browser (Debian's Chromium driven by playwright-core): sign in by
// clicking through the consent page, see the dashboard, Refresh, Revoke, and keep a screenshot;
// then a second browser tries another user's used code, and a cookie kept past sign-out.
import { existsSync } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPortal, type Portal } from '../../../examples/portal/app.ts'
import { scratchDir } from '../../helpers/common.ts'

const CHROMIUM = '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) {
  if (process.env.REQUIRE_BROWSER === '1') {
    throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} does not exist: install chromium`)
  }
  console.warn(`portal-browser: skipped, ${CHROMIUM} does not exist (apt-get install chromium)`)
}

const title = 'the demo portal in Chromium'
describe.runIf(available)(
  available ? title : `${title} (skipped: ${CHROMIUM} does not exist; apt-get install chromium)`,
  () => {
    const cwd = scratchDir('tokenkeeper-portal-browser-')
    let portal: Portal
    let browser: Browser

    beforeAll(async () => {
      // The portal as `npm start` runs it: its own emulator, a scratch working directory.
      portal = await startPortal({ port: 0, cwd, env: {} })
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      })
    })
    afterAll(async () => {
      await browser?.close()
      await portal?.stop()
    })

    it('signs in by clicking, shows the dashboard, refreshes and revokes', async () => {
      const context = await browser.newContext()
      const page = await context.newPage()
      const errors: string[] = []
      page.on('pageerror', (err) => errors.push(err.message))
      page.on('console', (message) => {
        // The portal's and the emulator's pages (both have a favicon and their own styles).
        const where = message.location().url
        const ours = [portal.url, portal.environment.accountsUrl].some((u) => where.startsWith(u))
        if (message.type() === 'error' && ours) {
          errors.push(`${message.text()} at ${where}`)
        }
      })

      await page.goto(`${portal.url}/`)
      await page.getByRole('link', { name: 'Login with Zoho' }).click()
      // The emulator's consent page.
      await page.waitForURL(`${portal.environment.accountsUrl}/oauth/v2/auth?**`)
      await page.selectOption('select[name="user"]', 'grace@zylker.example')
      await page.getByRole('button', { name: 'Accept' }).click()

      await page.waitForURL(`${portal.url}/`)
      await expect.poll(() => page.textContent('#user')).toBe('grace@zylker.example')
      expect(await page.locator('#leads tbody tr').count()).toBe(3)
      const row = page.locator('#tokens tbody tr').first()
      const id = await row.getAttribute('data-token-id')
      expect(id).toMatch(/^[1-9][0-9]{0,9}$/)
      expect(await row.textContent()).toContain('[redacted]')
      // The countdown runs in the page.
      const countdown = row.locator('.countdown')
      const first = await countdown.textContent()
      expect(first).toMatch(/^(\d+h )?\d\dm \d\ds$/)
      await expect.poll(() => countdown.textContent(), { timeout: 5000 }).not.toBe(first)
      const expiryBefore = await countdown.getAttribute('data-expiry')
      expect(await row.locator('.refreshes').textContent()).toBe('0')

      await row.getByRole('button', { name: 'Refresh' }).click()
      await page.waitForURL(`${portal.url}/?notice=refreshed`)
      const refreshed = page.locator(`#tokens tr[data-token-id="${id}"]`)
      expect(await refreshed.locator('.refreshes').textContent()).toBe('1')
      expect(await refreshed.locator('.countdown').getAttribute('data-expiry')).not.toBe(
        expiryBefore,
      )
      expect(await page.textContent('.notice')).toBe('Token refreshed.')

      const screenshot = join(cwd, 'portal-dashboard.png')
      await page.screenshot({ path: screenshot, fullPage: true })
      await copyFile(screenshot, '/tmp/portal-screenshot.png')
      console.log(`portal-browser: screenshot at ${screenshot} and /tmp/portal-screenshot.png`)

      await refreshed.getByRole('button', { name: 'Revoke' }).click()
      await page.waitForURL(`${portal.url}/?notice=revoked`)
      expect(await page.textContent('.notice')).toBe('Token revoked.')
      expect(await page.getByRole('link', { name: 'Login with Zoho' }).count()).toBe(1)
      expect(await page.locator('#tokens').count()).toBe(0)
      await page.screenshot({ path: join(cwd, 'portal-revoked.png'), fullPage: true })

      expect(errors).toEqual([])
      await context.close()
    })

    it('signs in a user of the EU data center by clicking: exchanged, refreshed and revoked there', async () => {
      const eu = portal.accounts!.dataCenter('eu')
      const main = portal.accounts!
      const before = { euExchange: eu.counts.exchange, mainExchange: main.counts.exchange }
      const context = await browser.newContext()
      const page = await context.newPage()
      await page.goto(`${portal.url}/`)
      await page.getByRole('link', { name: 'Login with Zoho' }).click()
      await page.waitForURL(`${portal.environment.accountsUrl}/oauth/v2/auth?**`)
      // `npm start` offers her on the consent page, labelled with her data center.
      expect(await page.textContent('select[name="user"]')).toContain(
        'Lise Meitner <lise@zylker.example> (EU)',
      )
      await page.selectOption('select[name="user"]', 'lise@zylker.example')
      await page.getByRole('button', { name: 'Accept' }).click()

      await page.waitForURL(`${portal.url}/`)
      await expect.poll(() => page.textContent('#user')).toBe('lise@zylker.example')
      expect(eu.counts.exchange).toBe(before.euExchange + 1)
      expect(main.counts.exchange).toBe(before.mainExchange)
      expect(await page.textContent('body')).toContain('emulator-eu')
      expect(await page.locator('#leads tbody tr').count()).toBe(3)

      const euRefreshes = eu.counts.refresh
      const row = page.locator('#tokens tbody tr').first()
      await row.getByRole('button', { name: 'Refresh' }).click()
      await page.waitForURL(`${portal.url}/?notice=refreshed`)
      expect(eu.counts.refresh).toBe(euRefreshes + 1)
      await page.screenshot({ path: join(cwd, 'portal-eu.png'), fullPage: true })
      await page.locator('#tokens tbody tr').first().getByRole('button', { name: 'Revoke' }).click()
      await page.waitForURL(`${portal.url}/?notice=revoked`)
      expect(eu.counts.revoke).toBe(1)
      await context.close()
    })

    it('fits from 390 px to 1280 px wide without sideways scrolling, and keeps values on one line', async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
      const page = await context.newPage()
      await page.goto(`${portal.url}/login`)
      await page.waitForURL(`${portal.environment.accountsUrl}/oauth/v2/auth?**`)
      // The consent page fits a phone too, in the portal's font.
      const consentShot = join(cwd, 'consent-390.png')
      await page.screenshot({ path: consentShot, fullPage: true })
      await copyFile(consentShot, '/tmp/portal-consent-390.png')
      const consentSizes = await page.evaluate<[number, number, string]>(
        '[document.documentElement.scrollWidth, document.documentElement.clientWidth, getComputedStyle(document.body).fontFamily]',
      )
      expect(consentSizes[0]).toBeLessThanOrEqual(consentSizes[1])
      expect(consentSizes[2]).toBe('system-ui, sans-serif')
      await page.selectOption('select[name="user"]', 'ada@zylker.example')
      await page.getByRole('button', { name: 'Accept' }).click()
      await page.waitForURL(`${portal.url}/`)
      await expect.poll(() => page.textContent('#user')).toBe('ada@zylker.example')
      expect(await page.locator('#tokens tbody tr').count()).toBeGreaterThan(0)

      for (const width of [390, 1280]) {
        await page.setViewportSize({ width, height: 844 })
        // Taken first, to see what is wrong when an assertion below fails.
        const screenshot = join(cwd, `portal-${width}.png`)
        await page.screenshot({ path: screenshot, fullPage: true })
        await copyFile(screenshot, `/tmp/portal-${width}.png`)
        // The test compiles without the DOM library, so what runs in the page is a string.
        const measure = async (expression: string): Promise<[number, number]> => {
          const [scroll, client] = await page.evaluate<[number, number]>(expression)
          return [scroll, client]
        }
        const [scroll, client] = await measure(
          '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
        )
        expect(client, `viewport ${width}`).toBe(width)
        expect(scroll, `page scrolls sideways at ${width} px`).toBeLessThanOrEqual(client)
        // The tables fit too (cards on a phone), Revoke included: their boxes do not scroll.
        for (const table of ['leads', 'tokens']) {
          const box = `document.getElementById('${table}').parentElement`
          const [boxScroll, boxClient] = await measure(`[${box}.scrollWidth, ${box}.clientWidth]`)
          expect(boxScroll, `#${table} scrolls at ${width} px`).toBeLessThanOrEqual(boxClient)
        }
        // A value broken over two lines has one box per line.
        for (const name of ['timestamp', 'client-id', 'countdown']) {
          const [lines] = await measure(
            `[document.querySelector('#tokens tbody tr .${name}').getClientRects().length]`,
          )
          expect(lines, `.${name} at ${width} px`).toBe(1)
        }
      }
      await context.close()
    })

    it("another browser with its own state and Ada's used code is not signed in; signing out ends the session", async () => {
      // Ada signs in; her browser's callback URL (with the code) is what a thief could find.
      const adaContext = await browser.newContext()
      const ada = await adaContext.newPage()
      const callbacks: string[] = []
      ada.on('request', (request) => {
        if (request.url().startsWith(`${portal.url}/oauth/callback`)) callbacks.push(request.url())
      })
      await ada.goto(`${portal.url}/login`)
      await ada.waitForURL(`${portal.environment.accountsUrl}/oauth/v2/auth?**`)
      await ada.selectOption('select[name="user"]', 'ada@zylker.example')
      await ada.getByRole('button', { name: 'Accept' }).click()
      await ada.waitForURL(`${portal.url}/`)
      await expect.poll(() => ada.textContent('#user')).toBe('ada@zylker.example')
      expect(callbacks).toHaveLength(1)
      const code = new URL(callbacks[0]!).searchParams.get('code')!

      // A fresh browser starts its own sign-in (a valid state of its own), then brings Ada's code.
      const thiefContext = await browser.newContext()
      const thief = await thiefContext.newPage()
      await thief.goto(`${portal.url}/login`)
      await thief.waitForURL(`${portal.environment.accountsUrl}/oauth/v2/auth?**`)
      const state = new URL(thief.url()).searchParams.get('state')!
      const forged = new URL(`${portal.url}/oauth/callback`)
      forged.search = new URLSearchParams({ code, state }).toString()
      const answer = await thief.goto(forged.href)
      expect(answer?.status()).toBe(400)
      expect(await thief.textContent('h1')).toBe('Sign-in failed')
      expect((await thiefContext.cookies()).map((c) => c.name)).not.toContain('tk_session')
      await thief.goto(`${portal.url}/`)
      expect(await thief.getByRole('link', { name: 'Login with Zoho' }).count()).toBe(1)
      expect(await thief.locator('#user').count()).toBe(0)

      // Ada signs out; her cookie, copied before, no longer opens anything.
      const copied = (await adaContext.cookies()).find((c) => c.name === 'tk_session')!
      expect(copied.httpOnly).toBe(true)
      expect(copied.sameSite).toBe('Lax')
      await ada.getByRole('button', { name: 'Sign out' }).click()
      await ada.waitForURL(`${portal.url}/?notice=out`)
      expect(await ada.getByRole('link', { name: 'Login with Zoho' }).count()).toBe(1)
      await thiefContext.addCookies([copied])
      await thief.goto(`${portal.url}/`)
      expect(await thief.getByRole('link', { name: 'Login with Zoho' }).count()).toBe(1)
      expect(await thief.locator('#user').count()).toBe(0)

      await thiefContext.close()
      await adaContext.close()
    })
  },
)
