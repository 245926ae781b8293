// The reference article's CustomStoreSQLite on tokenkeeper/store-kit: its file, table and
// columns, so the official SDKs share the database; the rules (matching, upsert, which row wins,
// numbering, row mapping, errors, leases) come from the kit. What is left is SQLite's I/O: one
// connection, statements prepared once with parameters, each save one IMMEDIATE transaction.
import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'
import type { OAuthToken } from 'tokenkeeper'
// Everything prefixed kit. is tokenkeeper/store-kit: the rules this store does not write.
import * as kit from 'tokenkeeper/store-kit'

const STORE = 'CustomStoreSQLite'

// The article's table as it creates it; the indexes and the lease table are additions.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS oauthtoken (id varchar(10) NOT NULL, user_name varchar(255),
  client_id varchar(255), client_secret varchar(255), refresh_token varchar(255),
  access_token varchar(255), grant_token varchar(255), expiry_time varchar(20),
  redirect_url varchar(255), api_domain varchar(255), primary key (id));
CREATE INDEX IF NOT EXISTS oauthtoken_user_name ON oauthtoken (user_name);
CREATE INDEX IF NOT EXISTS oauthtoken_access_token ON oauthtoken (access_token);
CREATE INDEX IF NOT EXISTS oauthtoken_grant_token ON oauthtoken (grant_token);
CREATE INDEX IF NOT EXISTS oauthtoken_refresh_token ON oauthtoken (refresh_token);
CREATE TABLE IF NOT EXISTS oauthtoken_lease (id TEXT PRIMARY KEY, owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL);`

// The ids the official SDKs number (one to ten digits, as numericIdValue reads them), as SQL.
const LARGEST_NUMERIC_ID = `SELECT max(CAST(id AS INTEGER)) AS n FROM oauthtoken
  WHERE length(id) BETWEEN 1 AND 10 AND id NOT GLOB '*[^0-9]*'`

const UPSERT = `INSERT OR REPLACE INTO oauthtoken VALUES (@id, @user_name, @client_id,
  @client_secret, @refresh_token, @access_token, @grant_token, @expiry_time, @redirect_url,
  @api_domain)`

// A lease row is taken when absent or lapsed; the owner's own renewals keep it.
const TAKE_LEASE = `INSERT INTO oauthtoken_lease VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE
  SET owner = excluded.owner, expires_at = excluded.expires_at WHERE expires_at <= ?`
const RENEW_LEASE = 'UPDATE oauthtoken_lease SET expires_at = ? WHERE id = ? AND owner = ?'
const DROP_LEASE = 'DELETE FROM oauthtoken_lease WHERE id = ? AND owner = ?'

/** Options of {@link CustomStoreSQLite}. */
export interface CustomStoreSQLiteOptions {
  /** The database file; default `zohooauth.db`, the article's. `':memory:'` for RAM. */
  path?: string
  /** How long a write waits for another process's transaction (ms); default 5000. */
  busyTimeoutMs?: number
  /** How long a token lease lasts unless renewed (ms); default 60000. */
  lockLeaseMs?: number
}

/** The article's SQLite custom store, done right. */
export class CustomStoreSQLite implements kit.TokenStore, kit.TokenLocking, kit.ConditionalSave {
  readonly path: string
  readonly #busyTimeoutMs: number
  readonly #leaseMs: number
  #db: Database.Database | undefined
  readonly #statements = new Map<string, Database.Statement>()

  constructor(options: CustomStoreSQLiteOptions = {}) {
    const checked = kit.checkOptions(STORE, options, {
      path: kit.text({ nonEmpty: true }).or('zohooauth.db'),
      busyTimeoutMs: kit.number({ min: 0 }).or(5000),
      lockLeaseMs: kit.number(),
    })
    this.path = checked.path
    this.#busyTimeoutMs = checked.busyTimeoutMs
    this.#leaseMs = kit.leaseOption(STORE, checked.lockLeaseMs)
  }

  async findToken(token: OAuthToken): Promise<OAuthToken | null> {
    kit.assertLookupToken(token)
    const lookup = kit.lookupOf(token)
    const row = lookup && this.#run('findToken', () => this.#winner(lookup))
    return row ? kit.tokenFromRow(row) : null
  }

  async findTokenById(id: string): Promise<OAuthToken | null> {
    kit.assertId(id)
    const row = this.#run('findTokenById', () => this.#row(id))
    return row ? kit.tokenFromRow(row) : null
  }

  async saveToken(token: OAuthToken): Promise<void> {
    kit.assertToken(token)
    token.id = this.#run('saveToken', () => this.#save(token, undefined))
  }

  /** Replaces row `token.id` only while it still holds `expected`'s tokens and expiry. */
  async saveTokenIf(token: OAuthToken, expected: OAuthToken): Promise<boolean> {
    kit.assertConditionalSave(token, expected)
    return this.#run('saveToken', () => this.#save(token, expected)) !== undefined
  }

  async deleteToken(id: string): Promise<void> {
    kit.assertId(id)
    this.#run('deleteToken', () => this.#sql('DELETE FROM oauthtoken WHERE id = ?').run(id))
  }

  async getTokens(): Promise<OAuthToken[]> {
    const rows = this.#run('getTokens', () => this.#sql('SELECT * FROM oauthtoken').all())
    return (rows as kit.TokenRow[]).map(kit.tokenFromRow)
  }

  async deleteTokens(): Promise<void> {
    this.#run('deleteTokens', () => this.#sql('DELETE FROM oauthtoken').run())
  }

  /** A lease on one token, respected by every store on this file; see `TokenLocking`. */
  async lockToken(id: string, options?: kit.LockOptions): Promise<kit.TokenLock> {
    kit.assertId(id)
    const wait = { ...kit.lockOptions(STORE, options), leaseMs: this.#leaseMs }
    const owner = randomUUID()
    const lease = (sql: string, ...args: unknown[]): boolean =>
      this.#run('lock', () => this.#sql(sql).run(...args).changes === 1)
    return kit.takeLease(STORE, id, wait, async () => {
      const now = Date.now()
      if (!lease(TAKE_LEASE, id, owner, now + this.#leaseMs, now)) {
        return { retryInMs: this.#leaseMs }
      }
      return {
        extend: async () => lease(RENEW_LEASE, Date.now() + this.#leaseMs, id, owner),
        release: async () => void lease(DROP_LEASE, id, owner),
      }
    })
  }

  async close(): Promise<void> {
    const db = this.#db
    this.#db = undefined
    this.#statements.clear()
    this.#run('close', () => db?.close())
  }

  /** Of the rows holding the looked-up value, the oldest (`winningRow`). */
  #winner(lookup: kit.Lookup): kit.TokenRow | undefined {
    const column: kit.LookupColumn = lookup.column // one of four fixed names, never user text
    return kit.winningRow(
      this.#sql(`SELECT * FROM oauthtoken WHERE ${column} = ?`).all(lookup.value) as kit.TokenRow[],
    )
  }

  #row(id: string): kit.TokenRow | undefined {
    return this.#sql('SELECT * FROM oauthtoken WHERE id = ?').get(id) as kit.TokenRow | undefined
  }

  /** One save in one IMMEDIATE transaction; `undefined` when `expected` no longer holds. */
  #save(token: OAuthToken, expected: OAuthToken | undefined): string | undefined {
    const lookups: kit.RowLookups = {
      hasId: (id) => this.#row(id) !== undefined,
      findId: (lookup) => this.#winner(lookup)?.id ?? undefined,
      largestNumericId: () =>
        (this.#sql(LARGEST_NUMERIC_ID).get() as { n: number | null }).n ?? undefined,
      get: (id) => this.#row(id),
    }
    const save = this.#open().transaction(() => {
      if (expected) {
        const row = this.#row(token.id!)
        if (!row || !kit.rowHolds(row, expected)) return undefined
      }
      const { row } = kit.resolveSave(STORE, token, lookups)
      this.#sql(UPSERT).run(row)
      return row.id
    })
    return save.immediate()
  }

  /** The connection, opened (and the tables made) on first use. */
  #open(): Database.Database {
    if (this.#db) return this.#db
    const db = new Database(this.path, { timeout: this.#busyTimeoutMs })
    try {
      db.pragma('journal_mode = WAL')
      db.exec(SCHEMA)
    } catch (err) {
      db.close()
      throw err
    }
    return (this.#db = db)
  }

  /** A statement, prepared once per connection. */
  #sql(sql: string): Database.Statement {
    let statement = this.#statements.get(sql)
    if (!statement) this.#statements.set(sql, (statement = this.#open().prepare(sql)))
    return statement
  }

  /** Runs one step on the database; a driver error becomes a TokenStoreError. */
  #run<T>(operation: kit.StoreOperation, body: () => T): T {
    try {
      return body()
    } catch (err) {
      throw kit.wrapStoreError(STORE, operation, err, { where: this.path })
    }
  }
}
