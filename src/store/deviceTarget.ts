import type { DeviceRecord } from './deviceStore.js';

/** A device as `config device list` and `GET /api/v1/devices` show it. */
export interface DeviceListing extends DeviceRecord {
  /** The name the client reports, when an admin named it otherwise. */
  reportedName?: string;
  /** `known`: from a data directory (`config --data`), which cannot tell whether it is connected. */
  state: 'online' | 'offline' | 'pending' | 'revoked' | 'known';
  revoked: boolean;
  approved: boolean;
}

/**
 * Known devices as the `config device` subcommands, the REST API and the console edit them. One
 * implementation works on a store (offline, and inside the server behind the API), another speaks
 * to the acting primary's REST API.
 */
export interface DeviceTarget {
  devices(): Promise<DeviceListing[]>;
  revoke(id: string): Promise<DeviceListing>;
  unrevoke(id: string): Promise<DeviceListing>;
  approve(id: string): Promise<DeviceListing>;
  rename(id: string, name: string): Promise<DeviceListing>;
  remove(id: string): Promise<void>;
}
