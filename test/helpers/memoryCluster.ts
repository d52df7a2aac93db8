/**
 * Servers of a cluster in one process, without sockets: each MemoryHost is a real role host (a
 * real store in SQLite memory, the real broker, directory, config cache and metrics) whose links,
 * data connections and signed calls go to the other hosts of its MemoryWorld in memory. The roles
 * run unchanged on it: what differs from a process is only the transport.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { memoryLinkPair, memoryStreamPair } from '../../src/net/memoryLink.js';
import type { Link } from '../../src/net/link.js';
import { clientIdFor } from '../../src/protocol/clientIdentity.js';
import { parseCall, RpcCalls, type RpcMethod, type RpcParams, type RpcResult } from '../../src/protocol/clusterRpc.js';
import { ErrorCodes, fromWireError, SwitchboardError, toWireError } from '../../src/protocol/errors.js';
import type { ServerToClient, SessionTarget } from '../../src/protocol/messages.js';
import { Broker } from '../../src/server/broker.js';
import { ConfigCache } from '../../src/server/configCache.js';
import { knownPins } from '../../src/net/pins.js';
import { DeviceRegistry } from '../../src/server/deviceRegistry.js';
import type { ConnectedClient, LoggedInControl } from '../../src/server/context.js';
import { Directory, type DirectoryEntry } from '../../src/server/directory.js';
import { silentLogger } from '../../src/server/logger.js';
import type { Metrics } from '../../src/server/metrics.js';
import { serverMetrics } from '../../src/server/serverMetrics.js';
import type { ClusterHost, RoleBehaviour, RoleFactory, RoleName } from '../../src/server/role.js';
import { StandaloneRole } from '../../src/server/standaloneRole.js';
import { TicketTable } from '../../src/server/tickets.js';
import { ConfigStore } from '../../src/store/configStore.js';

export const KEY_NAME = 'k1';

/** A client connected to a MemoryHost: what the server sent it, and an echo behind each session it opens. */
export class MemoryClient implements ConnectedClient {
  readonly id = clientIdFor(randomBytes(32));
  readonly entry: DirectoryEntry;
  lastSeen = Date.now();
  secure = false;
  followsHeartbeat = true;
  keySecret = 'memory-key-secret';
  readonly handedOver: { keyName: string; successor: string }[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly received: ServerToClient[] = [];
  /** Not a socket: a role never touches it (the server's heartbeat does). */
  readonly ws = undefined as never;

  constructor(
    private readonly host: MemoryHost,
    readonly name: string,
  ) {
    this.entry = {
      id: this.id,
      name,
      group: 'memory',
      platform: 'test',
      address: '127.0.0.1',
      server: host.advertise,
      connectedAt: new Date().toISOString(),
      key: KEY_NAME,
    };
  }

  handOver(keyName: string, successor: string): void {
    this.handedOver.push({ keyName, successor });
  }

  send(message: ServerToClient): void {
    this.received.push(message);
    // A session request: dial the data connection with the ticket, and echo whatever comes.
    if (message.type !== 'session') return;
    const onSocket = this.host.broker.tickets.take(message.ticket);
    if (!onSocket) return;
    const [near, far] = memoryStreamPair();
    far.pipe(far);
    onSocket(near, Buffer.alloc(0));
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = { code, reason };
    if (this.host.clients.get(this.id) === this) {
      this.host.clients.delete(this.id);
      this.host.broker.clientGone(this.id);
      this.host.behaviour.clientDown(this);
    }
  }
}

export class MemoryHost implements ClusterHost {
  readonly logger = silentLogger();
  readonly store = ConfigStore.memory();
  readonly config: ConfigCache;
  readonly broker: Broker;
  readonly metrics: Metrics;
  readonly clients = new Map<string, ConnectedClient>();
  readonly directory = new Directory();
  readonly fingerprint = undefined;
  readonly controls = new Set<LoggedInControl>();
  readonly devices: DeviceRegistry;
  /** Pins learned from peers: no TLS in memory, so only what a role vouched for. */
  readonly pins = new Map<string, string>();
  stopping = false;
  /** Unreachable: links, data connections and calls to it fail, as to a killed process. */
  down = false;
  /** Calls to it get no answer, as from a server whose accept queue is full of returning clients. */
  swamped = false;
  behaviour!: RoleBehaviour;

  constructor(
    private readonly world: MemoryWorld,
    readonly advertise: string,
    readonly role: RoleName,
    private readonly factory: RoleFactory = (host) => new StandaloneRole(host),
  ) {
    this.config = new ConfigCache(this.store);
    this.broker = new Broker(new TicketTable(5000), () => undefined);
    this.metrics = serverMetrics(this, () => 0);
    this.devices = new DeviceRegistry(this);
  }

  pinOf(address: string | undefined): string | undefined {
    return address ? this.pins.get(address) : undefined;
  }

  pinsOf(addresses: (string | undefined)[]): Record<string, string> | undefined {
    return knownPins(addresses, (a) => this.pins.get(a));
  }

  learnPins(pins: Record<string, string> | undefined): void {
    for (const [address, pin] of Object.entries(pins ?? {})) this.pins.set(address, pin);
  }

  start(): this {
    this.behaviour = this.factory(this);
    this.behaviour.start();
    return this;
  }

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.behaviour.stop();
    this.broker.close();
    // As the server does: the registry's slices and last write come before the store closes.
    this.devices.stop();
    this.store.close();
  }

  /** A configuration change made here, as `config` would make it: the role hears of it. */
  changeConfig(change: (store: ConfigStore) => void): void {
    change(this.store);
    this.config.check();
    this.behaviour.configChanged();
  }

  /** A client arrives (its hello accepted) and comes up here. */
  connect(name: string): MemoryClient {
    const client = new MemoryClient(this, name);
    this.clients.set(client.id, client);
    this.behaviour.clientUp(client);
    return client;
  }

  dialLink(address: string): Link {
    const [mine, theirs] = memoryLinkPair(this.advertise, address);
    setImmediate(() => {
      const target = this.world.reachable(address, this);
      if (target) target.behaviour.acceptClusterLink(theirs);
      else mine.close(1006, `${address} unreachable`);
    });
    return mine;
  }

  async dialData(address: string, ticket: string): Promise<Duplex> {
    const target = this.world.reachable(address, this);
    if (!target) throw new SwitchboardError(ErrorCodes.UNREACHABLE, `${address} unreachable`);
    const onSocket = target.broker.tickets.take(ticket);
    if (!onSocket) throw new SwitchboardError(ErrorCodes.BAD_TICKET, 'unknown, expired or used ticket');
    const [near, far] = memoryStreamPair();
    onSocket(far, Buffer.alloc(0));
    return near;
  }

  /** As the RPC server and client would: parameters parsed at the far end, the result parsed here. */
  async callRpc<M extends RpcMethod>(address: string, method: M, params: RpcParams<M>): Promise<RpcResult<M>> {
    const target = this.world.reachable(address, this);
    if (!target) throw new SwitchboardError(ErrorCodes.UNREACHABLE, `${address} unreachable`);
    if (target.swamped) return new Promise(() => undefined);
    const call = parseCall(method, params, this.advertise);
    if (!call) throw new SwitchboardError(ErrorCodes.BAD_MESSAGE, `${method}: parameters do not fit the call`);
    let result: unknown;
    try {
      result = await target.behaviour.rpc(call);
    } catch (err) {
      // Across the wire only the code and message go: what the caller sees is what it would see.
      const wire = toWireError(err);
      throw fromWireError(wire);
    }
    return RpcCalls[method].result.parse(result) as RpcResult<M>;
  }

  /** A session's far end, opened through this host's role, and one echo round trip through it. */
  async echoThrough(entry: DirectoryEntry, text: string, target: SessionTarget = { kind: 'forward', port: 7 }) {
    const far = await this.behaviour.openFarEnd(entry, target, 'tester');
    return new Promise<string>((resolve, reject) => {
      let got = '';
      far.on('data', (chunk: Buffer) => {
        got += chunk.toString();
        if (got.length >= text.length) {
          far.destroy();
          resolve(got);
        }
      });
      far.on('error', reject);
      far.write(text);
    });
  }
}

/** The hosts of one cluster in one process, by address. */
export class MemoryWorld {
  readonly hosts = new Map<string, MemoryHost>();

  add(address: string, role: RoleName, factory?: RoleFactory): MemoryHost {
    const host = new MemoryHost(this, address, role, factory);
    this.hosts.set(address, host);
    return host;
  }

  /** The host at that address, if it is up and the caller is too (a down host reaches nobody). */
  reachable(address: string, from: MemoryHost): MemoryHost | undefined {
    const host = this.hosts.get(address);
    return host && !host.down && !host.stopping && !from.down ? host : undefined;
  }

  stopAll(): void {
    for (const host of this.hosts.values()) host.stop();
  }
}

/** Waits for a condition the roles reach by themselves (a link up, a promotion): polled, bounded. */
export async function until<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
