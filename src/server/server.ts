import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { Directory, type DirectoryEntry } from './directory.js';
import { CloseCodes } from '../protocol/closeCodes.js';
import { ErrorCodes, SwitchboardError, toWireError } from '../protocol/errors.js';
import {
  openReply,
  RPC_PATH,
  RpcReply,
  RpcRequest,
  SeenNonces,
  signReply,
  signRequest,
  verifyReply,
  verifyRequest,
  type RpcMethod,
} from '../protocol/clusterRpc.js';
import {
  decode,
  MAX_BULK_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES,
  type ServerInfo,
  type SessionTarget,
} from '../protocol/messages.js';
import { SESSION_UPGRADE } from '../net/dial.js';
import type { ConfigStore, Operator } from '../store/configStore.js';
import { Broker, type SessionClosed } from './broker.js';
import { OPERATOR_KIND_LIMITS, OperatorSessions } from './sessionBudget.js';
import { handleClientConnection } from './clientHandler.js';
import { ConfigCache } from './configCache.js';
import { provenPlacementId } from '../protocol/placementRequest.js';
import { wsLink } from '../net/wsLink.js';
import type {
  Acting,
  ConnectedClient,
  LoggedInControl,
  Placement,
  Role,
  RoleBehaviour,
  ServerContext,
} from './context.js';
import { StandaloneRole } from './standaloneRole.js';
import type { ClusterHost } from '../cluster/clusterHost.js';
import type { Link } from '../net/link.js';
import { openDataConnection, openWebSocket, postJson, type DialOptions } from '../net/dial.js';
import { controlRevokedBecause, handleControlConnection } from './controlHandler.js';
import { revokedBecause } from './credentialStamp.js';
import { UsedTotpSteps } from './totpReplay.js';
import { listen, type Listener } from './listener.js';
import { LoginLimiter } from './loginLimiter.js';
import { answerRaw } from './rawHttp.js';
import type { Logger } from './logger.js';
import { ConnectionLimits } from './connectionLimits.js';
import { Metrics } from './metrics.js';
import { TicketTable } from './tickets.js';
import type { TlsMaterial } from './tlsFiles.js';
import { WebFront } from './webFront.js';
import { WebProxy } from './webProxy.js';
import { Admission } from './admission.js';

export interface ServerOptions {
  store: ConfigStore;
  logger: Logger;
  host: string;
  port: number;
  /** The HOST:PORT others use to reach this server; defaults to the bound address. */
  advertise?: string;
  role?: Role;
  tls?: TlsMaterial;
  /** The port speaks TLS alone: no first-byte sniff for plain HTTP (listener.ts says why it matters). */
  tlsOnly?: boolean;
  ticketTtlMs?: number;
  /** How a member reaches its primary (TLS, pinning). */
  clusterDial?: DialOptions;
  /** The shared secret servers of one cluster prove to each other. */
  clusterSecret?: string;
  /**
   * Test-only fault hook: cluster traffic to and from these addresses is dropped, as if the
   * network between this server and them were cut.
   */
  faultBlock?: readonly string[];
  /** Per-operator session limits by kind, over the defaults (`--session-limit shell=4,exec=32`). */
  sessionLimits?: Readonly<Record<string, number>>;
  /** A listener for clients' web pages (`--web-proxy-listen`, webProxy.ts), each link its own origin. */
  webProxy?: { host: string; port: number; publicHost: string };
  /** The role's behaviour; standalone when not given. */
  behaviour?: (host: ClusterHost) => RoleBehaviour;
}

/** How long a call to another server may take, connection included. */
const RPC_TIMEOUT_MS = 3000;

function jsonReply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** The ticket in a data connection's path; malformed percent-encoding is an unknown ticket, not a crash. */
function ticketFromPath(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return '';
  }
}

/** A refusal before the upgrade; `retryAfterMs` (a 503) goes out as Retry-After and, exactly, in the body. */
function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, retryAfterMs?: number): void {
  if (retryAfterMs === undefined) return answerRaw(socket, status, { error: { code, message } });
  answerRaw(
    socket,
    status,
    { error: { code, message, retryAfterMs } },
    { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
  );
}

/**
 * One Switchboard server process: the listener, the client and control channels, the broker, and
 * the store. Alone it is a standalone server; the cluster module supplies the primary's and the
 * member's behaviour through the context hooks.
 */
export class SwitchboardServer implements ServerContext, ClusterHost {
  readonly role: Role;
  readonly logger: Logger;
  readonly store: ConfigStore;
  readonly config: ConfigCache;
  readonly broker: Broker;
  readonly operatorSessions: OperatorSessions;
  webProxy: WebProxy | undefined;
  readonly limiter: LoginLimiter;
  readonly totpSteps = new UsedTotpSteps();
  readonly controls = new Set<LoggedInControl>();
  readonly metrics: Metrics;
  readonly clients = new Map<string, ConnectedClient>();
  readonly directory = new Directory();
  advertise = '';
  private listener: Listener | undefined;
  private readonly wss: WebSocketServer;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatSeconds = 0;
  private readonly connectionLimits: ConnectionLimits;
  private readonly admission: Admission;
  stopping = false;
  private behaviour!: RoleBehaviour;
  /** The REST API and the console, made on first use. */
  private web: WebFront | undefined;
  /** Nonces of cluster requests already answered: a replay is refused. */
  private readonly rpcNonces = new SeenNonces();

  constructor(private readonly options: ServerOptions) {
    this.role = options.role ?? 'standalone';
    this.logger = options.logger;
    this.store = options.store;
    this.config = new ConfigCache(options.store);
    this.limiter = new LoginLimiter(this.config.settings['lockout-attempts']);
    this.metrics = new Metrics({
      clients: () => this.clients.size,
      sessions: () => this.broker.activeCount,
      directorySize: () => this.directory.size,
      epoch: () => this.epoch(),
      configVersion: () => this.config.version,
      acting: () => this.acting().acting,
      replicationLagSeconds: () => this.behaviour.replicationLagSeconds?.() ?? 0,
      storeBacklog: () => this.store.backlogStats(),
    });
    // Once when the store starts refusing writes, once per interval while it does, once when it is back.
    this.store.onBacklogReport((report) => {
      if (report.state === 'failing')
        this.logger.error(
          report,
          'the store refuses writes (disk full?): audit records wait in memory and are retried',
        );
      else this.logger.warn(report, 'the store takes writes again: waiting audit records written');
    });
    this.connectionLimits = new ConnectionLimits(this.config.settings['max-connections-per-address']);
    this.admission = new Admission(this.config.settings['admission-rate'], Date.now());
    this.operatorSessions = new OperatorSessions({ ...OPERATOR_KIND_LIMITS, ...options.sessionLimits });
    this.broker = new Broker(new TicketTable(options.ticketTtlMs ?? 10_000), (s) => this.sessionClosed(s));
    // One frame limit for everyone who dials in, cluster links included: a peer has proven nothing
    // when its first frames arrive. Members send their client lists in batches (clientBatches).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // A broken handshake (no key, a wrong version or method) gets a JSON error like every refusal.
    this.wss.on('wsClientError', (err, socket) =>
      refuseUpgrade(socket, 400, ErrorCodes.BAD_MESSAGE, `bad WebSocket handshake: ${err.message}`),
    );
  }

  get address(): string {
    const a = this.listener!.address;
    return `${a.address}:${a.port}`;
  }

  get port(): number {
    return this.listener!.address.port;
  }

  async start(): Promise<void> {
    this.listener = await listen(
      this.options.host,
      this.options.port,
      {
        request: (q, s) => this.onRequest(q, s),
        upgrade: (q, s, h) => this.onUpgrade(q, s, h),
        admit: (a) => this.connectionLimits.admit(a),
        release: (a) => this.connectionLimits.release(a),
      },
      this.options.tls,
      this.options.tlsOnly,
    );
    this.advertise = this.options.advertise ?? this.address;
    if (this.options.webProxy) {
      this.webProxy = new WebProxy(this, { ...this.options.webProxy, tls: this.options.tls });
      await this.webProxy.start();
    }
    this.behaviour = (this.options.behaviour ?? ((host) => new StandaloneRole(host)))(this);
    this.behaviour.start();
    this.config.on('changed', (removed) => this.onConfigChanged(removed));
    this.config.watch();
    this.scheduleHeartbeat();
    this.logger.info(
      {
        address: this.address,
        advertise: this.advertise,
        role: this.role,
        tls: Boolean(this.options.tls),
        fingerprint: this.options.tls?.fingerprint,
        webProxy: this.webProxy?.address,
      },
      'listening',
    );
  }

  /** Stops accepting, tells clients to come back later (or elsewhere), and closes everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.config.stop();
    clearInterval(this.heartbeatTimer);
    this.behaviour.stop();
    const elsewhere = this.clusterAddresses().primary;
    for (const client of this.clients.values()) {
      client.send({
        type: 'reconnect',
        reason: 'server shutting down',
        to: elsewhere !== this.advertise ? elsewhere : undefined,
        delayMs: 1000,
      });
      client.close(CloseCodes.SHUTTING_DOWN, 'server shutting down');
    }
    this.broker.close();
    await this.listener?.close();
    await this.webProxy?.stop();
    this.logger.info('stopped');
  }

  get fingerprint(): string | undefined {
    return this.options.tls?.fingerprint;
  }

  dialData(address: string, ticket: string, fingerprint: string | undefined): Promise<Duplex> {
    return openDataConnection(address, ticket, { tls: Boolean(fingerprint), fingerprint });
  }

  dialLink(address: string): Link {
    const ws = openWebSocket(
      address,
      this.blocked(address) ? '/v1/fault-blocked' : '/v1/cluster',
      this.options.clusterDial ?? { tls: false },
      {},
      MAX_BULK_MESSAGE_BYTES,
    );
    return wsLink(ws, { remoteAddress: address });
  }

  private blocked(address: string): boolean {
    return this.options.faultBlock?.includes(address) ?? false;
  }

  async callRpc(address: string, method: RpcMethod, params: Record<string, unknown> = {}): Promise<unknown> {
    const secret = this.options.clusterSecret;
    if (!secret) throw new SwitchboardError(ErrorCodes.NOT_IN_CLUSTER, 'this server has no cluster secret');
    if (this.blocked(address)) throw new SwitchboardError(ErrorCodes.UNREACHABLE, `${address} is cut off (fault hook)`);
    const request = signRequest(secret, method, params, this.advertise, Date.now());
    const { body } = await this.postRpc(address, request);
    const reply = RpcReply.safeParse(body);
    if (!reply.success || !verifyReply(secret, request.nonce, reply.data))
      throw new SwitchboardError(ErrorCodes.CLUSTER_AUTH, `${address} did not prove the cluster secret`);
    if (reply.data.error)
      throw new SwitchboardError(reply.data.error.code as typeof ErrorCodes.INTERNAL, reply.data.error.message);
    try {
      return openReply(secret, request.nonce, reply.data);
    } catch {
      throw new SwitchboardError(
        ErrorCodes.CLUSTER_AUTH,
        `${address} sent a reply that does not open with the cluster secret`,
      );
    }
  }

  /**
   * Posts a signed request. A server that speaks TLS (it serves TLS, or links to its primary in
   * TLS) calls in TLS: in a TLS cluster the target may take nothing else (`--tls-only`). No
   * certificate is pinned: each server may have its own, the cluster secret, which signs request
   * and reply, authenticates both ends, and the reply's result is sealed under it (a man in the
   * middle reads no snapshot). A target that turns out not to speak TLS is called again in plain.
   */
  private async postRpc(address: string, request: object): Promise<{ status: number; body: unknown }> {
    const post = (dial: DialOptions) => postJson(address, RPC_PATH, request, dial, RPC_TIMEOUT_MS);
    if (!this.options.tls && !this.options.clusterDial?.tls) return post({ tls: false });
    try {
      return await post({ tls: true, insecure: true });
    } catch (err) {
      if ((err as SwitchboardError).code !== ErrorCodes.TLS_MISMATCH) throw err;
      return post({ tls: false });
    }
  }

  /** A signed request from another server: verified, answered by the role, and the reply signed. */
  private onRpc(req: http.IncomingMessage, res: http.ServerResponse): void {
    const secret = this.options.clusterSecret;
    if (!secret || req.method !== 'POST')
      return jsonReply(res, 404, { error: { code: ErrorCodes.NOT_IN_CLUSTER, message: 'not a cluster server' } });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_MESSAGE_BYTES) req.destroy();
    });
    req.on('end', () => {
      try {
        this.answerRpc(secret, req, res, body);
      } catch (err) {
        // Unauthenticated input reaches this far: whatever goes wrong answers 400, never throws.
        this.logger.warn({ peer: req.socket.remoteAddress, err: (err as Error).message }, 'cluster request refused');
        jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: 'malformed cluster request' } });
      }
    });
  }

  private answerRpc(secret: string, req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const parsed = decode(RpcRequest, body);
    if (!parsed.ok) return jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: parsed.error } });
    const request = parsed.value;
    const now = Date.now();
    let refusal = verifyRequest(secret, request, now);
    if (!refusal && !this.rpcNonces.first(request.nonce, now)) refusal = 'request replayed (nonce already used)';
    if (refusal || this.blocked(request.from)) {
      this.logger.warn(
        { peer: req.socket.remoteAddress, from: request.from, reason: refusal ?? 'fault hook' },
        'cluster request refused',
      );
      return jsonReply(res, 403, { error: { code: ErrorCodes.CLUSTER_AUTH, message: refusal ?? 'cut off' } });
    }
    this.behaviour.rpc(request.method, request.params, request.from).then(
      (result) => jsonReply(res, 200, signReply(secret, request.nonce, { result })),
      (err: unknown) => jsonReply(res, 200, signReply(secret, request.nonce, { error: toWireError(err) })),
    );
  }

  openSockets(): number {
    return this.listener?.openSockets() ?? 0;
  }

  // ---- the role's behaviour ------------------------------------------------------------------
  epoch(): number {
    return this.behaviour.epoch();
  }

  acting(): Acting {
    return this.behaviour.acting();
  }

  clusterAddresses(): { primary?: string; secondary?: string } {
    return this.behaviour.clusterAddresses();
  }

  place(clientId: string): Placement {
    return this.behaviour.place(clientId);
  }

  servers(): ServerInfo[] {
    return this.behaviour.servers();
  }

  clientUp(client: ConnectedClient): void {
    this.behaviour.clientUp(client);
  }

  clientDown(client: ConnectedClient): void {
    this.behaviour.clientDown(client);
  }

  openFarEnd(entry: DirectoryEntry, target: SessionTarget, operator: string): Promise<Duplex> {
    return this.behaviour.openFarEnd(entry, target, operator);
  }

  // ---- internals -----------------------------------------------------------------------------
  private sessionClosed(s: SessionClosed): void {
    this.metrics.sessionsOpened.inc();
    this.metrics.bytesRelayed.inc({ direction: 'to_client' }, s.bytesToClient);
    this.metrics.bytesRelayed.inc({ direction: 'from_client' }, s.bytesFromClient);
    const detail = {
      session: s.id,
      client: s.clientId,
      clientName: s.clientName,
      server: s.server,
      kind: s.kind ?? s.target.kind,
      target: s.target,
      bytesToClient: s.bytesToClient,
      bytesFromClient: s.bytesFromClient,
      durationMs: s.durationMs,
    };
    this.logger.info(detail, 'session closed');
    this.store.audit(s.operator, 'session.closed', detail);
  }

  private onConfigChanged(removedKeys: string[]): void {
    if (removedKeys.length) {
      const removed = new Set(removedKeys);
      for (const client of this.clients.values()) {
        if (removed.has(client.entry.key)) client.close(CloseCodes.KEY_REMOVED, 'key removed');
      }
      this.logger.info({ keys: removedKeys }, 'keys removed; their clients disconnected');
    }
    if (this.config.settings.heartbeat !== this.heartbeatSeconds) this.scheduleHeartbeat();
    if (this.config.settings['require-tls']) {
      for (const client of this.clients.values())
        if (!client.secure) client.close(CloseCodes.TLS_REQUIRED, 'this server now requires TLS');
    }
    this.connectionLimits.setMax(this.config.settings['max-connections-per-address']);
    this.admission.configure(this.config.settings['admission-rate']);
    this.behaviour.configChanged();
    this.revokeStaleLogins();
  }

  /**
   * Ends what a removed operator, or one whose password or TOTP changed, still holds
   * here: its control channels (closed with a code that says why, their unclaimed sessions
   * withdrawn) and its API tokens. Requests check the same at each call; this ends idle ones too.
   */
  private revokeStaleLogins(): void {
    for (const control of this.controls) {
      const why = controlRevokedBecause(this, control);
      if (why) control.revoke(why.code, why.reason);
    }
    const ended = this.web?.api.sessions.revokeStale((login) => revokedBecause(login, this.store)) ?? 0;
    if (ended) this.logger.info({ sessions: ended }, 'api sessions of revoked operators ended');
  }

  /** One timer for all clients: ping each; one that did not answer the last ping is dead. */
  private scheduleHeartbeat(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatSeconds = this.config.settings.heartbeat;
    this.heartbeatTimer = setInterval(() => {
      for (const client of this.clients.values()) {
        if (!client.alive) {
          this.logger.info({ client: client.id }, 'client missed its heartbeat');
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }, this.heartbeatSeconds * 1000);
    this.heartbeatTimer.unref();
  }

  private tlsRefused(req: http.IncomingMessage): boolean {
    return this.config.settings['require-tls'] && !(req.socket as { encrypted?: boolean }).encrypted;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!URL.canParse(req.url ?? '/', 'http://x'))
      return jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: 'malformed request URL' } });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === RPC_PATH) return this.onRpc(req, res);
    if (url.pathname === '/metrics') {
      void this.metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(text);
      });
      return;
    }
    if (url.pathname === '/healthz') {
      const acting = this.acting();
      return jsonReply(res, this.stopping ? 503 : 200, { role: this.role, acting: acting.acting, epoch: this.epoch() });
    }
    if (this.tlsRefused(req))
      return jsonReply(res, 403, {
        error: { code: ErrorCodes.TLS_REQUIRED, message: 'this server requires TLS (https)' },
      });
    if ((this.web ??= new WebFront(this)).handle(req, res, url)) return;
    jsonReply(res, 404, { error: { code: 'SB_ERR_NOT_FOUND', message: `no route ${url.pathname}` } });
  }

  operatorOfToken(token: string): { operator: Operator; expiresAt: number; stamp: string } | undefined {
    return (this.web ??= new WebFront(this)).api.operatorOfToken(token);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // The socket already has its 'error' listener (listener.ts gives every socket one).
    const path = (req.url ?? '/').split('?')[0]!;
    // Callbacks below that outlive the upgrade must not capture `req`: its headers and state would
    // then stay in memory for as long as the connection does (a few hundred bytes per idle client).
    const remote = req.socket;
    if (this.stopping) return refuseUpgrade(socket, 403, ErrorCodes.SHUTTING_DOWN, 'server is shutting down');
    if (this.tlsRefused(req))
      return refuseUpgrade(socket, 403, ErrorCodes.TLS_REQUIRED, 'this server requires TLS (https)');
    if (path.startsWith('/v1/session/'))
      return this.onDataConnection(req, socket, head, ticketFromPath(path.slice('/v1/session/'.length)));
    if (path === '/v1/cluster') {
      return this.wss.handleUpgrade(req, socket, head, (ws) => this.behaviour.acceptClusterLink(wsLink(ws, remote)));
    }
    if (path === '/v1/client') {
      // A reconnect storm is admitted at a steady rate; the rest are each told when to come back.
      // A key proven in the headers puts the caller in the budget that strangers cannot reach
      // (admission.ts), and the same check serves the redirect.
      const now = Date.now();
      const provenId = provenPlacementId(req.headers, this.config.keys, now);
      const refused = this.admission.take(provenId !== undefined, remote.remoteAddress ?? '', now);
      if (refused) {
        this.metrics.refusals.inc({ reason: refused.reason });
        return refuseUpgrade(socket, 503, ErrorCodes.BUSY, refused.message, refused.waitMs);
      }
      if (provenId !== undefined && this.redirectedEarly(provenId, req, socket)) return;
    }
    const handler =
      path === '/v1/client' ? handleClientConnection : path === '/v1/control' ? handleControlConnection : undefined;
    if (!handler) return refuseUpgrade(socket, 404, 'SB_ERR_NOT_FOUND', `no channel ${path}`);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', this.onWsError);
      handler(this, ws, remote);
    });
  }

  /**
   * A client (`id`) that proved its key in its upgrade headers, and that this server would send elsewhere,
   * is redirected by a plain HTTP 307 (src/protocol/placementRequest.ts); true if it was.
   */
  private redirectedEarly(id: string, req: http.IncomingMessage, socket: Duplex): boolean {
    const placement = this.place(id);
    if (placement.keep) return false;
    this.metrics.redirected(placement.redirect, 'upgrade');
    this.logger.debug(
      { peer: req.socket.remoteAddress, channel: 'client', client: id, to: placement.redirect },
      'client redirected',
    );
    const location = `${this.options.tls ? 'https' : 'http'}://${placement.redirect}/v1/client`;
    answerRaw(socket, 307, { redirect: { to: placement.redirect, reason: placement.reason } }, { Location: location });
    return true;
  }

  /** Shared by every client and control WebSocket rather than a closure each. */
  private readonly onWsError = (err: Error): void => this.logger.debug({ err: err.message }, 'websocket error');

  private onDataConnection(req: http.IncomingMessage, socket: Duplex, head: Buffer, ticket: string): void {
    if ((req.headers.upgrade ?? '').toLowerCase() !== SESSION_UPGRADE)
      return refuseUpgrade(socket, 404, ErrorCodes.BAD_TICKET, 'not a session upgrade');
    const onSocket = this.broker.tickets.take(ticket);
    if (!onSocket) {
      this.logger.warn({ peer: req.socket.remoteAddress }, 'data connection with an unknown or used ticket');
      return refuseUpgrade(socket, 404, ErrorCodes.BAD_TICKET, 'unknown, expired or used ticket');
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SESSION_UPGRADE}\r\n\r\n`);
    if (head.length) socket.unshift(head);
    onSocket(socket, head);
  }
}
