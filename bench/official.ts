// The official Zoho CRM TypeScript SDK (@zohocrm/typescript-sdk-8.0) measured in the same run as
// tokenkeeper, on the same machine, with the same tokens:
// - its FileStore's and DBStore's look-ups and saves, and its flow's getToken (its getAccessToken),
//   at 1 to 100k stored tokens;
// - the refresh requests that concurrent callers of an expiring token cause, in one process and
//   in 8 processes sharing a token file;
// - how many new users each store saves before the first failure, and how many of 100 new users
//   saved at the same time are there afterwards.
// Slow operations are time-boxed (`roundMs`): at 100k tokens one official look-up reads 40 MB.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FileStore, Initializer, OAuthToken, UserSignature, type TokenStore } from '../src/index.ts'
import { startAccountsEmulator, type AccountsEmulator } from '../src/testing/index.ts'
import { realisticToken, saveUsers, userName } from './data.ts'
import { measure, type Measurement } from './harness.ts'
import {
  initializeOfficial,
  officialSdk as sdk,
  officialTokenFor,
  type OfficialStore,
  type OfficialToken,
} from './official-sdk.ts'
import { COLUMNS } from '../src/store/rows.ts'
import { rowBatches } from './servers.ts'

/** A counted outcome, side by side: refresh requests, users saved. */
export interface Count {
  readonly what: string
  readonly official: number
  readonly tokenkeeper: number
  /** Anything the numbers alone do not say (failed callers, a cap reached). */
  readonly officialNote?: string | undefined
  readonly tokenkeeperNote?: string | undefined
  /** Whether fewer is better (refresh requests) or more (users saved). */
  readonly better: 'fewer' | 'more'
}

export type Record_ = (
  store: string,
  operation: string,
  tokens: number,
  callers: number,
  m: Measurement,
) => void

const MYSQL_URL = 'mysql://root@127.0.0.1:3306'
const DATABASE = 'tokenkeeper_bench'
/** The table the official SDK's README asks users to create. */
export const officialTable = (table: string) =>
  `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255) NOT NULL, client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))`

/** Fills a token file with `size` users the fast way (our batched saves; the format is theirs). */
async function fillFile(path: string, size: number): Promise<void> {
  const store = new FileStore(path)
  await saveUsers(store, size)
  await store.close()
}

/** Signs `user` in through the emulator with a grant code; the row is saved in `store`. */
function signIn(emulator: AccountsEmulator, store: TokenStore, user: string) {
  const client = emulator.clients[0]!
  return Initializer.initialize({
    environment: emulator.environment,
    store,
    token: new OAuthToken({
      userSignature: new UserSignature(user),
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      grantToken: emulator.issueGrantCode(),
    }),
  })
}

/** Our benchmark token for user `i`, built the official way (as its flow saves a refresh). */
function officialCopy(i: number): OfficialToken {
  const ours = realisticToken(i)
  const builder = new sdk.OAuthBuilder()
  builder.clientId(ours.clientId!)
  builder.clientSecret(ours.clientSecret!)
  builder.refreshToken(ours.refreshToken!)
  builder.userSignature(new sdk.UserSignature(ours.userSignature!.name))
  const token = builder.build()
  token.setAccessToken(ours.accessToken!)
  token.setExpiresIn(String(ours.expiryTime))
  token.setAPIDomain(ours.apiDomain!)
  return token
}

/** Look-ups and saves (updates of existing users' rows) on an official store of `size` tokens. */
async function findAndSave(
  name: string,
  store: OfficialStore,
  size: number,
  record: Record_,
): Promise<void> {
  const probes = Array.from({ length: 64 }, (_, i) => officialTokenFor(userName((i * 7919) % size)))
  if (!(await store.findToken(probes[0]!))) throw new Error(`${name}: a stored token was not found`)
  const find = await measure((i) => store.findToken(probes[i & 63]!), { roundMs: 800, rounds: 5 })
  record(name, 'findToken', size, 1, find)
  const save = await measure((i) => store.saveToken(officialCopy((i * 7919) % size)), {
    roundMs: 800,
    rounds: 5,
  })
  record(name, 'saveToken', size, 1, save)
}

/** The official flow's getToken (its getAccessToken): a look-up in the store on every call. */
async function measureGetToken(
  name: string,
  emulator: AccountsEmulator,
  store: OfficialStore,
  size: number,
  record: Record_,
): Promise<void> {
  const token = officialTokenFor(userName(0))
  await initializeOfficial(emulator.url, emulator.environment.tokenUrl, token, store)
  record(
    name,
    'getAccessToken',
    size,
    1,
    await measure(() => token.getToken(), { roundMs: 800, rounds: 5 }),
  )
}

const SAVE_TIMEOUT_MS = 10_000

/**
 * A save that fails if it has no answer within 10 s: the official DBStore loses the answer of
 * some failed saves (their error is thrown in a driver callback, away from the promise).
 */
function answered<T>(save: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${SAVE_TIMEOUT_MS} ms`)),
      SAVE_TIMEOUT_MS,
    )
  })
  return Promise.race([save, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Runs `body` with the errors that escape the official SDK (rejections nobody handles) counted
 * instead of ending the process.
 */
async function strayErrorsOf<T>(body: () => Promise<T>): Promise<{ value: T; stray: number }> {
  let stray = 0
  const count = () => void (stray += 1)
  process.on('unhandledRejection', count)
  try {
    const value = await body()
    // Errors of the last saves may surface a moment later.
    await new Promise((go) => setTimeout(go, 200))
    return { value, stray }
  } finally {
    process.off('unhandledRejection', count)
  }
}

/** Saves new users one after another until the first failure, or `cap` of them. */
async function newUsersUntilFailure(
  save: (i: number) => Promise<unknown>,
  cap: number,
): Promise<{ saved: number; error?: string }> {
  for (let i = 0; i < cap; i += 1) {
    try {
      await answered(Promise.resolve(save(i)))
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause
      const message = String((error as Error).message || (cause as Error | undefined)?.message)
      return { saved: i, error: message.slice(0, 120) }
    }
  }
  return { saved: cap }
}

/** Rows in a store after `n` new users were saved at the same time; failed saves counted. */
async function concurrentNewUsers(
  save: (i: number) => Promise<unknown>,
  count: () => Promise<number>,
  n: number,
): Promise<{ rows: number; failed: number; stray: number }> {
  const { value: outcomes, stray } = await strayErrorsOf(() =>
    Promise.allSettled(Array.from({ length: n }, (_, i) => answered(Promise.resolve(save(i))))),
  )
  const failed = outcomes.filter((o) => o.status === 'rejected').length
  return { rows: await count(), failed, stray }
}

/** The user names in a token file, read with our reader (the official one skips nothing). */
async function usersInFile(path: string): Promise<number> {
  const store = new FileStore(path)
  const names = new Set((await store.getTokens()).map((t) => t.userSignature?.name))
  await store.close()
  return names.size
}

const failedNote = (failed: number, of: number) =>
  failed > 0 ? `${failed} of ${of} callers failed` : undefined

/** 100 concurrent callers of an expired token in one process: refresh requests sent. */
async function stormInOneProcess(emulator: AccountsEmulator, work: string): Promise<Count> {
  const path = join(work, 'official-storm.txt')
  const shared = new FileStore(path)
  const user = 'storm@zylker.example'
  const seed = await signIn(emulator, shared, user)
  const expire = async (): Promise<void> => {
    const row = (await shared.findTokenById(seed.id!))!
    row.expiryTime = Date.now() - 1000
    await shared.saveToken(row)
  }
  // The official initialization refreshes an expired token itself: expire it after.
  await initializeOfficial(
    emulator.url,
    emulator.environment.tokenUrl,
    officialTokenFor(user),
    new sdk.FileStore(path),
  )
  await expire()
  emulator.resetCounts()
  const official = await Promise.allSettled(
    Array.from({ length: 100 }, () => officialTokenFor(user).getToken()),
  )
  const officialRefreshes = emulator.counts.refresh
  await expire()
  emulator.resetCounts()
  const ours = await Promise.allSettled(
    Array.from({ length: 100 }, async () => {
      const session = await Initializer.initialize({
        environment: emulator.environment,
        store: shared,
        token: new OAuthToken({ id: seed.id! }),
      })
      return session.getAccessToken()
    }),
  )
  await shared.close()
  const failures = (o: PromiseSettledResult<string>[]) =>
    o.filter((r) => r.status === 'rejected').length
  return {
    what: 'refresh requests: 100 concurrent callers of an expired token, one process',
    official: officialRefreshes,
    tokenkeeper: emulator.counts.refresh,
    officialNote: failedNote(failures(official), 100),
    tokenkeeperNote: failedNote(failures(ours), 100),
    better: 'fewer',
  }
}

const STORM_CHILD = fileURLToPath(new URL('./children/storm.ts', import.meta.url))
const PROCESSES = 8
const CALLERS = 25
/**
 * Time the children get to start up before their callers ask for the token together, per try:
 * on a loaded machine a child may need longer, and the storm is run again with more time
 * rather than thrown away.
 */
const STARTUP_MS = [12_000, 30_000, 60_000] as const

/**
 * 8 processes with 25 callers each share one token file; the token comes within the refresh
 * margin while they run: refresh requests sent. Returns the refreshes and the callers that
 * failed, and `lateNote` when even the last try had a process start after the others asked
 * (its callers then found the token already refreshed: the count is marked as such).
 */
async function stormInProcesses(
  side: 'official' | 'tokenkeeper',
  emulator: AccountsEmulator,
  path: string,
): Promise<{ refreshes: number; failed: number; lateNote?: string }> {
  for (const [attempt, startupMs] of STARTUP_MS.entries()) {
    const outcome = await stormOnce(side, emulator, `${path}.${attempt}`, startupMs)
    const last = attempt === STARTUP_MS.length - 1
    if (outcome.late === 0 || last) {
      return {
        refreshes: outcome.refreshes,
        failed: outcome.failed,
        ...(outcome.late > 0 && {
          lateNote: `${outcome.late} of ${PROCESSES} processes not ready in ${startupMs / 1000} s: machine loaded`,
        }),
      }
    }
    console.log(
      `refresh storm (${side}): ${outcome.late} process(es) not ready in ${startupMs} ms; again with more time`,
    )
  }
  throw new Error('unreachable')
}

async function stormOnce(
  side: 'official' | 'tokenkeeper',
  emulator: AccountsEmulator,
  path: string,
  startupMs: number,
): Promise<{ refreshes: number; failed: number; late: number }> {
  const user = `storm-${side}@zylker.example`
  const store = new FileStore(path)
  const seed = await signIn(emulator, store, user)
  const goAt = Date.now() + startupMs
  const row = (await store.findTokenById(seed.id!))!
  // Valid while the processes start; 3 s from its expiry when their callers ask.
  row.expiryTime = goAt + 3000
  await store.saveToken(row)
  await store.close()
  emulator.resetCounts()
  const run = promisify(execFile)
  const outputs = await Promise.all(
    Array.from({ length: PROCESSES }, () =>
      run(
        process.execPath,
        [
          '--import',
          'tsx',
          STORM_CHILD,
          side,
          path,
          emulator.url,
          user,
          String(CALLERS),
          String(goAt),
        ],
        { maxBuffer: 1 << 24 },
      ),
    ),
  )
  const results = outputs.map(
    ({ stdout }) => JSON.parse(stdout) as { late: boolean; tokens: string[]; errors: string[] },
  )
  return {
    refreshes: emulator.counts.refresh,
    failed: results.reduce((n, r) => n + r.errors.length, 0),
    late: results.filter((r) => r.late).length,
  }
}

/** Runs the official measurements beside ours; returns the counted outcomes. */
export async function benchOfficial(
  work: string,
  record: Record_,
  { sizes, mysql }: { sizes: readonly number[]; mysql: boolean },
): Promise<Count[]> {
  const counts: Count[] = []
  const emulator = await startAccountsEmulator({ accessTokenLimit: false })
  try {
    for (const size of sizes) {
      const path = join(work, `official-${size}.txt`)
      await fillFile(path, size)
      const store = new sdk.FileStore(path)
      if (size > 1) await findAndSave('official FileStore', store, size, record)
      await measureGetToken('official SDK, FileStore', emulator, store, size, record)
    }

    counts.push(await stormInOneProcess(emulator, work))
    const official = await stormInProcesses('official', emulator, join(work, 'storm-8-of.txt'))
    const ours = await stormInProcesses('tokenkeeper', emulator, join(work, 'storm-8-tk.txt'))
    counts.push({
      what: `refresh requests: ${PROCESSES} processes × ${CALLERS} callers, token expiring`,
      official: official.refreshes,
      tokenkeeper: ours.refreshes,
      officialNote: joinNotes(failedNote(official.failed, PROCESSES * CALLERS), official.lateNote),
      tokenkeeperNote: joinNotes(failedNote(ours.failed, PROCESSES * CALLERS), ours.lateNote),
      better: 'fewer',
    })

    // New users, one after another, in a new token file.
    const FILE_CAP = 1000
    const officialFile = new sdk.FileStore(join(work, 'new-official.txt'))
    const ourFile = new FileStore(join(work, 'new-ours.txt'))
    const officialFileRun = await newUsersUntilFailure(
      (i) => officialFile.saveToken(officialCopy(i)),
      FILE_CAP,
    )
    const ourFileRun = await newUsersUntilFailure(
      (i) => ourFile.saveToken(realisticToken(i)),
      FILE_CAP,
    )
    await ourFile.close()
    counts.push(newUsersCount('file store', officialFileRun, ourFileRun, FILE_CAP))

    // 100 new users saved at the same time, in one process, in a new token file.
    const together = 100
    const officialTogether = await concurrentNewUsers(
      (i) => new sdk.FileStore(join(work, 'together-official.txt')).saveToken(officialCopy(i)),
      () => usersInFile(join(work, 'together-official.txt')),
      together,
    )
    const ourTogetherStore = new FileStore(join(work, 'together-ours.txt'))
    const oursTogether = await concurrentNewUsers(
      (i) => ourTogetherStore.saveToken(realisticToken(i)),
      () => usersInFile(join(work, 'together-ours.txt')),
      together,
    )
    await ourTogetherStore.close()
    counts.push(togetherCount('file store', officialTogether, oursTogether, together))

    if (mysql) counts.push(...(await benchOfficialMysql(emulator, record, sizes)))
  } finally {
    await emulator.close()
  }
  return counts
}

/** Two notes of one count as one, either may be absent. */
function joinNotes(...notes: (string | undefined)[]): string | undefined {
  const given = notes.filter((n): n is string => n !== undefined && n !== '')
  return given.length ? given.join('; ') : undefined
}

function newUsersCount(
  where: string,
  official: { saved: number; error?: string },
  ours: { saved: number; error?: string },
  cap: number,
): Count {
  const note = (run: { saved: number; error?: string }) =>
    run.error !== undefined
      ? `failed: ${run.error}`
      : `no failure; stopped at ${cap.toLocaleString('en-US')}`
  return {
    what: `new users saved one after another before the first failure (${where})`,
    official: official.saved,
    tokenkeeper: ours.saved,
    officialNote: note(official),
    tokenkeeperNote: note(ours),
    better: 'more',
  }
}

function togetherCount(
  where: string,
  official: { rows: number; failed: number },
  ours: { rows: number; failed: number },
  n: number,
): Count {
  const note = (r: { rows: number; failed: number }) =>
    r.failed > 0
      ? `${r.failed} saves failed`
      : r.rows < n
        ? 'every save reported success'
        : undefined
  return {
    what: `new users kept of ${n} saved at the same time (${where})`,
    official: official.rows,
    tokenkeeper: ours.rows,
    officialNote: note(official),
    tokenkeeperNote: note(ours),
    better: 'more',
  }
}

/** The official DBStore: look-ups and saves at each size, and new users until the first failure. */
async function benchOfficialMysql(
  emulator: AccountsEmulator,
  record: Record_,
  sizes: readonly number[],
): Promise<Count[]> {
  const mysql = await import('mysql2/promise')
  const { DBStore } = await import('../src/stores/mysql.ts')
  const admin = await mysql.createConnection({ uri: MYSQL_URL })
  await admin.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE}`)
  await admin.query(`USE ${DATABASE}`)
  const official = (table: string): OfficialStore => {
    const builder = new sdk.DBBuilder()
    builder.host('127.0.0.1')
    builder.databaseName(DATABASE)
    builder.tableName(table)
    builder.userName('root')
    builder.password('')
    builder.portNumber(3306)
    return builder.build()
  }
  const fresh = async (table: string): Promise<string> => {
    await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin.query(officialTable(table))
    return table
  }
  const counted = async (table: string) => {
    const [rows] = await admin.query(`SELECT count(*) AS n FROM \`${table}\``)
    return Number((rows as { n: number }[])[0]!.n)
  }
  const tables: string[] = []
  try {
    for (const size of sizes.filter((s) => s >= 1000)) {
      const table = await fresh(`official_${process.pid}_${size}`)
      tables.push(table)
      for (const rows of rowBatches(size)) {
        await admin.query(`INSERT INTO \`${table}\` (${COLUMNS.join(', ')}) VALUES ?`, [rows])
      }
      const store = official(table)
      await findAndSave('official DBStore', store, size, record)
      await measureGetToken('official SDK, DBStore', emulator, store, size, record)
    }

    // New users one after another in a new table made as the official README says: the
    // official store numbers rows max(id) + 1 on a varchar column; ours works on the same table.
    const CAP = 10_000
    const theirs = await fresh(`official_${process.pid}_new`)
    const mine = await fresh(`ours_${process.pid}_new`)
    tables.push(theirs, mine)
    const officialStore = official(theirs)
    const officialRun = await newUsersUntilFailure(
      (i) => officialStore.saveToken(officialCopy(i)),
      CAP,
    )
    const ourStore: TokenStore & { close(): Promise<void> } = new DBStore({
      url: `${MYSQL_URL}/${DATABASE}`,
      table: mine,
    })
    const ourRun = await newUsersUntilFailure((i) => ourStore.saveToken(realisticToken(i)), CAP)

    // 100 new users at the same time on new tables.
    const together = 100
    const theirsTogether = await fresh(`official_${process.pid}_together`)
    const mineTogether = await fresh(`ours_${process.pid}_together`)
    tables.push(theirsTogether, mineTogether)
    const officialTogetherStore = official(theirsTogether)
    const officialTogether = await concurrentNewUsers(
      (i) => officialTogetherStore.saveToken(officialCopy(i)),
      () => counted(theirsTogether),
      together,
    )
    const ourTogetherStore = new DBStore({ url: `${MYSQL_URL}/${DATABASE}`, table: mineTogether })
    const oursTogether = await concurrentNewUsers(
      (i) => ourTogetherStore.saveToken(realisticToken(i)),
      () => counted(mineTogether),
      together,
    )
    await Promise.all([ourStore.close(), ourTogetherStore.close()])
    return [
      newUsersCount('MySQL table', officialRun, ourRun, CAP),
      togetherCount('MySQL table', officialTogether, oursTogether, together),
    ]
  } finally {
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin.end()
  }
}
