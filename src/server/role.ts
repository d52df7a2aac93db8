import type { Duplex } from 'node:stream';
import type { Link } from '../net/link.js';
import type { RpcCall, RpcMethod, RpcParams, RpcResult } from '../protocol/clusterRpc.js';
import type { ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConfigStore } from '../store/configStore.js';
import type { Broker } from './broker.js';
import type { ConfigCache } from './configCache.js';
import type { ConnectedClient, LoggedInControl } from './context.js';
import type { DeviceRegistry } from './deviceRegistry.js';
import type { Directory, DirectoryEntry } from './directory.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/**
 * The role contract: what a role may use of its server (RoleHost, and ClusterHost for the cluster
 * roles) and what it provides (RoleBehaviour). The server implements the hosts and is handed its
 * behaviour by whoever composes it (src/cli/serverCommand.ts builds the cluster roles), so that
 * src/server never imports src/cluster: the arrow points from the cluster roles down to this file.
 */

/** The role a server was started in (`--role`). */
export type RoleName = 'standalone' | 'primary' | 'member' | 'standby';

/** What a placement decision says about an arriving client. */
export type Placement = { keep: true } | { keep: false; redirect: string; reason: string };

/** Whether this server answers controls now, and if not, which one does. */
export type Acting = { acting: true } | { acting: false; primary: string | undefined };

/** Where clients go first and next: told to each client in its `welcome`. */
export interface ClusterAddresses {
  primary?: string;
  secondary?: string;
}

/** The parts of its server that every role uses. */
export interface RoleHost {
  readonly advertise: string;
  readonly role: RoleName;
  readonly logger: Logger;
  readonly config: ConfigCache;
  readonly store: ConfigStore;
  readonly broker: Broker;
  readonly metrics: Metrics;
  /** Clients connected to this server, by id. */
  readonly clients: Map<string, ConnectedClient>;
  /** The clients a control may browse: the whole cluster's on the acting primary. */
  readonly directory: Directory;
  /** Set once the server has begun to stop. */
  readonly stopping: boolean;
}

/** What the cluster roles use besides: the other servers of the cluster. */
export interface ClusterHost extends RoleHost {
  /** This server's TLS certificate fingerprint, when it serves TLS: members announce it. */
  readonly fingerprint: string | undefined;
  /** Control channels logged in here: a server that stops acting as primary closes them (handControlsBack.ts). */
  readonly controls: Set<LoggedInControl>;
  /** Known devices: the acting primary copies them to the servers that may take over (deviceReplication.ts). */
  readonly devices: DeviceRegistry;
  /** The certificate pin `address` is trusted by: this server's own, or one the cluster vouched for (net/pins.ts). */
  pinOf(address: string | undefined): string | undefined;
  /** The known pins of these addresses, for a message that vouches for them. */
  pinsOf(addresses: (string | undefined)[]): Record<string, string> | undefined;
  /** Pins an authenticated cluster peer vouched for (a member's join, the primary's 'accepted'). */
  learnPins(pins: Record<string, string> | undefined): void;
  /** Opens a session data connection to another server of the cluster. */
  dialData(address: string, ticket: string, fingerprint: string | undefined): Promise<Duplex>;
  /** Opens the cluster link to the primary. */
  dialLink(address: string): Link;
  /** A signed one-shot call to another server, its result checked against the call's schema (clusterRpc.ts). */
  callRpc<M extends RpcMethod>(address: string, method: M, params: RpcParams<M>): Promise<RpcResult<M>>;
}

/**
 * What a role provides: what differs between a standalone server, a primary, a member and a
 * standby. Who answers controls, where clients go, who knows the cluster's clients, and how a
 * session reaches a client.
 */
export interface RoleBehaviour {
  epoch(): number;
  acting(): Acting;
  clusterAddresses(): ClusterAddresses;
  /** Where an arriving client (its key proven) goes: kept here, or redirected. */
  place(clientId: string): Placement;
  /** The rows of the server table that controls and the console show. */
  servers(): ServerInfo[];
  clientUp(client: ConnectedClient): void;
  clientDown(client: ConnectedClient): void;
  /** Opens the far end of a session to a client anywhere in the cluster. */
  openFarEnd(entry: DirectoryEntry, target: SessionTarget, operator: string): Promise<Duplex>;
  /** A server dialled /v1/cluster; only an acting primary accepts it. */
  acceptClusterLink(link: Link): void;
  configChanged(): void;
  /** On a member: seconds since it last had a live link to the acting primary (0 while linked). */
  replicationLagSeconds?(): number;
  /** On the secondary: clients in its copy of the acting primary's directory (directoryCopy.ts). */
  directoryCopySize?(): number;
  /**
   * The server's certificate now has another public key: a member announces its new pin (it
   * links again), or its primary would refuse it as a server presenting an unexpected certificate.
   */
  tlsKeyChanged?(): void;
  /** Answers a signed call from another server of the cluster, its parameters already checked. */
  rpc(call: RpcCall): Promise<unknown>;
  start(): void;
  stop(): void;
}

/** Builds a server's role once the server knows its address; standalone when none is given. */
export type RoleFactory = (host: ClusterHost) => RoleBehaviour;
