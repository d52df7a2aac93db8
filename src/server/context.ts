import type WebSocket from 'ws';
import type { DirectoryEntry } from './directory.js';
import type { ServerToClient } from '../protocol/messages.js';
import type { Operator } from '../store/configStore.js';
import type { DeviceRegistry } from './deviceRegistry.js';
import type { GrantedLogin } from './credentialStamp.js';
import type { LoginLimiter } from './loginLimiter.js';
import type { ClusterAddresses, RoleBehaviour, RoleHost } from './role.js';
import type { OperatorSessions } from './sessionBudget.js';
import type { WebProxy } from './webProxy.js';
import type { UsedTotpSteps } from './totpReplay.js';
import type { ResumeKeys } from '../protocol/resumeTicket.js';

/** The role contract lives in role.ts; these names stay importable from here. */
export type { Acting, Placement, RoleBehaviour, RoleName as Role } from './role.js';

/** A client connected to this server. */
export interface ConnectedClient {
  id: string;
  entry: DirectoryEntry;
  ws: WebSocket;
  /** When the client last answered a ping (its pong): the heartbeat judges it by this (clientHeartbeat.ts). */
  lastSeen: number;
  /** Connected over TLS: a client that is not is closed when `require-tls` is switched on. */
  secure: boolean;
  /** Its hello said it follows a changed heartbeat (the `heartbeat` message). */
  followsHeartbeat: boolean;
  /** The key secret the client holds (a rotated key's old one until it is handed the new). */
  keySecret: string;
  /** Hands the client its key's new secret (a rotation). */
  handOver(keyName: string, successor: string): void;
  send(message: ServerToClient): void;
  close(code: number, reason: string): void;
}

/** A control channel that has logged in: closed when its login no longer holds (see credentialStamp.ts). */
export interface LoggedInControl extends GrantedLogin {
  key: string;
  revoke(code: number, reason: string): void;
  /** Closes the channel for a reason that is not the login's (this server stopped acting). */
  close(code: number, reason: string): void;
}

/**
 * What the connection handlers need of the server: the parts a role uses too, the role's
 * behaviour itself (`ctx.behaviour.place(...)`, `ctx.behaviour.servers()`), and the logins' parts.
 */
export interface ServerContext extends RoleHost {
  readonly behaviour: RoleBehaviour;
  /** Each operator's sessions by kind, over all its channels and the API (sessionBudget.ts). */
  readonly operatorSessions: OperatorSessions;
  /** The web proxy (`--web-proxy-listen`), when this server runs one. */
  readonly webProxy?: WebProxy;
  readonly limiter: LoginLimiter;
  /** TOTP codes already used, per operator: each is accepted once. */
  readonly totpSteps: UsedTotpSteps;
  /** Control channels logged in here, so that a revoked operator's can be closed. */
  readonly controls: Set<LoggedInControl>;
  /** The key API session tokens are signed with: the same on every server of a cluster (sessionToken.ts). */
  readonly sessionSigningKey?: Buffer;
  /** What client resume tickets are issued and checked with: the same key on every server of a cluster (resumeTicket.ts). */
  readonly resumeKeys: ResumeKeys;
  /** Known devices: recorded on the acting primary, decided (pending, named) on every server. */
  readonly devices: DeviceRegistry;
  /** This server's key pin (`spki:sha256/...`) when it serves TLS. */
  readonly tlsPin: string | undefined;
  /** The certificate pin `address` is trusted by: this server's own, or one the cluster vouched for (net/pins.ts). */
  pinOf(address: string | undefined): string | undefined;
  /** Where clients go first and next, with the pins this server knows for both (told in welcome). */
  clusterAddressesWithPins(): ClusterAddresses & { pins?: Record<string, string>; members?: string[] };
  /** The operator logged in to the REST API with this session token (and when it expires), if any. */
  operatorOfToken(token: string): { operator: Operator; expiresAt: number; stamp: string } | undefined;
}
