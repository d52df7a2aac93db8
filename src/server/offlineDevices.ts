import type { ClientInfo } from '../protocol/messages.js';
import type { DeviceRegistry } from './deviceRegistry.js';
import type { VisibleKeys } from './controlOps.js';

/** A device that is not connected, as `browse --all` lists it after the online clients. */
export interface OfflineClientInfo extends ClientInfo {
  state: 'offline';
  lastSeen: string;
}

/** The known devices of the caller's keys that are offline now, narrowed like browse (group, text). */
export function offlineDevices(
  devices: Pick<DeviceRegistry, 'list'>,
  keys: VisibleKeys,
  params: { group?: string; filter?: string },
): OfflineClientInfo[] {
  const text = params.filter?.toLowerCase();
  return devices
    .list()
    .filter(
      (d) =>
        d.state === 'offline' &&
        (!keys || keys.has(d.key)) &&
        (params.group === undefined || d.group === params.group) &&
        (!text ||
          [d.id, d.name, d.group, d.platform, d.lastAddress, d.server].some((f) => f.toLowerCase().includes(text))),
    )
    .map((d) => ({
      id: d.id,
      name: d.name,
      group: d.group,
      platform: d.platform,
      address: d.lastAddress,
      server: d.server,
      connectedAt: '',
      state: 'offline',
      lastSeen: d.lastSeen,
    }));
}
