// How DBStore numbers new rows (issue 13): the next after the largest numeric id, read from an
// invisible indexed column, allocated under a lock shared by every process on the server.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import mysql from 'mysql2/promise'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { OAuthToken, UserSignature } from '../../../src/index.ts'
import { numericIdValue } from '../../../src/store/ids.ts'
import { COLUMNS } from '../../../src/store/rows.ts'
import { DBStore } from '../../../src/stores/mysql.ts'
import { describeWithService, SERVICES } from '../../helpers/services.ts'
import { budgetTable } from '../../../src/stores/sql/health.ts'

const run = promisify(execFile)
const CHILD = fileURLToPath(new URL('../../children/mysql-save-many.ts', import.meta.url))
const DATABASE = 'tokenkeeper_test'
const URL_BASE = `${SERVICES.mariadb.url}/${DATABASE}`
let counter = 0
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i))
const byNumber = (ids: string[]) => [...ids].sort((a, b) => Number(a) - Number(b))

function user(name: string): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(name),
    clientId: '1000.C',
    clientSecret: 's',
    refreshToken: `1000.r.${name}`,
    accessToken: `1000.a.${name}`,
  })
}

/**
 * A mysql2 pool that records the SQL the store sends and can refuse some of it, as an older
 * server would refuse syntax it does not know.
 */
function watchedPool(pool: mysql.Pool, seen: string[], refuse?: (sql: string) => boolean) {
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, key) {
        const value: unknown = Reflect.get(object, key, object)
        if (typeof value !== 'function') return value
        if (key === 'getConnection') {
          return async () => wrap(await (value as () => Promise<object>).call(object))
        }
        if (key === 'query' || key === 'execute') {
          return (sql: string | { sql: string }, ...rest: unknown[]) => {
            const text = typeof sql === 'string' ? sql : sql.sql
            seen.push(text)
            if (refuse?.(text)) {
              const err = Object.assign(new Error('You have an error in your SQL syntax'), {
                code: 'ER_PARSE_ERROR',
                errno: 1064,
              })
              return Promise.reject(err)
            }
            return (value as (...args: unknown[]) => unknown).call(object, sql, ...rest)
          }
        }
        return (value as (...args: unknown[]) => unknown).bind(object)
      },
    })
  return wrap(pool)
}

await describeWithService('mariadb', 'DBStore ids (MariaDB)', () => {
  let admin: mysql.Connection
  const tables: string[] = []
  const pools: mysql.Pool[] = []
  const newTable = () => {
    const table = `tkids_${process.pid}_${++counter}`
    tables.push(table)
    return table
  }
  const pool = () => {
    const created = mysql.createPool({ uri: URL_BASE, connectionLimit: 10 })
    pools.push(created)
    return created
  }
  const ids = async (table: string) => {
    const [rows] = await admin.query(`SELECT id FROM \`${table}\``)
    return (rows as { id: string }[]).map((r) => r.id)
  }
  beforeAll(async () => {
    admin = await mysql.createConnection({ uri: SERVICES.mariadb.url })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
    await admin.query(`USE ${DATABASE}`)
  })
  afterAll(async () => {
    for (const table of tables) {
      await admin.query(
        `DROP TABLE IF EXISTS \`${table}\`, \`${table}_ready\`, \`${budgetTable(table)}\``,
      )
    }
    await Promise.all(pools.map((p) => p.end()))
    await admin.end()
  })

  it('keeps select * to the official columns, and no id makes an insert fail, whatever the sql_mode', async () => {
    const table = newTable()
    const store = new DBStore({ url: URL_BASE, table })
    await store.getTokens()
    const [columns] = await admin.query(
      'SELECT COLUMN_NAME AS name, EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?',
      [DATABASE, table, 'id_number'],
    )
    expect((columns as { extra: string }[])[0]?.extra).toMatch(/INVISIBLE/)
    // The strictest mode, as the official SDK's connection may run it: no id is refused.
    await admin.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO'")
    const odd = [
      '0wod457ssD',
      'abcdefghij',
      '41',
      '0000000099',
      '7',
      '12ab',
      '12\n',
      '',
      ' 5',
      '5 ',
      '-5',
      '+5',
      '1e3',
      '１２',
      '0',
      '٣',
    ]
    for (const [i, id] of odd.entries()) {
      await admin.query(
        `insert into \`${table}\` (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values (?,?,NULL,NULL,NULL,?,NULL,NULL,NULL,NULL)`,
        [id, `odd${i}`, `a${i}`],
      )
    }
    await admin.query('SET SESSION sql_mode = DEFAULT')
    // The column holds what the one rule in store.ts says, id for id.
    const [numbered] = await admin.query(`SELECT id, id_number FROM \`${table}\``)
    for (const row of numbered as { id: string; id_number: number | null }[]) {
      expect([row.id, row.id_number === null ? undefined : Number(row.id_number)]).toEqual([
        row.id,
        numericIdValue(row.id),
      ])
    }
    const [, fields] = await admin.query(`select * from \`${table}\``)
    expect(fields.slice(0, 10).map((f) => f.name)).toEqual([...COLUMNS])
    expect(fields.map((f) => f.name)).not.toContain('id_number')
    const next = user('next@zylker.example')
    await store.saveToken(next)
    expect(next.id).toBe('100')
    await store.close()
  })

  it('reads the largest id from the index: EXPLAIN, and a few index reads at 50,000 rows', async () => {
    const table = newTable()
    const seen: string[] = []
    const store = new DBStore({ pool: watchedPool(pool(), seen), table })
    await store.getTokens()
    const n = 50_000
    for (let from = 1; from <= n; from += 5000) {
      const values = range(from, from + 4999).map((i) =>
        // Every other id is one the numbering skips; the numeric ones are zero-padded.
        Number(i) % 2 === 0 ? `0x${i}` : i.padStart(10, '0'),
      )
      await admin.query(`INSERT INTO \`${table}\` (id, user_name) VALUES ?`, [
        values.map((id) => [id, `u${id}`]),
      ])
    }
    await admin.query(`ANALYZE TABLE \`${table}\``)
    const ada = user('ada@zylker.example')
    await store.saveToken(ada)
    expect(ada.id).toBe(String(n))
    const largest = seen.find((sql) => /MAX\(/i.test(sql))!
    const [plan] = await admin.query(`EXPLAIN ${largest}`)
    // MariaDB and MySQL: the maximum is taken from the end of the index, no row is scanned.
    expect((plan as { Extra: string }[])[0]?.Extra).toBe('Select tables optimized away')
    const reads = async () => {
      const [rows] = await admin.query("SHOW SESSION STATUS LIKE 'Handler_read%'")
      return (rows as { Value: string }[]).reduce((sum, r) => sum + Number(r.Value), 0)
    }
    const before = await reads()
    await admin.query(largest)
    const used = (await reads()) - before
    console.log(`DBStore largest id at ${n} rows: ${used} handler reads`)
    // The status query itself may read a few rows: far from the 50,000 of a scan.
    expect(used).toBeLessThan(50)
    await store.close()
  })

  it('adds the numbering column and its index to a table of an earlier tokenkeeper', async () => {
    const table = newTable()
    // What an earlier version made: the official columns and the hashes, random ids.
    await admin.query(
      `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name text, client_id text, client_secret text, refresh_token text, access_token text, grant_token text, expiry_time varchar(20), redirect_url text, api_domain text, ` +
        'user_name_sha256 binary(32) AS (UNHEX(SHA2(user_name, 256))) STORED, access_token_sha256 binary(32) AS (UNHEX(SHA2(access_token, 256))) STORED, ' +
        'grant_token_sha256 binary(32) AS (UNHEX(SHA2(grant_token, 256))) STORED, refresh_token_sha256 binary(32) AS (UNHEX(SHA2(refresh_token, 256))) STORED, ' +
        'PRIMARY KEY (id)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin',
    )
    await admin.query(
      `INSERT INTO \`${table}\` (id, user_name) VALUES ('0wod457ssD', 'a'), ('5', 'b'), ('0CghEddkHY', 'c')`,
    )
    const store = new DBStore({ url: URL_BASE, table })
    const next = user('next@zylker.example')
    await store.saveToken(next)
    expect(next.id).toBe('6')
    const [indexes] = await admin.query(
      'SELECT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?',
      [DATABASE, table, 'id_number'],
    )
    expect(indexes).toEqual([{ name: `${table}_id_number_idx` }])
    expect((await store.findTokenById('0wod457ssD'))?.userSignature?.name).toBe('a')
    await store.close()
  })

  it('4 processes saving 50 new users each at once get exactly the ids 1 to 200, and none fails', async () => {
    const table = newTable()
    const prepared = new DBStore({ url: URL_BASE, table })
    await prepared.getTokens() // the table exists before the race starts
    await prepared.close()
    const outputs = await Promise.all(
      ['p1', 'p2', 'p3', 'p4'].map((prefix) =>
        run(process.execPath, ['--import', 'tsx', CHILD, URL_BASE, table, prefix, '50', '4'], {
          maxBuffer: 1 << 24,
        }),
      ),
    )
    const results = outputs.map(
      ({ stdout }) => JSON.parse(stdout) as { ids: string[]; started: number; finished: number },
    )
    // They did run at the same time.
    for (const r of results)
      for (const other of results) expect(r.started).toBeLessThan(other.finished)
    expect(byNumber(results.flatMap((r) => r.ids))).toEqual(range(1, 200))
    expect(byNumber(await ids(table))).toEqual(range(1, 200))
  })

  it('5 pools saving 20 new users each at once get exactly the ids 1 to 100', async () => {
    const table = newTable()
    const stores = Array.from({ length: 5 }, () => new DBStore({ url: URL_BASE, table }))
    await stores[0]!.getTokens()
    const saved = await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 20 }, async (_, i) => {
          const token = user(`pool${s}.${i}@zylker.example`)
          await store.saveToken(token)
          return token.id!
        }),
      ),
    )
    expect(byNumber(saved)).toEqual(range(1, 100))
    await Promise.all(stores.map((s) => s.close()))
  })

  it('on a server without invisible columns, scans for the largest id, and still never takes one twice', async () => {
    const table = newTable()
    const seen: string[] = []
    const old = (sql: string) => /\bINVISIBLE\b/.test(sql)
    const stores = Array.from(
      { length: 3 },
      () => new DBStore({ pool: watchedPool(pool(), seen, old), table }),
    )
    await stores[0]!.getTokens()
    const [, fields] = await admin.query(`select * from \`${table}\``)
    expect(fields.map((f) => f.name)).not.toContain('id_number')
    await admin.query(
      `INSERT INTO \`${table}\` (id, user_name) VALUES ('0wod457ssD', 'a'), ('0000000041', 'b'), ('12ab', 'c')`,
    )
    const saved = await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 10 }, async (_, i) => {
          const token = user(`old${s}.${i}@zylker.example`)
          await store.saveToken(token)
          return token.id!
        }),
      ),
    )
    expect(byNumber(saved)).toEqual(range(42, 71))
    expect(seen.some((sql) => /MAX\(CAST\(id AS UNSIGNED\)\)/.test(sql))).toBe(true)
    await Promise.all(stores.map((s) => s.close()))
  })
  /**
   * An official-SDK-style writer beside tokenkeeper, unsynchronized, as each official store runs
   * its statements: a new connection for each, `update ... where user_name`, then `max(id) + 1`
   * read on a connection of its own, then the insert. `python`: the Python DBStore, whose update
   * and insert are one transaction (mysql.connector's autocommit is off) committed at the end;
   * `typescript`: the TypeScript SDK's DBStore, every statement on its own. The maximum is taken
   * numerically: the official text `max(id)` stops numbering at the 11th row by itself, which
   * would hide the race measured here. Tokenkeeper must never fail; how often the writer fails is
   * printed.
   */
  async function race(sdk: 'python' | 'typescript', count: number) {
    const table = newTable()
    const store = new DBStore({ url: URL_BASE, table })
    await store.getTokens()
    const connect = () => mysql.createConnection({ uri: URL_BASE, flags: ['-FOUND_ROWS'] })
    const once = async (sql: string, values: unknown[] = []) => {
      const connection = await connect()
      try {
        return (await connection.query(sql, values))[0]
      } finally {
        await connection.end()
      }
    }
    const failures = new Map<string, number>()
    let written = 0
    const officialSave = async (name: string) => {
      const update = `update \`${table}\` set access_token = 'a' where user_name = ? limit 1`
      const insert = `insert into \`${table}\` (id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_url,api_domain) values (?,?,'c','s','r','a',NULL,'1',NULL,NULL)`
      const nextId = async () => {
        const [max] = (await once(`select max(cast(id as unsigned)) as id from \`${table}\``)) as {
          id: string | number | null
        }[]
        return String(max?.id === null || max?.id === undefined ? 1 : Number(max.id) + 1)
      }
      if (sdk === 'typescript') {
        await once(update, [name])
        await once(insert, [await nextId(), name])
        return
      }
      const connection = await connect()
      try {
        await connection.beginTransaction()
        await connection.query(update, [name])
        await connection.query(insert, [await nextId(), name])
      } finally {
        await connection.commit().catch(() => undefined)
        await connection.end()
      }
    }
    const official = async () => {
      for (let i = 0; i < count; i += 1) {
        try {
          await officialSave(`official${i}@zylker.example`)
          written += 1
        } catch (err) {
          const code = (err as { code?: string }).code ?? String(err)
          failures.set(code, (failures.get(code) ?? 0) + 1)
        }
      }
    }
    const ours: string[] = []
    const tokenkeeper = async () => {
      for (let i = 0; i < count; i += 1) {
        const token = user(`ours${i}@zylker.example`)
        await store.saveToken(token)
        ours.push(token.id!)
      }
    }
    await Promise.all([official(), tokenkeeper()])
    await store.close()
    const all = await ids(table)
    expect(all).toHaveLength(count + written)
    expect(all.every((id) => /^[1-9][0-9]{0,9}$/.test(id))).toBe(true)
    expect(new Set(ours).size).toBe(count)
    console.log(
      `DBStore beside an unsynchronized ${sdk === 'python' ? 'Python' : 'TypeScript'} DBStore-style writer: ` +
        `tokenkeeper ${count}/${count} saved, writer ${written}/${count} saved, writer failures ${JSON.stringify(Object.fromEntries(failures))}`,
    )
  }

  it('beside an unsynchronized max(id) + 1 writer as the Python DBStore runs it, tokenkeeper never fails', async () => {
    await race('python', 200)
  })

  it('beside an unsynchronized max(id) + 1 writer as the TypeScript SDK runs it, tokenkeeper never fails', async () => {
    await race('typescript', 200)
  })
})
