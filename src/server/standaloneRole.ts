import type { Duplex } from 'node:stream';
import type { DirectoryEntry } from './directory.js';
import type { Link } from '../net/link.js';
import { CloseCodes } from '../protocol/closeCodes.js';
import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ServerInfo, SessionTarget } from '../protocol/messages.js';
import type { ConnectedClient } from './context.js';
import { ownRow } from './serverRow.js';
import type { Acting, ClusterAddresses, Placement, RoleBehaviour, RoleHost } from './role.js';

/** Opens a session to a client connected to this very server. */
export function openLocal(host: RoleHost, entry: DirectoryEntry, target: SessionTarget): Promise<Duplex> {
  const client = host.clients.get(entry.id);
  if (!client)
    return Promise.reject(new SwitchboardError(ErrorCodes.UNKNOWN_CLIENT, `client ${entry.name} is not connected`));
  return host.broker.requestFromClient(client, target);
}

/** A server on its own: it keeps every client and answers every control. */
export class StandaloneRole implements RoleBehaviour {
  constructor(private readonly host: RoleHost) {}

  epoch(): number {
    return 0;
  }

  acting(): Acting {
    return { acting: true };
  }

  clusterAddresses(): ClusterAddresses {
    return {};
  }

  place(): Placement {
    return { keep: true };
  }

  servers(): ServerInfo[] {
    return [ownRow(this.host)];
  }

  clientUp(client: ConnectedClient): void {
    this.host.directory.upsert(client.entry);
  }

  clientDown(client: ConnectedClient): void {
    this.host.directory.remove(client.id, this.host.advertise);
  }

  openFarEnd(entry: DirectoryEntry, target: SessionTarget): Promise<Duplex> {
    return openLocal(this.host, entry, target);
  }

  acceptClusterLink(link: Link): void {
    link.close(CloseCodes.NOT_IN_CLUSTER, 'this server is standalone, not a cluster primary');
  }

  configChanged(): void {}

  rpc(): Promise<unknown> {
    return Promise.reject(new SwitchboardError(ErrorCodes.NOT_IN_CLUSTER, 'this server is standalone'));
  }
  start(): void {}
  stop(): void {}
}
