// Saves tokens into a FileStore or a SQLiteStore until it is killed, for test/crash.test.ts.
//
//   crash-saver <file|sqlite> <path> [workers=4]
//
// It loads, prints `ready`, and waits for a line `go <next>` on stdin before it touches the
// store, so that the parent can start it ahead of time and kill it at a moment of its choosing.
// Then `workers` saves run at a time, for ever: new users (indexes from <next> upwards) and
// updates of earlier ones (random indexes below), never two saves of one user at once. Each
// save is announced before saveToken is called (`start <json>`: the user's index and every
// field saved) and acknowledged once it has resolved (`ack <index> <accessToken>`), one line
// each, written to stdout synchronously, so that a line the parent did not get was not written.
import { writeSync } from 'node:fs'
import { FileStore } from '../../src/stores/file.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import type { TokenStore } from '../../src/store.ts'
import { OAuthToken, UserSignature } from '../../src/token.ts'

const [kind, path, workersText = '4'] = process.argv.slice(2)
if ((kind !== 'file' && kind !== 'sqlite') || !path) {
  throw new Error('usage: crash-saver <file|sqlite> <path> [workers]')
}
const store: TokenStore = kind === 'file' ? new FileStore(path) : new SQLiteStore({ path })
const workers = Number(workersText)

function say(line: string): void {
  const bytes = Buffer.from(`${line}\n`)
  let written = 0
  while (written < bytes.length) {
    try {
      written += writeSync(1, bytes, written)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
    }
  }
}

/** User names of every shape the file must quote: commas, quotes, a line break, unicode. */
function userName(index: number): string {
  switch (index % 8) {
    case 3:
      return `user ${index}, "quoted"@crash.example`
    case 5:
      return `user ${index}\r\non two lines@crash.example`
    case 7:
      return `ünïcødé-${index}-日本@crash.example`
    default:
      return `user-${index}@crash.example`
  }
}

const hex = (bytes: number): string =>
  Array.from({ length: bytes }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join('')

async function waitForGo(): Promise<number> {
  let text = ''
  for await (const chunk of process.stdin) {
    text += String(chunk)
    const match = /^go (\d+)\n/.exec(text)
    if (match) return Number(match[1])
  }
  throw new Error('stdin closed before go')
}

say('ready')
let next = await waitForGo()
process.stdin.destroy()
say('saving')

const busy = new Set<number>()
let serial = 0

function pick(): number {
  for (let tries = 0; next > 0 && Math.random() < 0.4 && tries < 10; tries += 1) {
    const index = Math.floor(Math.random() * next)
    if (!busy.has(index)) return index
  }
  return next++
}

async function worker(): Promise<void> {
  for (;;) {
    const index = pick()
    busy.add(index)
    serial += 1
    // Shaped like Zoho's: 70-character tokens, so that a row is about 350 bytes.
    const tag = `${process.pid}.${serial}.${hex(28)}`
    const fields = {
      userName: userName(index),
      clientId: '1000.CRASHTESTCLIENT',
      clientSecret: `secret.${tag}`,
      refreshToken: `1000.r.${tag}`,
      accessToken: `1000.a.${tag}`,
      apiDomain: 'https://www.zohoapis.com',
      expiryTime: Date.now() + 3_600_000,
    }
    say(`start ${JSON.stringify({ index, fields })}`)
    const { userName: name, ...rest } = fields
    await store.saveToken(new OAuthToken({ ...rest, userSignature: new UserSignature(name) }))
    say(`ack ${index} ${fields.accessToken}`)
    busy.delete(index)
  }
}

await Promise.all(Array.from({ length: workers }, worker))
