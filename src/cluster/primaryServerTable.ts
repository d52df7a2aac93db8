import type { ServerInfo } from '../protocol/messages.js';
import type { RoleHost } from '../server/role.js';
import { ownRow, serverRow } from '../server/serverRow.js';
import type { ServerRow } from '../store/configStore.js';
import type { MemberLink } from './memberLink.js';

export interface PrimaryView {
  host: RoleHost;
  /** The server table, as configured. */
  table: readonly ServerRow[];
  /** The members whose links the primary holds, by address. */
  members: ReadonlyMap<string, MemberLink>;
  /** On the secondary standing in: the configured primary, shown down. */
  actingFor: string | undefined;
}

/**
 * The server table as the acting primary shows it: the configured primary (down) while the
 * secondary stands in, this server, linked standbys, then every row of the table with its state.
 */
export function primaryServerTable({ host, table, members, actingFor }: PrimaryView): ServerInfo[] {
  const selfRow = table.find((row) => row.address === host.advertise);
  const weight = host.config.settings['primary-weight'];
  const rows: ServerInfo[] = [];
  if (actingFor) rows.push(serverRow({ address: actingFor, role: 'primary', weight, status: 'down' }));
  rows.push(
    ownRow(host, {
      role: actingFor ? 'acting primary' : host.role,
      weight: selfRow?.weight ?? weight,
      secondary: selfRow?.secondary ?? false,
    }),
  );
  for (const m of members.values()) {
    if (m.standby)
      rows.push(
        serverRow({
          address: m.address,
          role: 'standby',
          clients: host.directory.clientsOn(m.address),
          sessions: m.sessions,
        }),
      );
  }
  for (const row of table) {
    if (row.address === host.advertise) continue;
    const member = members.get(row.address);
    const clients = host.directory.clientsOn(row.address);
    rows.push(
      serverRow({
        address: row.address,
        role: 'member',
        weight: row.weight,
        enabled: row.enabled,
        secondary: row.secondary,
        status: !member ? 'down' : member.draining && clients > 0 ? 'draining' : 'up',
        clients,
        sessions: member?.sessions ?? 0,
      }),
    );
  }
  return rows;
}
