import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { Directory } from './directory.js';
import { CloseCodes } from '../protocol/closeCodes.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import { RPC_PATH, type RpcMethod, type RpcParams, type RpcResult } from '../protocol/clusterRpc.js';
import { MAX_BULK_MESSAGE_BYTES, MAX_MESSAGE_BYTES } from '../protocol/messages.js';
import { SESSION_UPGRADE } from '../net/dial.js';
import type { ConfigStore, Operator } from '../store/configStore.js';
import { Broker, type SessionClosed } from './broker.js';
import { OPERATOR_KIND_LIMITS, OperatorSessions } from './sessionBudget.js';
import { handleClientConnection } from './clientHandler.js';
import { ConfigCache } from './configCache.js';
import { provenPlacementId } from '../protocol/placementRequest.js';
import { wsLink } from '../net/wsLink.js';
import type { ConnectedClient, LoggedInControl, ServerContext } from './context.js';
import type { ClusterAddresses, ClusterHost, RoleBehaviour, RoleFactory, RoleName } from './role.js';
import { StandaloneRole } from './standaloneRole.js';
import { ClusterRpcClient } from './clusterRpcClient.js';
import { ClusterRpcServer } from './clusterRpcServer.js';
import { jsonReply } from './jsonReply.js';
import type { Link } from '../net/link.js';
import { openDataConnection, openWebSocket, type DialOptions } from '../net/dial.js';
import { controlRevokedBecause, handleControlConnection } from './controlHandler.js';
import { revokedBecause } from './credentialStamp.js';
import { UsedTotpSteps } from './totpReplay.js';
import { listen, type Listener } from './listener.js';
import { LoginLimiter } from './loginLimiter.js';
import { answerRaw } from './rawHttp.js';
import type { Logger } from './logger.js';
import { ConnectionLimits } from './connectionLimits.js';
import type { Metrics } from './metrics.js';
import { serverMetrics } from './serverMetrics.js';
import { TicketTable } from './tickets.js';
import { announcedPin, type TlsMaterial } from './tlsFiles.js';
import { knownPins, VouchedPins, WarnEvery } from '../net/pins.js';
import { WebFront } from './webFront.js';
import { BRIDGE_PATH } from './api/sessionBridge.js';
import { WebProxy } from './webProxy.js';
import { Admission } from './admission.js';
import { ClientCapacity } from './clientCapacity.js';
import { sessionSigningKey } from './api/sessionToken.js';
import { resumeKeys, type ResumeKeys } from '../protocol/resumeTicket.js';
import { fileBudget, readFileUse, type FileBudget } from './fileBudget.js';
import { DeviceRegistry } from './deviceRegistry.js';
import { enforceDeviceRules } from './deviceEnforcement.js';
import { ClientHeartbeat } from './clientHeartbeat.js';
import { returnMembers } from './returnMembers.js';

/** The store's local meta entry holding the pins vouched for by the cluster (not replicated). */
const VOUCHED_PINS_META = 'vouched-pins';

export interface ServerOptions {
  store: ConfigStore;
  logger: Logger;
  host: string;
  port: number;
  /** The HOST:PORT others use to reach this server; defaults to the bound address. */
  advertise?: string;
  role?: RoleName;
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
  /** Builds the role's behaviour (src/cli/serverCommand.ts: the cluster roles); standalone when not given. */
  behaviour?: RoleFactory;
  /** Client channels held at most (`--max-clients`); by default from the file limit (fileBudget.ts). */
  maxClients?: number;
  /** Per-operator session limits by kind, over the defaults (`--session-limit shell=4,exec=32`). */
  sessionLimits?: Readonly<Record<string, number>>;
  /** A listener for clients' web pages (`--web-proxy-listen`, webProxy.ts), each link its own origin. */
  webProxy?: { host: string; port: number; publicHost: string };
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

/** The label of `switchboard_refusals_total` for an error code: SB_ERR_SERVER_FULL is server_full. */
function refusalReason(code: string): string {
  return code.replace(/^SB_ERR_/, '').toLowerCase();
}

/**
 * One Switchboard server process: the listener, the client and control channels, the broker, and
 * the store. Alone it is a standalone server; whoever starts it may hand it another role's
 * behaviour (role.ts is the contract; src/cluster has the cluster roles), which it exposes as
 * `behaviour` to the connection handlers.
 */
export class SwitchboardServer implements ServerContext, ClusterHost {
  readonly role: RoleName;
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
  readonly devices: DeviceRegistry;
  advertise = '';
  readonly sessionSigningKey: Buffer;
  readonly resumeKeys: ResumeKeys;
  private listener: Listener | undefined;
  private readonly wss: WebSocketServer;
  private readonly heartbeat: ClientHeartbeat;
  private readonly connectionLimits: ConnectionLimits;
  private readonly admission: Admission;
  private readonly fileBudget: FileBudget;
  private readonly capacity: ClientCapacity;
  stopping = false;
  /** The role's behaviour: set by start(), before the first connection is accepted. */
  behaviour!: RoleBehaviour;
  /** The REST API and the console, made on first use. */
  private web: WebFront | undefined;
  private readonly rpcClient: ClusterRpcClient;
  private readonly rpcServer: ClusterRpcServer;
  private currentTls: TlsMaterial | undefined;
  /** Pins of the cluster's other servers, vouched for over authenticated cluster links (pins.ts). */
  private readonly vouched = new VouchedPins();
  /** A link refused for its certificate is retried for ever: warned once per server every 5 minutes. */
  private readonly mismatchWarnings = new WarnEvery(5 * 60_000);

  constructor(private readonly options: ServerOptions) {
    this.role = options.role ?? 'standalone';
    this.logger = options.logger;
    this.store = options.store;
    this.currentTls = options.tls;
    this.loadVouchedPins();
    this.config = new ConfigCache(options.store);
    this.sessionSigningKey = sessionSigningKey(options.clusterSecret);
    this.resumeKeys = resumeKeys(options.clusterSecret);
    this.devices = new DeviceRegistry(this);
    this.limiter = new LoginLimiter(this.config.settings['lockout-attempts']);
    this.metrics = serverMetrics(this, () => this.capacity.maxClients);
    if (options.tls) this.metrics.setCertificateExpiry(options.tls.notAfter);
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
    const files = readFileUse();
    this.fileBudget = fileBudget(files.fileLimit, files.filesInUse, options.maxClients);
    this.heartbeat = new ClientHeartbeat(this.clients, this.logger, (n) => this.metrics.heartbeatsMissed.inc(n));
    this.capacity = new ClientCapacity(this.fileBudget, this.logger, (reason) => this.metrics.refusals.inc({ reason }));
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
    this.rpcClient = new ClusterRpcClient({
      secret: options.clusterSecret,
      tls: Boolean(options.tls || options.clusterDial?.tls),
      from: () => this.advertise,
      // Every signed request carries our pin: the secondary's announcement and status calls thus
      // vouch for its key to members that were never told it (they linked before it ever joined).
      pin: () => this.fingerprint,
      blocked: (address) => this.blocked(address),
    });
    this.rpcServer = new ClusterRpcServer({
      secret: options.clusterSecret,
      logger: this.logger,
      blocked: (address) => this.blocked(address),
      answer: (call) => this.behaviour.rpc(call),
      learnPin: (from, pin) => this.learnPins({ [from]: pin }),
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
        admit: (a) => this.capacity.admitSocket(this.openSockets()) && this.connectionLimits.admit(a),
        release: (a) => this.connectionLimits.release(a),
      },
      this.tls,
      this.options.tlsOnly,
    );
    this.advertise = this.options.advertise ?? this.address;
    if (this.options.webProxy) {
      this.webProxy = new WebProxy(this, { ...this.options.webProxy, tls: this.tls });
      await this.webProxy.start();
    }
    this.behaviour = (this.options.behaviour ?? ((host) => new StandaloneRole(host)))(this);
    this.behaviour.start();
    this.devices.start();
    this.config.on('changed', (removed) => this.onConfigChanged(removed));
    this.config.watch();
    this.heartbeat.schedule(this.config.settings.heartbeat);
    this.logger.info(
      {
        address: this.address,
        advertise: this.advertise,
        role: this.role,
        tls: Boolean(this.tls),
        fingerprint: this.tls?.fingerprint,
        pin: this.tls?.pin,
        maxClients: this.fileBudget.maxClients,
        fileLimit: this.fileBudget.fileLimit,
        webProxy: this.webProxy?.address,
      },
      'listening',
    );
    if (this.fileBudget.source === 'flag-capped')
      this.logger.warn(
        {
          asked: this.options.maxClients,
          maxClients: this.fileBudget.maxClients,
          fileLimit: this.fileBudget.fileLimit,
        },
        'max-clients lowered to what the file limit leaves room for (raise the limit: ulimit -n, LimitNOFILE)',
      );
  }

  /** Stops accepting, tells clients to come back later (or elsewhere), and closes everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.config.stop();
    this.heartbeat.stop();
    this.behaviour.stop();
    const elsewhere = this.behaviour.clusterAddresses().primary;
    for (const client of this.clients.values()) {
      client.send({
        type: 'reconnect',
        reason: 'server shutting down',
        to: elsewhere !== this.advertise ? elsewhere : undefined,
        pin: elsewhere !== this.advertise ? this.pinOf(elsewhere) : undefined,
        delayMs: 1000,
      });
      client.close(CloseCodes.SHUTTING_DOWN, 'server shutting down');
    }
    this.broker.close();
    this.devices.stop();
    await this.listener?.close();
    await this.webProxy?.stop();
    this.logger.info('stopped');
  }

  /**
   * What members announce to their primary, which vouches for it to clients: the SHA-256 of the
   * public key (hex, the join message's format), so that a renewal keeping the key keeps it valid.
   */
  get fingerprint(): string | undefined {
    return this.tls && announcedPin(this.tls);
  }

  /** The pin clients and servers may trust `address` by: ours, or one vouched for by the cluster. */
  pinOf(address: string | undefined): string | undefined {
    if (!address) return undefined;
    return address === this.advertise ? this.fingerprint : this.vouched.get(address);
  }

  /** The pins of these addresses that we know, for a message that vouches for them. */
  pinsOf(addresses: (string | undefined)[]): Record<string, string> | undefined {
    return knownPins(addresses, (a) => this.pinOf(a));
  }

  /**
   * Where clients go first and next, and the members they may return to if the primary is lost,
   * with the pins this server knows for them all (told in welcome).
   */
  clusterAddressesWithPins(): ClusterAddresses & { pins?: Record<string, string>; members?: string[] } {
    const addresses = this.behaviour.clusterAddresses();
    const members = returnMembers(addresses, this.config.servers);
    const pins = this.pinsOf([addresses.primary, addresses.secondary, ...(members ?? [])]);
    return { ...addresses, pins, ...(members?.length ? { members } : {}) };
  }

  /**
   * Pins learned from an authenticated cluster peer (a member's join, the primary's 'accepted'):
   * kept in the store's local meta, so a member restarted while the primary is down still links
   * to the secondary it learned.
   */
  learnPins(pins: Record<string, string> | undefined): void {
    const own = Object.fromEntries(Object.entries(pins ?? {}).filter(([a]) => a !== this.advertise));
    if (this.vouched.learnAll(own)) this.store.setMeta(VOUCHED_PINS_META, JSON.stringify(this.vouched));
  }

  private loadVouchedPins(): void {
    try {
      this.vouched.learnAll(JSON.parse(this.store.meta(VOUCHED_PINS_META) ?? '{}') as Record<string, string>);
    } catch {
      /* unreadable: learned again at the next link */
    }
  }

  get tlsPin(): string | undefined {
    return this.tls?.pin;
  }

  /** The certificate served now (a reload replaces it). */
  get tls(): TlsMaterial | undefined {
    return this.currentTls;
  }

  /**
   * Serves a new certificate to new connections at once; open connections and sessions keep
   * theirs. A server started without TLS has no TLS port to give it to.
   */
  reloadTls(material: TlsMaterial): void {
    if (!this.currentTls) throw new Error('this server was started without TLS');
    const previous = this.currentTls;
    this.currentTls = material;
    this.listener?.setTls(material);
    this.metrics.setCertificateExpiry(material.notAfter);
    this.logger.info(
      { fingerprint: material.fingerprint, pin: material.pin, notAfter: material.notAfter.toISOString() },
      'TLS certificate reloaded',
    );
    if (material.pin !== previous.pin) this.behaviour.tlsKeyChanged?.();
  }

  dialData(address: string, ticket: string, fingerprint: string | undefined): Promise<Duplex> {
    return openDataConnection(address, ticket, { tls: Boolean(fingerprint), fingerprint }).catch((err: Error) => {
      if ((err as SwitchboardError).code === ErrorCodes.TLS_MISMATCH && this.mismatchWarnings.due(address, Date.now()))
        this.logger.warn(
          { server: address, err: err.message },
          `server ${address} presents a certificate whose key is not the one it announced when it linked: restart it, or check its TLS files; its sessions fail until then`,
        );
      throw err;
    });
  }

  dialLink(address: string): Link {
    // A member pinned to its primary (--primary-fingerprint) trusts the secondary by the pin the
    // primary vouched for: after a failover it links there without being configured for it.
    const dial = this.options.clusterDial ?? { tls: false };
    const ws = openWebSocket(
      address,
      this.blocked(address) ? '/v1/fault-blocked' : '/v1/cluster',
      dial.fingerprint ? { ...dial, fingerprint: this.vouched.forAddress(dial.fingerprint, address) } : dial,
      {},
      MAX_BULK_MESSAGE_BYTES,
    );
    ws.once('error', (err: Error & { code?: string }) => {
      if (err.code === ErrorCodes.TLS_MISMATCH && this.mismatchWarnings.due(address, Date.now()))
        this.logger.warn(
          { server: address, err: err.message },
          `cannot link to ${address}: its certificate matches neither --primary-fingerprint nor the pin the primary vouched for; set --primary-fingerprint to the pin \`switchboard tls show\` prints there (old and new, comma-separated, during a key roll)`,
        );
    });
    return wsLink(ws, { remoteAddress: address });
  }

  private blocked(address: string): boolean {
    return this.options.faultBlock?.includes(address) ?? false;
  }

  callRpc<M extends RpcMethod>(address: string, method: M, params: RpcParams<M>): Promise<RpcResult<M>> {
    return this.rpcClient.call(address, method, params);
  }

  openSockets(): number {
    return this.listener?.openSockets() ?? 0;
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
    // A login or hello still in flight while the server stops may read the store again
    // (ConfigCache.check): nothing stopped is started again.
    if (this.stopping) return;
    if (removedKeys.length) {
      const removed = new Set(removedKeys);
      for (const client of this.clients.values()) {
        if (removed.has(client.entry.key)) client.close(CloseCodes.KEY_REMOVED, 'key removed');
      }
      this.logger.info({ keys: removedKeys }, 'keys removed; their clients disconnected');
    }
    const { heartbeat } = this.config.settings;
    if (heartbeat !== this.heartbeat.seconds) {
      this.heartbeat.schedule(heartbeat);
      // Each client gives up on a server silent for 2.5 of the heartbeats it knows: told the new
      // one, it neither gives up on a longer one nor waits out the old after a shorter one.
      for (const client of this.clients.values())
        if (client.followsHeartbeat) client.send({ type: 'heartbeat', heartbeat });
    }
    if (this.config.settings['require-tls']) {
      for (const client of this.clients.values())
        if (!client.secure) client.close(CloseCodes.TLS_REQUIRED, 'this server now requires TLS');
    }
    this.connectionLimits.setMax(this.config.settings['max-connections-per-address']);
    this.admission.configure(this.config.settings['admission-rate']);
    this.behaviour.configChanged();
    this.revokeStaleLogins();
    enforceDeviceRules(this);
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

  private tlsRefused(req: http.IncomingMessage): boolean {
    return this.config.settings['require-tls'] && !(req.socket as { encrypted?: boolean }).encrypted;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!URL.canParse(req.url ?? '/', 'http://x'))
      return jsonReply(res, 400, { error: { code: ErrorCodes.BAD_MESSAGE, message: 'malformed request URL' } });
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === RPC_PATH) return this.rpcServer.handle(req, res);
    if (url.pathname === '/metrics') {
      void this.metrics.text().then((text) => {
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(text);
      });
      return;
    }
    if (url.pathname === '/healthz') {
      const { behaviour } = this;
      return jsonReply(res, this.stopping ? 503 : 200, {
        role: this.role,
        acting: behaviour.acting().acting,
        epoch: behaviour.epoch(),
      });
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
    if (this.stopping) return this.refuseUpgrade(socket, 403, ErrorCodes.SHUTTING_DOWN, 'server is shutting down');
    if (this.tlsRefused(req))
      return this.refuseUpgrade(socket, 403, ErrorCodes.TLS_REQUIRED, 'this server requires TLS (https)');
    if (path.startsWith('/v1/session/'))
      return this.onDataConnection(req, socket, head, ticketFromPath(path.slice('/v1/session/'.length)));
    if (path === BRIDGE_PATH && URL.canParse(req.url ?? '/', 'http://x'))
      return (this.web ??= new WebFront(this)).bridge.upgrade(req, socket, head, new URL(req.url ?? '/', 'http://x'));
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
      // Redirects above cost no slot; a client this server would keep needs one.
      const full = this.capacity.take(socket);
      if (full) return this.refuseUpgrade(socket, 503, full.code, full.message, full.retryAfterMs);
    }
    const handler =
      path === '/v1/client' ? handleClientConnection : path === '/v1/control' ? handleControlConnection : undefined;
    if (!handler) return this.refuseUpgrade(socket, 404, 'SB_ERR_NOT_FOUND', `no channel ${path}`);
    // The 101 and the channel's first message (the challenge) leave in one write: one system call
    // and one wake-up of the peer instead of two, per connection of a reconnect storm.
    socket.cork();
    process.nextTick(() => socket.uncork());
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
    const placement = this.behaviour.place(id);
    if (placement.keep) return false;
    this.metrics.redirected(placement.redirect, 'upgrade');
    this.logger.debug(
      { peer: req.socket.remoteAddress, channel: 'client', client: id, to: placement.redirect },
      'client redirected',
    );
    const location = `${this.tls ? 'https' : 'http'}://${placement.redirect}/v1/client`;
    answerRaw(
      socket,
      307,
      { redirect: { to: placement.redirect, reason: placement.reason, pin: this.pinOf(placement.redirect) } },
      { Location: location },
    );
    return true;
  }

  /** A refusal before the upgrade, counted in /metrics by its code (`SB_ERR_SERVER_FULL`: server_full). */
  private refuseUpgrade(socket: Duplex, status: number, code: string, message: string, retryAfterMs?: number): void {
    this.metrics.refusals.inc({ reason: refusalReason(code) });
    refuseUpgrade(socket, status, code, message, retryAfterMs);
  }

  /** Shared by every client and control WebSocket rather than a closure each. */
  private readonly onWsError = (err: Error): void => this.logger.debug({ err: err.message }, 'websocket error');

  private onDataConnection(req: http.IncomingMessage, socket: Duplex, head: Buffer, ticket: string): void {
    if ((req.headers.upgrade ?? '').toLowerCase() !== SESSION_UPGRADE)
      return this.refuseUpgrade(socket, 404, ErrorCodes.BAD_TICKET, 'not a session upgrade');
    const onSocket = this.broker.tickets.take(ticket);
    if (!onSocket) {
      this.logger.warn({ peer: req.socket.remoteAddress }, 'data connection with an unknown or used ticket');
      return this.refuseUpgrade(socket, 404, ErrorCodes.BAD_TICKET, 'unknown, expired or used ticket');
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SESSION_UPGRADE}\r\n\r\n`);
    if (head.length) socket.unshift(head);
    onSocket(socket, head);
  }
}
