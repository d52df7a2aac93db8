import type { Key, Operator, ServerRow } from '../store/configStore.js';
import type { ConfigTarget, ConfigView, NewOperator, OperatorPatch, ServerPatch } from '../store/configTarget.js';
import type { ApiClient } from './apiClient.js';
import type { DeviceTarget } from '../store/deviceTarget.js';
import { RemoteDeviceTarget } from './remoteDeviceTarget.js';

const enc = encodeURIComponent;

/**
 * The configuration of a running cluster, edited through the acting primary's REST API: the server
 * validates, writes, audits (as the logged-in operator) and replicates each change at once.
 */
export class RemoteConfigTarget implements ConfigTarget {
  constructor(private readonly api: ApiClient) {}

  keys(): Promise<Key[]> {
    return this.api.request('GET', '/keys') as Promise<Key[]>;
  }

  addKey(name: string, value?: string): Promise<Key> {
    return this.api.request('POST', '/keys', { name, ...(value !== undefined ? { value } : {}) }) as Promise<Key>;
  }

  async removeKey(name: string): Promise<void> {
    await this.api.request('DELETE', `/keys/${enc(name)}`);
  }

  rotateKey(name: string, graceSeconds?: number, value?: string): Promise<Key> {
    return this.api.request('POST', `/keys/${enc(name)}/rotate`, {
      ...(graceSeconds !== undefined ? { graceSeconds } : {}),
      ...(value !== undefined ? { value } : {}),
    }) as Promise<Key>;
  }

  retireKey(name: string): Promise<Key> {
    return this.api.request('POST', `/keys/${enc(name)}/retire`) as Promise<Key>;
  }

  deviceTarget(): DeviceTarget {
    return new RemoteDeviceTarget(this.api);
  }

  operators(): Promise<Operator[]> {
    return this.api.request('GET', '/operators') as Promise<Operator[]>;
  }

  addOperator(op: NewOperator): Promise<Operator> {
    return this.api.request('POST', '/operators', op) as Promise<Operator>;
  }

  updateOperator(name: string, patch: OperatorPatch): Promise<Operator> {
    return this.api.request('PUT', `/operators/${enc(name)}`, patch) as Promise<Operator>;
  }

  enrolTotp(name: string): Promise<{ uri: string }> {
    return this.api.request('POST', `/operators/${enc(name)}/totp`) as Promise<{ uri: string }>;
  }

  async removeOperator(name: string): Promise<void> {
    await this.api.request('DELETE', `/operators/${enc(name)}`);
  }

  async servers(): Promise<ServerRow[]> {
    return (await this.show()).servers;
  }

  addServer(row: ServerRow): Promise<ServerRow> {
    return this.api.request('POST', '/servers', row) as Promise<ServerRow>;
  }

  setServer(address: string, patch: ServerPatch): Promise<ServerRow> {
    return this.api.request('PUT', `/servers/${enc(address)}`, patch) as Promise<ServerRow>;
  }

  async removeServer(address: string): Promise<void> {
    await this.api.request('DELETE', `/servers/${enc(address)}`);
  }

  setSetting(name: string, value: unknown): Promise<{ name: string; value: unknown }> {
    return this.api.request('PUT', `/settings/${enc(name)}`, { value }) as Promise<{ name: string; value: unknown }>;
  }

  show(): Promise<ConfigView> {
    return this.api.request('GET', '/config') as Promise<ConfigView>;
  }

  close(): Promise<void> {
    return this.api.logout();
  }
}
