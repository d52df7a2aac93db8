import { ErrorCodes, SwitchboardError } from '../protocol/errors.js';
import type { ConfigStore } from './configStore.js';
import type { DeviceRule } from './deviceRules.js';
import type { DeviceRecord } from './deviceStore.js';
import type { DeviceListing, DeviceTarget } from './deviceTarget.js';

/** What the running server knows beyond its store: records not yet written, and who is online. */
export interface LiveDevices {
  get(id: string): DeviceRecord | undefined;
  list(): DeviceListing[];
  forget(id: string): void;
}

/** An admin's name for a device: printable, like the names clients report. */
const DEVICE_NAME = /^[^\p{Cc}\p{Cf}]{1,64}$/u;

function noRule(id: string): DeviceRule {
  return { id, revoked: false, approved: false, name: null };
}

/**
 * Known devices in a store, changed as `actor`: each decision (revoke, unrevoke, approve, rename)
 * is a device rule, a configuration change (it bumps the version, so the running server and every
 * member apply it) audited in the same transaction. A request that makes no sense for the device's
 * state is refused with a code and changes nothing.
 */
export class StoreDeviceTarget implements DeviceTarget {
  constructor(
    private readonly store: ConfigStore,
    private readonly actor: string,
    private readonly live?: LiveDevices,
    private readonly ownsStore = false,
  ) {}

  private record(id: string): DeviceRecord | undefined {
    return this.live ? this.live.get(id) : this.store.devices.get(id);
  }

  private known(id: string): { record: DeviceRecord | undefined; rule: DeviceRule } {
    const record = this.record(id);
    const rule = this.store.deviceRules.get(id);
    if (!record && !rule) throw new SwitchboardError(ErrorCodes.UNKNOWN_DEVICE, `no known device with id ${id}`);
    return { record, rule: rule ?? noRule(id) };
  }

  async devices(): Promise<DeviceListing[]> {
    if (this.live) return this.live.list();
    const rules = new Map(this.store.deviceRules.all().map((r) => [r.id, r]));
    return this.store.devices.all().map((d) => {
      const rule = rules.get(d.id);
      return {
        ...d,
        ...(rule?.name ? { name: rule.name, reportedName: d.name } : {}),
        state: rule?.revoked ? 'revoked' : d.pending && !rule?.approved ? 'pending' : 'known',
        revoked: rule?.revoked ?? false,
        approved: rule?.approved ?? false,
      };
    });
  }

  private async listing(id: string): Promise<DeviceListing> {
    const found = (await this.devices()).find((d) => d.id === id);
    if (found) return found;
    const rule = this.store.deviceRules.get(id) ?? noRule(id);
    // A rule for a device with no record (revoked before a failback brought the record back).
    return {
      id,
      name: rule.name ?? '',
      group: '',
      key: '',
      platform: '',
      firstSeen: '',
      lastSeen: '',
      lastAddress: '',
      server: '',
      pending: false,
      state: rule.revoked ? 'revoked' : 'known',
      revoked: rule.revoked,
      approved: rule.approved,
    };
  }

  private decide(action: string, rule: DeviceRule, detail: Record<string, unknown> = {}): void {
    this.store.changeAudited(
      this.actor,
      action,
      () => this.store.changeConfig(() => this.store.deviceRules.put(rule)),
      () => ({ id: rule.id, ...detail }),
    );
  }

  async revoke(id: string): Promise<DeviceListing> {
    const { rule } = this.known(id);
    if (rule.revoked) throw new SwitchboardError(ErrorCodes.STATE_CONFLICT, `device ${id} is revoked already`);
    this.decide('device.revoke', { ...rule, revoked: true });
    return this.listing(id);
  }

  async unrevoke(id: string): Promise<DeviceListing> {
    const { rule } = this.known(id);
    if (!rule.revoked) throw new SwitchboardError(ErrorCodes.STATE_CONFLICT, `device ${id} is not revoked`);
    this.decide('device.unrevoke', { ...rule, revoked: false });
    return this.listing(id);
  }

  async approve(id: string): Promise<DeviceListing> {
    const { record, rule } = this.known(id);
    if (rule.revoked)
      throw new SwitchboardError(ErrorCodes.STATE_CONFLICT, `device ${id} is revoked: unrevoke it first`);
    if (!record?.pending || rule.approved)
      throw new SwitchboardError(ErrorCodes.STATE_CONFLICT, `device ${id} is not pending approval`);
    this.decide('device.approve', { ...rule, approved: true });
    return this.listing(id);
  }

  async rename(id: string, name: string): Promise<DeviceListing> {
    if (!DEVICE_NAME.test(name))
      throw new SwitchboardError(
        ErrorCodes.CONFIG,
        'a device name must be 1-64 characters, with no control or format characters',
      );
    const { rule } = this.known(id);
    this.decide('device.rename', { ...rule, name }, { name });
    return this.listing(id);
  }

  /**
   * Forgets a device: its record and the decisions about it. A revoked device is not forgotten
   * (that would admit it again): unrevoke it first. A device connected now is recorded again as it
   * next arrives (pending, if approval is on).
   */
  async remove(id: string): Promise<void> {
    const { rule } = this.known(id);
    if (rule.revoked)
      throw new SwitchboardError(
        ErrorCodes.STATE_CONFLICT,
        `device ${id} is revoked: removing it would let it in again; unrevoke it first if that is what you want`,
      );
    this.store.changeAudited(
      this.actor,
      'device.remove',
      () =>
        this.store.changeConfig(() => {
          this.store.deviceRules.remove(id);
          this.store.devices.remove(id);
        }),
      () => ({ id }),
    );
    this.live?.forget(id);
  }

  async close(): Promise<void> {
    if (this.ownsStore) this.store.close();
  }
}
