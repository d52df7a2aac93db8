import type { Duplex } from 'node:stream';
import type { RoleHost } from '../server/standaloneRole.js';
import type { RpcMethod } from '../protocol/clusterRpc.js';
import type { Link } from '../net/link.js';

/** What the cluster roles need of their server, beyond what every role uses. */
export interface ClusterHost extends RoleHost {
  /** This server's TLS certificate fingerprint, when it serves TLS: members announce it. */
  readonly fingerprint: string | undefined;
  /** Opens a session data connection to another server of the cluster. */
  dialData(address: string, ticket: string, fingerprint: string | undefined): Promise<Duplex>;
  /** Opens the cluster link to the primary. */
  dialLink(address: string): Link;
  /** A signed one-shot request to another server (status, snapshot, step-down, acting-primary). */
  callRpc(address: string, method: RpcMethod, params?: Record<string, unknown>): Promise<unknown>;
}

export interface ClusterOptions {
  secret: string;
  /** For members: the primary's address, as configured. */
  primary?: string;
}
