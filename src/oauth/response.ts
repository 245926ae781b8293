// Reading an accounts-server answer without trusting it: a size cap checked before and while
// reading, and a Retry-After turned into a bounded wait.
import { InvalidResponseError } from '../errors.js'

/**
 * The most of an accounts-server answer that is read, in bytes. A token answer is a few hundred
 * bytes; anything far larger is a broken or hostile server, and reading it whole could exhaust
 * memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024

/** Drops an answer's body unread, closing the connection under it; never throws. */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel()
  } catch {
    // The body was already closed or failed: nothing left to drop.
  }
}

/**
 * The body as text, read chunk by chunk up to `limit` bytes: a `content-length` above it is
 * refused before reading, and reading stops (the stream is cancelled) once more arrives.
 */
export async function readCapped(
  response: Response,
  limit: number = MAX_RESPONSE_BYTES,
): Promise<string> {
  const { status } = response
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > limit) {
    await discard(response)
    throw new InvalidResponseError(
      `the accounts server answered HTTP ${status} with a body of ${declared} bytes, over the ${limit}-byte limit of an accounts answer; it was not read`,
      status,
    )
  }
  if (response.body === null) return ''
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      throw new InvalidResponseError(
        `the accounts server answered HTTP ${status} with a body over the ${limit}-byte limit of an accounts answer; reading stopped there`,
        status,
      )
    }
    chunks.push(value)
  }
  return new TextDecoder().decode(Buffer.concat(chunks))
}

/**
 * The wait a `Retry-After` header asks for, in milliseconds (RFC 9110: seconds, or an HTTP
 * date), or undefined without a usable one.
 */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined
  const seconds = Number(header)
  if (!Number.isNaN(seconds)) return Math.max(0, seconds * 1000)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
