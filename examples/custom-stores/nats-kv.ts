// A token store on NATS JetStream key-value, on tokenkeeper/store-kit: a key per row (JSON). A
// save reads the bucket's last sequence, then the rows, plans with the kit's rules and publishes
// expecting that sequence: if a write came between, the server refuses and the kit's retry plans
// again, so the rules across rows hold between machines. One revision per key, deletes purge: no
// old secret stays in the stream. Lookups read every row: for thousands of tokens, not millions.
import { JetStreamApiError, jetstream, type JetStreamClient } from '@nats-io/jetstream'
import { Kvm, type KV, type KvEntry } from '@nats-io/kv'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { OAuthToken } from 'tokenkeeper'
// Everything prefixed kit. is tokenkeeper/store-kit: the rules this store does not write.
import * as kit from 'tokenkeeper/store-kit'

const STORE = 'NatsKvStore'

/** Options of {@link NatsKvStore}. */
export interface NatsKvStoreOptions {
  /** The server to connect to; default `127.0.0.1:4222`. */
  servers?: string
  /** The bucket of rows; leases go to `<bucket>_leases`. Default `tokenkeeper`. */
  bucket?: string
  /** How long a token lease lasts unless renewed (ms); default 60000. */
  lockLeaseMs?: number
}

type Backend = { nc: NatsConnection; js: JetStreamClient; rows: KV; leases: KV }

/** The key of a row or lease: ids may hold any character, KV keys only `[-/_=.A-Za-z0-9]`. */
const keyOf = (id: string): string => `t.${Buffer.from(id).toString('base64url')}`

/** Turns the server's refusal of a write at a stale sequence or revision into `otherwise`. */
const unlessRefused =
  <T>(otherwise: T) =>
  (err: unknown): T => {
    if (err instanceof JetStreamApiError && err.code === 10071) return otherwise // wrong last seq
    throw err
  }

const bucketName = (v: unknown): v is string => typeof v === 'string' && /^[-\w]+$/.test(v)
const winner = (rows: Map<string, kit.StoredRow>, lookup: kit.Lookup) =>
  kit.winningRow([...rows.values()].filter((row) => kit.rowMatches(row, lookup)))

/** The row under a key (this store's own JSON), or `undefined` when deleted. */
const rowOf = (entry: KvEntry | null): kit.StoredRow | undefined =>
  entry?.operation === 'PUT' ? entry.json<kit.StoredRow>() : undefined

/** Tokens in a NATS JetStream key-value bucket. */
export class NatsKvStore implements kit.TokenStore, kit.TokenLocking, kit.ConditionalSave {
  readonly bucket: string
  readonly #servers: string
  readonly #leaseMs: number
  #backend: Promise<Backend> | undefined
  /** This process's saves, one at a time: they would only refuse each other's sequences. */
  #writes: Promise<unknown> = Promise.resolve()

  constructor(options: NatsKvStoreOptions = {}) {
    const checked = kit.checkOptions(STORE, options, {
      servers: kit.text({ nonEmpty: true }).or('127.0.0.1:4222'),
      bucket: kit.shaped('letters, digits, - and _', bucketName),
      lockLeaseMs: kit.number(),
    })
    this.#servers = checked.servers
    this.bucket = checked.bucket ?? 'tokenkeeper'
    this.#leaseMs = kit.leaseOption(STORE, checked.lockLeaseMs)
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    kit.assertLookupToken(token)
    const lookup = kit.lookupOf(token)
    const row = lookup && winner(await this.#call('findToken', (b) => this.#scan(b)), lookup)
    return row ? kit.tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    kit.assertId(id)
    const row = await this.#call('findTokenById', async (b) => rowOf(await b.rows.get(keyOf(id))))
    return row ? kit.tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    kit.assertToken(token)
    token.id = (await this.#save(token, undefined))!
  }

  /** Replaces row `token.id` only while it still holds `expected`'s tokens and expiry. */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    kit.assertConditionalSave(token, expected)
    return (await this.#save(token, expected)) !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    kit.assertId(id)
    await this.#call('deleteToken', (b) => b.rows.purge(keyOf(id)))
  }

  async getTokens(): Promise<OAuthToken[]> {
    const rows = await this.#call('getTokens', (b) => this.#scan(b))
    return [...rows.values()].map(kit.tokenFromRow)
  }

  async deleteTokens(): Promise<void> {
    await this.#call('deleteTokens', async (b) => {
      await Promise.all([...(await this.#scan(b)).keys()].map((id) => b.rows.purge(keyOf(id))))
    })
  }

  // A lease: a key holding its expiry, created, or replaced at its revision once lapsed; renewed
  // at the revision its holder wrote last, so a holder taken over finds out. (Clocks must agree.)
  async lockToken(id: string, options?: kit.LockOptions): Promise<kit.TokenLock> {
    kit.assertId(id)
    const wait = { ...kit.lockOptions(STORE, options), leaseMs: this.#leaseMs }
    const { leases } = await this.#call('lock', async (b) => b)
    const key = keyOf(id)
    const value = (): string => JSON.stringify({ until: Date.now() + this.#leaseMs })
    let revision = 0
    return kit.takeLease(STORE, id, wait, async () => {
      const entry = await leases.get(key)
      const until = entry?.operation === 'PUT' ? entry.json<{ until: number }>().until : 0
      if (until > Date.now()) return { retryInMs: until - Date.now() }
      const write = until
        ? leases.update(key, value(), entry!.revision)
        : leases.create(key, value())
      if (!(revision = await write.catch(unlessRefused(0)))) return { retryInMs: 0 }
      return {
        // Refused: another holder wrote it since, so it is ours no more.
        extend: () =>
          leases
            .update(key, value(), revision)
            .then((next) => (revision = next) > 0, unlessRefused(false)),
        release: () =>
          leases.delete(key, { previousSeq: revision }).catch(unlessRefused(undefined)),
      }
    })
  }

  async close(): Promise<void> {
    const backend = this.#backend
    this.#backend = undefined
    await kit.storeCall(STORE, 'close', async () => (await backend)?.nc.close())
  }

  /** Plans and writes one save until no other write came between its read and its write. */
  #save(token: OAuthToken, expected: OAuthToken | undefined): Promise<string | undefined> {
    const attempt = async (b: Backend): Promise<string | undefined> => {
      const sequence = (await b.rows.status()).streamInfo.state.last_seq
      const rows = await this.#scan(b)
      const current = expected && rows.get(token.id!)
      if (expected && !(current && kit.rowHolds(current, expected))) return undefined
      const { row } = kit.resolveSave(STORE, token, {
        hasId: (id) => rows.has(id),
        findId: (lookup) => winner(rows, lookup)?.id,
        largestNumericId: () => kit.largestNumericId(rows.keys()),
        get: (id) => rows.get(id),
      })
      const subject = `$KV.${this.bucket}.${keyOf(row.id)}`
      const written = { expect: { lastSequence: sequence } }
      const ack = await b.js.publish(subject, JSON.stringify(row), written).catch(unlessRefused(0))
      if (!ack) throw new kit.StoreConflict('other writers kept changing the bucket')
      return row.id
    }
    const run = this.#writes.then(() =>
      this.#call('saveToken', (b) =>
        kit.retry(() => attempt(b), { retryable: kit.isConflict, attempts: 30 }),
      ),
    )
    this.#writes = run.catch(() => undefined)
    return run
  }

  /** Every row, by id. */
  async #scan(b: Backend): Promise<Map<string, kit.StoredRow>> {
    const keys: string[] = []
    for await (const key of await b.rows.keys()) keys.push(key)
    const rows = (await Promise.all(keys.map((key) => b.rows.get(key)))).map(rowOf)
    return new Map(rows.filter((row) => row !== undefined).map((row) => [row.id, row]))
  }

  /** Runs one step on the backend, connected on first use; its errors become TokenStoreErrors. */
  #call<T>(operation: kit.StoreOperation, body: (b: Backend) => Promise<T>): Promise<T> {
    const where = `nats://${this.#servers}/${this.bucket}`
    return kit.storeCall(STORE, operation, async () => body(await this.#connect()), { where })
  }

  #connect(): Promise<Backend> {
    this.#backend ??= (async () => {
      const nc = await connect({ servers: this.#servers })
      const kvm = new Kvm(nc)
      const buckets = [kvm.create(this.bucket, { history: 1 }), kvm.create(`${this.bucket}_leases`)]
      const [rows, leases] = await Promise.all(buckets).catch(async (err: unknown) => {
        await nc.close() // not left open behind a store that could not start
        throw err
      })
      return { nc, js: jetstream(nc), rows: rows!, leases: leases! }
    })().catch((err: unknown) => {
      this.#backend = undefined
      throw err
    })
    return this.#backend
  }
}
