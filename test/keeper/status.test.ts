// `tokenkeeper status` and `list --state`: counts by state, the next expiries and the tokens that
// need attention, from one pass over the store with each page's health read in one call.
import { describe, expect, it } from 'vitest'
import { MemoryStore, OAuthToken, UserSignature } from '../../src/index.ts'
import { recordUse } from '../../src/usage.ts'
import { encodeHealth } from '../../src/health.ts'
import { storeStatus } from '../../src/keeper/status.ts'
import { listTokens } from '../../src/cli/commands/list.ts'
import { SQLiteStore } from '../../src/stores/sqlite.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { cli } from '../helpers/cli-child.ts'

const NOW = 1_900_000_000_000
const token = (i: number, expiryOffset: number) =>
  new OAuthToken({
    userSignature: new UserSignature(`status${i}@example.com`),
    clientId: '1000.client',
    clientSecret: 'secret.value',
    refreshToken: `1000.refresh.${i}.abcdef`,
    accessToken: `1000.access.${i}.abcdef`,
    expiryTime: NOW + expiryOffset,
  })

describe('the status of a store', () => {
  it('counts tokens by state, and lists the soonest expiries and the tokens in trouble', async () => {
    const store = new MemoryStore()
    const tokens = Array.from({ length: 30 }, (_, i) => token(i, (i + 1) * 60_000))
    for (const t of tokens) await store.saveToken(t)
    await store.saveHealth(
      tokens[0]!.id!,
      encodeHealth(tokens[0]!, {
        state: 'reauth_required',
        attempts: 1,
        since: NOW - 5000,
        lastErrorCode: 'invalid_code',
      }),
    )
    await store.saveHealth(
      tokens[1]!.id!,
      encodeHealth(tokens[1]!, {
        state: 'failing',
        attempts: 3,
        since: NOW - 9000,
        nextAttemptAt: NOW + 1000,
        lastErrorCode: 'NETWORK_ERROR',
      }),
    )
    // A record about an older refresh token no longer applies.
    const stale = tokens[2]!.clone()
    stale.refreshToken = '1000.refresh.older'
    await store.saveHealth(
      tokens[2]!.id!,
      encodeHealth(stale, { state: 'reauth_required', attempts: 1, since: 1 }),
    )

    const status = await storeStatus(store, NOW)

    expect(status.tokens).toBe(30)
    expect(status.states).toEqual({ active: 28, failing: 1, reauth_required: 1 })
    expect(status.nextExpiries.map((e) => e.id)).toEqual(tokens.slice(2, 12).map((t) => t.id))
    expect(status.attention).toEqual([
      {
        id: tokens[1]!.id,
        user: 'status1@example.com',
        state: 'failing',
        attempts: 3,
        lastErrorCode: 'NETWORK_ERROR',
        nextAttemptAt: NOW + 1000,
        since: NOW - 9000,
      },
      {
        id: tokens[0]!.id,
        user: 'status0@example.com',
        state: 'reauth_required',
        attempts: 1,
        lastErrorCode: 'invalid_code',
        nextAttemptAt: undefined,
        since: NOW - 5000,
      },
    ])
    const text = JSON.stringify(status)
    for (const t of tokens) {
      expect(text).not.toContain(t.refreshToken!)
      expect(text).not.toContain(t.accessToken!)
    }

    let listed = ''
    const count = await listTokens(store, {
      json: true,
      now: NOW,
      state: 'failing',
      write: async (chunk) => {
        listed += chunk
      },
    })
    expect(count).toBe(1)
    expect(JSON.parse(listed)).toMatchObject([{ id: tokens[1]!.id, health: 'failing' }])
    expect((JSON.parse(listed) as object[])[0]).not.toHaveProperty('lastUsedAt')
    // A recorded use is listed with the token (when it was, never anything secret).
    expect(await recordUse(store, tokens[1]!.id!, NOW - 60_000)).toBe(true)
    listed = ''
    await listTokens(store, {
      json: true,
      now: NOW,
      state: 'failing',
      write: async (chunk) => {
        listed += chunk
      },
    })
    expect(JSON.parse(listed)).toMatchObject([
      { id: tokens[1]!.id, health: 'failing', lastUsedAt: new Date(NOW - 60_000).toISOString() },
    ])
  })

  it('tokenkeeper status --json has the documented shape; the text says the same', async () => {
    const path = scratchPath(scratchDir(), 'status.db')
    const store = new SQLiteStore({ path })
    const saved = Array.from({ length: 3 }, (_, i) => token(i, 3_600_000 * (i + 1)))
    for (const t of saved) await store.saveToken(t)
    // The SQLite store keeps health beside each row: one token needs its user again.
    await store.saveHealth(
      saved[2]!.id!,
      encodeHealth(saved[2]!, { state: 'reauth_required', attempts: 1, since: Date.now() }),
    )
    await store.close()
    const json = await cli(['status', '--json', '--store', `sqlite:${path}`]).done
    expect(json.code, json.stderr).toBe(0)
    const status = JSON.parse(json.stdout) as { tokens: number; states: Record<string, number> }
    expect(status).toMatchObject({
      tokens: 3,
      states: { active: 2, failing: 0, reauth_required: 1 },
    })
    const text = await cli(['status', '--store', `sqlite:${path}`]).done
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('3 tokens: 2 active, 0 failing, 1 reauth_required')
    expect(text.stdout).toContain('need their user to sign in again')
    const list = await cli(['list', '--state', 'failing', '--store', `sqlite:${path}`]).done
    expect(list.stdout.trim()).toBe('no failing tokens')
    const refused = await cli([
      'list',
      '--state',
      'reauth_required',
      '--json',
      '--store',
      `sqlite:${path}`,
    ]).done
    expect(JSON.parse(refused.stdout)).toMatchObject([
      { id: saved[2]!.id, health: 'reauth_required' },
    ])
    const bad = await cli(['list', '--state', 'dead', '--store', `sqlite:${path}`]).done
    expect(bad.code).toBe(2)
  })
})
