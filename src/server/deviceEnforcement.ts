import { CloseCodes } from '../protocol/closeCodes.js';
import type { ServerContext } from './context.js';

/**
 * What a configuration change means for the clients connected to this server, on every server of
 * the cluster (each applies the replicated change itself): a revoked device is cut off, a client
 * holding a rotated key's old secret is handed the new one (or, once the old one is retired, cut
 * off), and devices approved or renamed are shown as such. One log line per kind of change.
 */
export function enforceDeviceRules(ctx: Pick<ServerContext, 'clients' | 'config' | 'devices' | 'logger'>): void {
  const { config } = ctx;
  const current = new Map<string, string>();
  const successorOf = new Map<string, string>();
  for (const k of config.keys) {
    if (k.successor === undefined) current.set(k.name, k.value);
    else successorOf.set(`${k.name}\n${k.value}`, k.successor);
  }
  const retired = new Set(config.retiredKeys.map((k) => `${k.name}\n${k.value}`));
  let revoked = 0;
  let handed = 0;
  let rotatedOut = 0;
  for (const client of ctx.clients.values()) {
    if (config.deviceRules.get(client.id)?.revoked) {
      client.close(CloseCodes.DEVICE_REVOKED, `device ${client.id} was revoked by an admin`);
      revoked++;
      continue;
    }
    const name = client.entry.key;
    if (client.keySecret === current.get(name)) continue;
    const held = `${name}\n${client.keySecret}`;
    const successor = successorOf.get(held);
    if (successor !== undefined) {
      client.handOver(name, successor);
      handed++;
    } else if (retired.has(held)) {
      client.close(CloseCodes.KEY_ROTATED, `key ${name} was rotated and this secret retired`);
      rotatedOut++;
    }
  }
  if (revoked) ctx.logger.info({ clients: revoked }, 'revoked devices disconnected');
  if (handed) ctx.logger.info({ clients: handed }, "rotated keys' new secrets handed to connected clients");
  if (rotatedOut) ctx.logger.info({ clients: rotatedOut }, 'clients still on retired key secrets disconnected');
  ctx.devices.configChanged();
}
