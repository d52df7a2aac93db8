import type { ServerInfo } from '../protocol/messages.js';
import type { RoleHost } from './role.js';

/**
 * One row of the server table that controls and the console show, every role's rows built here.
 * What is not given is what a server holding nothing shows: enabled, not the secondary, up, no
 * clients, no sessions. Fields always in the same order, so every row prints alike.
 */
export function serverRow(row: Pick<ServerInfo, 'address' | 'role'> & Partial<ServerInfo>): ServerInfo {
  return {
    address: row.address,
    role: row.role,
    weight: row.weight ?? 0,
    enabled: row.enabled ?? true,
    secondary: row.secondary ?? false,
    status: row.status ?? 'up',
    clients: row.clients ?? 0,
    sessions: row.sessions ?? 0,
  };
}

/** This server's own row: its clients and sessions now, draining once it stops. */
export function ownRow(host: RoleHost, row: Partial<ServerInfo> = {}): ServerInfo {
  return serverRow({
    address: host.advertise,
    role: host.role,
    weight: host.config.settings['primary-weight'],
    status: host.stopping ? 'draining' : 'up',
    clients: host.clients.size,
    sessions: host.broker.activeCount,
    ...row,
  });
}
