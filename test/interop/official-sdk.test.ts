// Side by side with the real official package (@zohocrm/typescript-sdk-8.0): tokens saved by
// its stores are found by ours, and ours by its, on the same file and the same MySQL table.
import mysql from 'mysql2/promise'
import { afterAll, describe, expect, it } from 'vitest'
import { FileStore, OAuthToken, UserSignature } from '../../src/index.ts'
import { DBStore } from '../../src/stores/mysql.ts'
import {
  initializeOfficial,
  officialSdk,
  officialTokenFor,
  type OfficialStore,
  type OfficialToken,
} from '../../bench/official-sdk.ts'
import { scratchDir, scratchPath } from '../helpers/common.ts'
import { SERVICES, describeWithService } from '../helpers/services.ts'

const {
  OAuthBuilder,
  UserSignature: OfficialUser,
  FileStore: OfficialFileStore,
  DBBuilder,
} = officialSdk

const dir = scratchDir()

/** A token the official way: built with OAuthBuilder, then filled as its flow fills it. */
function officialToken(user: string, n: number): OfficialToken {
  const builder = new OAuthBuilder()
  builder.clientId('1000.OFFICIALCLIENT')
  builder.clientSecret(`official-secret-${n}`)
  builder.refreshToken(`1000.refresh.official.${n}`)
  builder.userSignature(new OfficialUser(user))
  const token = builder.build()
  token.setAccessToken(`1000.access.official.${n}`)
  token.setExpiresIn(String(1_900_000_000_000 + n))
  token.setAPIDomain('https://www.zohoapis.com')
  return token
}

function ourToken(user: string, n: number): OAuthToken {
  return new OAuthToken({
    userSignature: new UserSignature(user),
    clientId: '1000.OURCLIENT',
    clientSecret: `our-secret-${n}`,
    refreshToken: `1000.refresh.ours.${n}`,
    accessToken: `1000.access.ours.${n}`,
    expiryTime: 1_900_000_000_000 + n,
    apiDomain: 'https://www.zohoapis.eu',
  })
}

const probe = (user: string) => new OAuthToken({ userSignature: new UserSignature(user) })

/** The official store's findToken by user name. */
async function officialFind(store: OfficialStore, user: string): Promise<OfficialToken | null> {
  return store.findToken(officialTokenFor(user))
}

describe('FileStore and the official FileStore on one file', () => {
  it('each finds what the other saved, and each keeps the other rows intact', async () => {
    const path = scratchPath(dir, 'sdk_tokens.txt')
    const official = new OfficialFileStore(path) // writes the official header at construction
    for (const n of [1, 2])
      await official.saveToken(officialToken(`official${n}@zylker.example`, n))

    const ours = new FileStore(path)
    for (const n of [1, 2]) {
      const found = await ours.findToken(probe(`official${n}@zylker.example`))
      expect(found).toMatchObject({
        clientId: '1000.OFFICIALCLIENT',
        clientSecret: `official-secret-${n}`,
        refreshToken: `1000.refresh.official.${n}`,
        accessToken: `1000.access.official.${n}`,
        expiryTime: 1_900_000_000_000 + n,
        apiDomain: 'https://www.zohoapis.com',
      })
    }
    await ours.saveToken(ourToken('ours@zylker.example', 3))
    const refreshed = (await ours.findToken(probe('official1@zylker.example')))!
    refreshed.accessToken = '1000.access.refreshed.by.us'
    await ours.saveToken(refreshed)

    const again = new OfficialFileStore(path)
    const mine = await officialFind(again, 'ours@zylker.example')
    expect(mine?.getRefreshToken()).toBe('1000.refresh.ours.3')
    expect(mine?.getClientSecret()).toBe('our-secret-3')
    expect(mine?.getExpiresIn()).toBe(String(1_900_000_000_003))
    expect(mine?.getAPIDomain()).toBe('https://www.zohoapis.eu')
    expect((await officialFind(again, 'official1@zylker.example'))?.getAccessToken()).toBe(
      '1000.access.refreshed.by.us',
    )
    expect((await officialFind(again, 'official2@zylker.example'))?.getAccessToken()).toBe(
      '1000.access.official.2',
    )
    // The official store saves a fourth user into the file we wrote; we read it.
    await again.saveToken(officialToken('official4@zylker.example', 4))
    expect((await ours.findToken(probe('official4@zylker.example')))?.refreshToken).toBe(
      '1000.refresh.official.4',
    )
    expect(await ours.getTokens()).toHaveLength(4)
  })
})

await describeWithService('mariadb', 'DBStore and the official DBStore on one MySQL table', () => {
  const database = 'tokenkeeper_test'
  const table = `tk_official_${process.pid}`
  let admin: mysql.Connection
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS \`${table}\``)
    await admin.end()
  })

  it('each finds what the other saved, at the same time, and our additive schema does not break theirs', async () => {
    admin = await mysql.createConnection({ uri: `${SERVICES.mariadb.url}` })
    await admin.query(`CREATE DATABASE IF NOT EXISTS ${database}`)
    await admin.query(`USE ${database}`)
    // The table the official README asks users to create.
    await admin.query(
      `CREATE TABLE \`${table}\` (id varchar(10) NOT NULL, user_name varchar(255) NOT NULL, client_id varchar(255), client_secret varchar(255), refresh_token varchar(255), access_token varchar(255), grant_token varchar(255), expiry_time varchar(20), redirect_url varchar(255), api_domain varchar(255), primary key (id))`,
    )
    const builder = new DBBuilder()
    builder.host('127.0.0.1')
    builder.databaseName(database)
    builder.tableName(table)
    builder.userName('root')
    builder.password('')
    builder.portNumber(3306)
    const official = builder.build()
    const ours = new DBStore({ url: `${SERVICES.mariadb.url}/${database}`, table })
    await ours.getTokens() // our additive changes happen first: the official store then works on them

    // New users one after the other: both number a new row max(id) + 1, and the official store
    // reads its max and inserts on separate connections, unsynchronized, so an official insert
    // that meets a concurrent insert (ours, or another official one) fails on its primary key.
    // See docs/switching.md. Everything else runs at the same time below.
    await official.saveToken(officialToken('official1@zylker.example', 1))
    const ours1 = ourToken('ours1@zylker.example', 11)
    await ours.saveToken(ours1)
    await official.saveToken(officialToken('official2@zylker.example', 2))
    const ours2 = ourToken('ours2@zylker.example', 12)
    await ours.saveToken(ours2)
    expect([ours1.id, ours2.id]).toEqual(['2', '4'])
    const [first, second] = await Promise.all([
      official.findToken(officialTokenFor('ours1@zylker.example')),
      ours.findToken(probe('official2@zylker.example')),
    ])
    expect(first?.getId()).toBe('2')
    expect(second?.id).toBe('3')

    for (const n of [1, 2]) {
      expect((await ours.findToken(probe(`official${n}@zylker.example`)))?.refreshToken).toBe(
        `1000.refresh.official.${n}`,
      )
      const theirs = await officialFind(official, `ours${n}@zylker.example`)
      expect(theirs?.getRefreshToken()).toBe(`1000.refresh.ours.${10 + n}`)
      expect(theirs?.getExpiresIn()).toBe(String(1_900_000_000_010 + n))
    }
    // Our update of an official row is what the official store reads next.
    const row = (await ours.findToken(probe('official1@zylker.example')))!
    row.accessToken = '1000.access.refreshed.by.us'
    await ours.saveToken(row)
    expect((await officialFind(official, 'official1@zylker.example'))?.getAccessToken()).toBe(
      '1000.access.refreshed.by.us',
    )
    expect(await ours.getTokens()).toHaveLength(4)
    await ours.close()
  })
})

describe("the official SDK's token flow and ours, sharing one token file", () => {
  it('a token refreshed by one is used by the other, with no second refresh', async () => {
    const { startAccountsEmulator } = await import('../../src/testing/index.ts')
    const { Initializer } = await import('../../src/index.ts')
    const emulator = await startAccountsEmulator()
    try {
      const client = emulator.clients[0]!
      const path = scratchPath(dir, 'shared-flow.txt')
      const user = 'ada@zylker.example'
      // Our flow signs the user in and saves the row.
      const first = await Initializer.initialize({
        environment: emulator.environment,
        store: new FileStore(path),
        token: new OAuthToken({
          userSignature: new UserSignature(user),
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          grantToken: emulator.issueGrantCode(),
        }),
      })
      const expire = async () => {
        const store = new FileStore(path)
        const row = (await store.findToken(probe(user)))!
        row.expiryTime = Date.now() - 1000
        await store.saveToken(row)
      }
      await expire()

      // The official flow, pointed at the emulator with a custom environment, on the same file.
      const tokenUrl = emulator.environment.tokenUrl
      const officialToken = officialTokenFor(user)
      await initializeOfficial(emulator.url, tokenUrl, officialToken, new OfficialFileStore(path))
      const refreshedByThem = await officialToken.getToken()
      expect(emulator.counts.refresh).toBe(1)
      expect(emulator.isValid(refreshedByThem)).toBe(true)

      // Ours finds the token they refreshed and uses it without refreshing again.
      const second = await Initializer.initialize({
        environment: emulator.environment,
        store: new FileStore(path),
        token: new OAuthToken({ userSignature: new UserSignature(user) }),
      })
      expect(await second.getAccessToken()).toBe(refreshedByThem)
      expect((await second.fetch('/crm/v8/Leads')).status).toBe(200)
      expect(emulator.counts.refresh).toBe(1)

      // And the other way round: ours refreshes, theirs uses it.
      await expire()
      const third = await Initializer.initialize({
        environment: emulator.environment,
        store: new FileStore(path),
        token: new OAuthToken({ userSignature: new UserSignature(user) }),
      })
      const refreshedByUs = await third.getAccessToken()
      expect(emulator.counts.refresh).toBe(2)
      const again = officialTokenFor(user)
      await initializeOfficial(emulator.url, tokenUrl, again, new OfficialFileStore(path))
      expect(await again.getToken()).toBe(refreshedByUs)
      expect(emulator.counts.refresh).toBe(2)
      expect(first.id).toBe(third.id)
    } finally {
      await emulator.close()
    }
  })
})
