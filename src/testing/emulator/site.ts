// One listener of the emulator, serving one data center: listens, reads each request, counts it,
// applies a queued fault or the latency, hands it to the pages or the endpoints, and writes the
// answer. Every data center has its own port, counters and faults; they share the ledger.
// Closing destroys every socket, hung ones included.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { Environment } from '../../oauth/environments.js'
import { Admin } from './admin.js'
import { countRefusal, resetCounts, tally, zeroCounts } from './counts.js'
import { Endpoints, NOT_FOUND } from './endpoints.js'
import { FaultQueue, faultReply } from './faults.js'
import {
  COUNTER_OF,
  json,
  kindOf,
  readBody,
  readParams,
  route,
  type Context,
  type Kind,
  type Reply,
  type Route,
} from './http.js'
import type { Ledger } from './ledger.js'
import { ConsentPages } from './pages.js'
import { MAIN_DATA_CENTER, type Settings } from './settings.js'
import type { EmulatorDataCenter, EmulatorEndpoint, EmulatorFault } from './types.js'

/** One data center's listener. */
export class Site implements EmulatorDataCenter {
  readonly counts = zeroCounts()
  private readonly server: Server
  private readonly faults = new FaultQueue()
  private readonly pages: ConsentPages
  private readonly endpoints: Endpoints
  private readonly admin: Admin
  private readonly context: Context
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private address = ''
  private env: Environment | undefined
  private closing: Promise<void> | undefined

  constructor(
    private readonly settings: Settings,
    private readonly ledger: Ledger,
    readonly location: string,
    private readonly port: number,
    originOf: (dataCenter: string) => string,
  ) {
    this.context = {
      settings,
      ledger,
      dataCenter: location,
      origin: () => this.address,
      originOf,
    }
    this.pages = new ConsentPages(this.context)
    this.endpoints = new Endpoints(this.context)
    this.admin = new Admin(this.context, this.counts)
    this.server = createServer((req, res) => void this.dispatch(req, res))
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
  }

  get url(): string {
    return this.address
  }

  get environment(): Environment {
    if (this.env === undefined) throw new Error('the emulator is not listening')
    return this.env
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, this.settings.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const { address, port } = this.server.address() as AddressInfo
    // Listening on every interface: this machine reaches it on loopback, the one address an
    // http Environment may name.
    const reachable = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address
    const host = reachable.includes(':') ? `[${reachable}]` : reachable
    this.address = `http://${host}:${port}`
    this.env = new Environment({
      name: this.location === MAIN_DATA_CENTER ? 'emulator' : `emulator-${this.location}`,
      apiDomain: this.address,
      accountsUrl: this.address,
    })
  }

  resetCounts(): void {
    resetCounts(this.counts)
  }

  fail(fault: EmulatorFault, options: { times?: number; on?: EmulatorEndpoint } = {}): void {
    this.faults.add(fault, options)
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer)
      this.timers.clear()
      // Never listening (another site's port was taken): nothing to wait for.
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
      for (const socket of this.sockets) socket.destroy()
    })
    return this.closing
  }

  // -- request handling -------------------------------------------------------------------

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The admin endpoints are not part of what is emulated: never counted, delayed or faulted.
    let counted = false
    const count = (): void => {
      if (!counted) this.counts.total += 1
      counted = true
    }
    try {
      const url = new URL(req.url ?? '/', this.address)
      const path = route(req.method, url.pathname)
      const admin = path === 'adminCounts' || path === 'adminRevoke'
      if (!admin) count()
      const body = await readBody(req)
      if (body === undefined) {
        if (!admin) this.counts.rejected += 1
        return this.send(res, json(413, { error: 'invalid_request' }))
      }
      const params = await readParams(url, req.headers['content-type'] ?? '', body).catch(
        () => undefined,
      )
      if (admin) {
        const reply =
          params === undefined
            ? json(400, { error: 'invalid_request' })
            : this.answerAdmin(path, params, req)
        return this.send(res, reply)
      }
      const kind = params === undefined ? 'other' : kindOf(path, params)
      const counter = COUNTER_OF[kind]
      if (counter !== undefined) this.counts[counter] += 1
      if (params !== undefined) this.tally(kind, params)

      const fault = this.faults.take(kind)
      await this.delay()
      if (fault !== undefined) {
        this.counts.faults += 1
        return this.sendFault(fault, req, res)
      }
      const reply =
        params === undefined
          ? this.endpoints.tokenError('invalid_request')
          : this.answer(path, params, req)
      if (reply.rejected) this.counts.rejected += 1
      if (reply.refusal !== undefined) countRefusal(this.counts, reply.refusal)
      this.send(res, reply)
    } catch {
      // A bug of the emulator: answer rather than leave the client waiting. Nothing is logged.
      count()
      this.counts.rejected += 1
      this.send(res, json(500, { error: 'internal_error' }))
    }
  }

  /** Tallies a refresh by its token and its user, an exchange by its client. */
  private tally(kind: Kind, params: Map<string, string>): void {
    if (kind === 'refresh') {
      const token = params.get('refresh_token')
      if (token !== undefined) tally(this.counts.refreshesByToken, token)
      const user = this.ledger.refreshTokenUser(token)
      if (user !== undefined) tally(this.counts.refreshesByUser, user.email)
    } else if (kind === 'exchange') {
      const clientId = params.get('client_id')
      if (clientId !== undefined) tally(this.counts.exchangesByClient, clientId)
    }
  }

  private answerAdmin(path: Route, params: Map<string, string>, req: IncomingMessage): Reply {
    return path === 'adminCounts' ? this.admin.readCounts(req) : this.admin.revoke(params, req)
  }

  private answer(path: Route, params: Map<string, string>, req: IncomingMessage): Reply {
    switch (path) {
      case 'consent':
        return this.pages.consent(params)
      case 'approve':
        return this.pages.approve(params)
      case 'token':
        return this.endpoints.token(params)
      case 'revoke':
        return this.endpoints.revoke(params)
      case 'currentUser':
        return this.endpoints.users(params, req)
      case 'leads':
        return this.endpoints.leads(req)
      // Admin routes are answered by answerAdmin, never here.
      case 'adminCounts':
      case 'adminRevoke':
      case 'notFound':
        return json(404, NOT_FOUND)
    }
  }

  private delay(): Promise<void> {
    if (this.settings.latencyMs <= 0) return Promise.resolve()
    // Cleared by close(); the request's socket is destroyed then, so it never resumes.
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer)
        resolve()
      }, this.settings.latencyMs)
      this.timers.add(timer)
    })
  }

  private send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed || res.writableEnded) return
    res.writeHead(reply.status, reply.headers).end(reply.body)
  }

  private sendFault(fault: EmulatorFault, req: IncomingMessage, res: ServerResponse): void {
    // A hung request keeps its socket until the client gives up or close() destroys it.
    if (fault === 'hang') return
    if (fault === 'reset') {
      req.socket.resetAndDestroy()
      return
    }
    this.send(res, faultReply(fault, this.context))
  }
}
