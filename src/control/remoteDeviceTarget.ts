import type { DeviceListing, DeviceTarget } from '../store/deviceTarget.js';
import type { ApiClient } from './apiClient.js';

const enc = encodeURIComponent;

/** Known devices of a running cluster, through the acting primary's REST API (applied and replicated at once). */
export class RemoteDeviceTarget implements DeviceTarget {
  constructor(private readonly api: ApiClient) {}

  devices(): Promise<DeviceListing[]> {
    return this.api.request('GET', '/devices') as Promise<DeviceListing[]>;
  }

  revoke(id: string): Promise<DeviceListing> {
    return this.api.request('POST', `/devices/${enc(id)}/revoke`) as Promise<DeviceListing>;
  }

  unrevoke(id: string): Promise<DeviceListing> {
    return this.api.request('POST', `/devices/${enc(id)}/unrevoke`) as Promise<DeviceListing>;
  }

  approve(id: string): Promise<DeviceListing> {
    return this.api.request('POST', `/devices/${enc(id)}/approve`) as Promise<DeviceListing>;
  }

  rename(id: string, name: string): Promise<DeviceListing> {
    return this.api.request('PUT', `/devices/${enc(id)}`, { name }) as Promise<DeviceListing>;
  }

  async remove(id: string): Promise<void> {
    await this.api.request('DELETE', `/devices/${enc(id)}`);
  }
}
