// A harness that records every text tokenkeeper lets out (log lines, errors with their whole
// cause chain, what util.inspect, JSON.stringify and String show of tokens and sessions, the
// output of child processes) and every secret that existed, then looks for the one in the other.
import { inspect } from 'node:util'
import type { Logger } from '../../src/index.ts'
import type { AccountsEmulator } from '../../src/testing/index.ts'

/** One captured text and where it came from. */
export interface Captured {
  readonly source: string
  readonly text: string
}

/** A secret found in a captured text. */
export interface Leak {
  readonly source: string
  readonly secret: string
  /** Some text around the secret, with the secret itself replaced by `<SECRET>`. */
  readonly context: string
}

/** Shorter values are not checked: they could match by chance (and no real secret is so short). */
const MIN_SECRET_LENGTH = 8
/** Parts of a secret this long (split on '.') are checked too, to catch a truncated leak. */
const MIN_FRAGMENT_LENGTH = 16
/**
 * The first and the last this many characters of every form of a secret are checked too: a
 * driver that quotes the first bytes of a value, or a pattern that lets all but the first
 * character through, leaves one of them. (Shorter pieces could match by chance among hundreds
 * of captured texts; tests of one error check every 4 characters with {@link fragmentsOf}.)
 */
const MIN_EDGE_LENGTH = 12

/**
 * The ways a secret is written where it can leak: as it is, percent-encoded (URLs, forms),
 * escaped inside a JSON string, and as MySQL quotes the bytes of a value it refuses (`\xCE\xA9-SEC`:
 * printable ASCII as it is, every other byte as `\xHH`).
 */
export function formsOf(secret: string): string[] {
  const mysql = [...Buffer.from(secret, 'utf8')]
    .map((byte) =>
      byte >= 0x20 && byte < 0x7f
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('')
  return [
    ...new Set([secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1), mysql]),
  ]
}

/** Every piece of `length` characters of every form of a secret. */
export function fragmentsOf(secret: string, length = 4): string[] {
  const pieces = new Set<string>()
  for (const form of formsOf(secret)) {
    for (let at = 0; at + length <= form.length; at += 1) pieces.add(form.slice(at, at + length))
  }
  return [...pieces]
}

/** The pieces of `secret` (see {@link fragmentsOf}) found in any of the texts, with where. */
export function fragmentsIn(
  texts: readonly string[],
  secret: string,
  length = 4,
): { fragment: string; text: string }[] {
  const found: { fragment: string; text: string }[] = []
  for (const fragment of fragmentsOf(secret, length)) {
    const text = texts.find((t) => t.includes(fragment))
    if (text !== undefined) found.push({ fragment, text: text.slice(0, 300) })
  }
  return found
}

/** Every text the harness can get out of a thrown value: its cause chain and aggregated errors. */
export function errorTexts(err: unknown): string[] {
  const texts: string[] = []
  const seen = new Set<unknown>()
  const walk = (value: unknown, depth: number): void => {
    if (value === undefined || value === null || seen.has(value) || depth > 20) return
    seen.add(value)
    if (value instanceof Error) texts.push(value.toString())
    texts.push(inspect(value, { depth: 10, showHidden: false }))
    texts.push(inspect(value, { depth: 10, showHidden: true }))
    try {
      texts.push(JSON.stringify(value) ?? '')
    } catch {
      // A cyclic value: inspect already showed it.
    }
    if (value instanceof Error) {
      texts.push(value.message)
      texts.push(value.stack ?? '')
      for (const [key, field] of Object.entries(value)) {
        if (typeof field === 'string') texts.push(`${key}=${field}`)
      }
      walk(value.cause, depth + 1)
      if (value instanceof AggregateError) {
        for (const inner of value.errors as unknown[]) walk(inner, depth + 1)
      }
    } else if (typeof value === 'object') {
      const cause = (value as { cause?: unknown }).cause
      walk(cause, depth + 1)
    }
  }
  walk(err, 0)
  return texts
}

/** What util.inspect, JSON.stringify and String show of a value. */
export function objectTexts(value: unknown): string[] {
  const texts = [
    inspect(value, { depth: 10 }),
    inspect(value, { depth: 10, showHidden: true }),
    String(value),
  ]
  try {
    texts.push(JSON.stringify(value) ?? '')
  } catch (err) {
    texts.push(...errorTexts(err))
  }
  return texts
}

/** Sets up the capture and the secret list of one run. */
export class LeakCapture {
  readonly outputs: Captured[] = []
  readonly #secrets = new Set<string>()

  /** Records a text. */
  text(source: string, text: string): void {
    this.outputs.push({ source, text })
  }

  /** Records everything an error shows. */
  error(source: string, err: unknown): void {
    for (const text of errorTexts(err)) this.text(source, text)
  }

  /** Records what a token, session or other value shows. */
  object(source: string, value: unknown): void {
    for (const text of objectTexts(value)) this.text(source, text)
  }

  /** Adds secret values (undefined and short values are ignored). */
  secret(...values: (string | undefined | null)[]): void {
    for (const value of values) {
      if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) this.#secrets.add(value)
    }
  }

  /** The secrets of a token (its client secret, grant, refresh and access tokens). */
  tokenSecrets(token: {
    clientSecret?: string | undefined
    grantToken?: string | undefined
    refreshToken?: string | undefined
    accessToken?: string | undefined
  }): void {
    this.secret(token.clientSecret, token.grantToken, token.refreshToken, token.accessToken)
  }

  /** The distinct secrets known so far. */
  get secrets(): readonly string[] {
    return [...this.#secrets]
  }

  /** A logger that records every line it is given, with its level. */
  logger(source: string): Logger {
    const line =
      (level: string) =>
      (message: string): void =>
        this.text(source, `${level} ${message}`)
    return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }
  }

  /**
   * A fetch that goes to the network and notes every secret on the wire: the form fields of
   * requests (client secrets, codes, refresh tokens, revoked tokens), the access token of an
   * Authorization header, and the tokens in the JSON answers of the token endpoint.
   */
  wireFetch(): typeof globalThis.fetch {
    return async (input, init) => {
      const body = init?.body
      if (typeof body === 'string') {
        for (const [name, value] of new URLSearchParams(body)) {
          if (['client_secret', 'code', 'refresh_token', 'token', 'code_verifier'].includes(name))
            this.secret(value)
        }
      }
      const authorization = new Headers(init?.headers).get('authorization')
      if (authorization) this.secret(authorization.replace(/^\S+\s+/, ''))
      const response = await globalThis.fetch(input, init)
      const url = input instanceof Request ? input.url : String(input)
      if (url.includes('/oauth/v2/token')) {
        const text = await response
          .clone()
          .text()
          .catch(() => '')
        try {
          const wire = JSON.parse(text) as Record<string, unknown>
          for (const field of ['access_token', 'refresh_token', 'id_token']) {
            const value = wire[field]
            if (typeof value === 'string') this.secret(value)
          }
        } catch {
          // Not JSON (an injected fault): nothing was issued.
        }
      }
      return response
    }
  }

  /**
   * Every code and token the emulator ever issued, read from its ledger. The ledger is internal
   * to the emulator, so this is best effort: it reads what it finds and says how many.
   */
  emulatorSecrets(emulator: AccountsEmulator): number {
    const ledger = (emulator as unknown as { ledger?: Record<string, unknown> }).ledger
    let count = 0
    for (const name of ['codes', 'refreshTokens', 'accessTokens']) {
      const map = ledger?.[name]
      if (!(map instanceof Map)) continue
      for (const key of map.keys()) {
        if (typeof key === 'string') {
          this.secret(key)
          count += 1
        }
      }
    }
    for (const client of emulator.clients) this.secret(client.clientSecret)
    return count
  }

  /** Looks for every secret, and for long parts of it, in every captured text. */
  scan(): Leak[] {
    const needles = new Map<string, string>()
    for (const secret of this.#secrets) {
      for (const form of formsOf(secret)) {
        needles.set(form, secret)
        if (form.length > MIN_EDGE_LENGTH) {
          needles.set(form.slice(0, MIN_EDGE_LENGTH), secret)
          needles.set(form.slice(-MIN_EDGE_LENGTH), secret)
        }
      }
      for (const part of secret.split('.')) {
        if (part.length >= MIN_FRAGMENT_LENGTH) needles.set(part, secret)
      }
    }
    const leaks: Leak[] = []
    for (const { source, text } of this.outputs) {
      for (const [needle, secret] of needles) {
        const at = text.indexOf(needle)
        if (at === -1) continue
        const context = text
          .slice(Math.max(0, at - 80), at + needle.length + 80)
          .split(needle)
          .join('<SECRET>')
        leaks.push({ source, secret, context })
      }
    }
    return leaks
  }
}
