import { Metrics } from './metrics.js';
import type { RoleBehaviour, RoleHost } from './role.js';

/** A server's metrics, read at scrape time from its parts and its role (set by then). */
export function serverMetrics(
  server: RoleHost & { readonly behaviour: RoleBehaviour },
  maxClients: () => number,
): Metrics {
  return new Metrics({
    clients: () => server.clients.size,
    sessions: () => server.broker.activeCount,
    directorySize: () => server.directory.size,
    epoch: () => server.behaviour.epoch(),
    configVersion: () => server.config.version,
    acting: () => server.behaviour.acting().acting,
    replicationLagSeconds: () => server.behaviour.replicationLagSeconds?.() ?? 0,
    directoryCopySize: () => server.behaviour.directoryCopySize?.() ?? 0,
    storeBacklog: () => server.store.backlogStats(),
    maxClients,
  });
}
