import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Directory, DirectoryEntry } from './directory.js';
import type { Link } from '../net/link.js';
import type { RpcMethod } from '../protocol/clusterRpc.js';
import type { ServerToClient, ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConfigStore, Operator } from '../store/configStore.js';
import type { Broker } from './broker.js';
import type { ConfigCache } from './configCache.js';
import type { GrantedLogin } from './credentialStamp.js';
import type { LoginLimiter } from './loginLimiter.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { OperatorSessions } from './sessionBudget.js';
import type { WebProxy } from './webProxy.js';
import type { UsedTotpSteps } from './totpReplay.js';

export type Role = 'standalone' | 'primary' | 'member' | 'standby';

/** A client connected to this server. */
export interface ConnectedClient {
  id: string;
  entry: DirectoryEntry;
  ws: WebSocket;
  /** Cleared at each ping, set by the pong: a client still unset at the next ping is dead. */
  alive: boolean;
  /** Connected over TLS: a client that is not is closed when `require-tls` is switched on. */
  secure: boolean;
  send(message: ServerToClient): void;
  close(code: number, reason: string): void;
}

/** A control channel that has logged in: closed when its login no longer holds (see credentialStamp.ts). */
export interface LoggedInControl extends GrantedLogin {
  key: string;
  revoke(code: number, reason: string): void;
}

/** What a placement decision says about an arriving client. */
export type Placement = { keep: true } | { keep: false; redirect: string; reason: string };

export type Acting = { acting: true } | { acting: false; primary: string | undefined };

/**
 * What differs between a standalone server, a primary and a member: who answers controls, where
 * clients go, who knows the cluster's clients, and how a session reaches a client.
 */
export interface RoleBehaviour {
  epoch(): number;
  acting(): Acting;
  clusterAddresses(): { primary?: string; secondary?: string };
  /** Where an arriving client (its key proven) goes: kept here, or redirected. */
  place(clientId: string): Placement;
  servers(): ServerInfo[];
  clientUp(client: ConnectedClient): void;
  clientDown(client: ConnectedClient): void;
  /** Opens the far end of a session to a client anywhere in the cluster. */
  openFarEnd(entry: DirectoryEntry, target: SessionTarget, operator: string): Promise<Duplex>;
  /** A server dialled /v1/cluster; only a primary accepts it. */
  acceptClusterLink(link: Link): void;
  configChanged(): void;
  /** On a member: seconds since it last had a live link to the acting primary (0 while linked). */
  replicationLagSeconds?(): number;
  /** Answers a signed request from another server of the cluster. */
  rpc(method: RpcMethod, params: Record<string, unknown>, from: string): Promise<unknown>;
  start(): void;
  stop(): void;
}

/**
 * What the connection handlers need of the server: its parts, and the role's behaviour.
 */
export interface ServerContext extends Omit<
  RoleBehaviour,
  'acceptClusterLink' | 'configChanged' | 'rpc' | 'replicationLagSeconds' | 'start' | 'stop'
> {
  readonly advertise: string;
  readonly role: Role;
  readonly logger: Logger;
  readonly config: ConfigCache;
  readonly store: ConfigStore;
  readonly broker: Broker;
  /** Each operator's sessions by kind, over all its channels and the API (sessionBudget.ts). */
  readonly operatorSessions: OperatorSessions;
  /** The web proxy (`--web-proxy-listen`), when this server runs one. */
  readonly webProxy?: WebProxy;
  readonly limiter: LoginLimiter;
  /** TOTP codes already used, per operator: each is accepted once. */
  readonly totpSteps: UsedTotpSteps;
  /** Control channels logged in here, so that a revoked operator's can be closed. */
  readonly controls: Set<LoggedInControl>;
  readonly metrics: Metrics;
  /** Clients connected to this server, by id. */
  readonly clients: Map<string, ConnectedClient>;
  /** The clients a control may browse: the whole cluster's on the acting primary. */
  readonly directory: Directory;
  /** The operator logged in to the REST API with this session token (and when it expires), if any. */
  operatorOfToken(token: string): { operator: Operator; expiresAt: number; stamp: string } | undefined;
}
