import type WebSocket from 'ws';
import type { Directory, DirectoryEntry } from '../cluster/directory.js';
import type { ClientHello, ServerToClient, ServerInfo } from '../protocol/messages.js';
import type { ConfigStore } from '../store/configStore.js';
import type { Broker } from './broker.js';
import type { ConfigCache } from './configCache.js';
import type { LoginLimiter } from './loginLimiter.js';
import type { Logger } from './logger.js';

export type Role = 'standalone' | 'primary' | 'member' | 'standby';

/** A client connected to this server. */
export interface ConnectedClient {
  id: string;
  entry: DirectoryEntry;
  ws: WebSocket;
  /** Cleared at each ping, set by the pong: a client still unset at the next ping is dead. */
  alive: boolean;
  allowForward: number[];
  allowExec: boolean;
  send(message: ServerToClient): void;
  close(code: number, reason: string): void;
}

/** What a placement decision says about an arriving client. */
export type Placement = { keep: true } | { keep: false; redirect: string; reason: string };

/**
 * What the connection handlers need of the server. The cluster plugs its behaviour in through
 * `place`, `acting`, `servers` and the client up/down hooks; a standalone server answers them itself.
 */
export interface ServerContext {
  readonly advertise: string;
  readonly role: Role;
  readonly logger: Logger;
  readonly config: ConfigCache;
  readonly store: ConfigStore;
  readonly broker: Broker;
  readonly limiter: LoginLimiter;
  /** Clients connected to this server, by id. */
  readonly clients: Map<string, ConnectedClient>;
  /** The clients a control may browse: the whole cluster's on the acting primary. */
  readonly directory: Directory;
  epoch(): number;
  /** Is this server the one that answers controls? Otherwise, the address of the one that does. */
  acting(): { acting: true } | { acting: false; primary: string | undefined };
  clusterAddresses(): { primary?: string; secondary?: string };
  place(hello: ClientHello): Placement;
  servers(): ServerInfo[];
  clientUp(client: ConnectedClient): void;
  clientDown(client: ConnectedClient): void;
  /** Opens the far end of a session to a client anywhere in the cluster. */
  openFarEnd(entry: DirectoryEntry, target: import('../protocol/messages.js').SessionTarget): Promise<import('node:stream').Duplex>;
}
