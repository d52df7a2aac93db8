import type { ServerInfo } from './api.js';

export interface Share {
  address: string;
  /** The share of new clients this server should get: its weight among servers taking clients. */
  weight: number;
  /** The share of the cluster's clients it holds now. */
  clients: number;
}

/**
 * Weight share against actual share of clients, per server (pure). A server that is disabled or
 * not up takes no new clients, so its weight counts for nothing; its clients still count.
 */
export function shares(rows: ServerInfo[]): Share[] {
  const placing = (r: ServerInfo) => r.enabled && r.status === 'up';
  const totalWeight = rows.reduce((n, r) => n + (placing(r) ? r.weight : 0), 0);
  const totalClients = rows.reduce((n, r) => n + r.clients, 0);
  return rows.map((r) => ({
    address: r.address,
    weight: totalWeight > 0 && placing(r) ? r.weight / totalWeight : 0,
    clients: totalClients > 0 ? r.clients / totalClients : 0,
  }));
}
