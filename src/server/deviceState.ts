import type { DeviceRule } from '../store/deviceRules.js';

/** Where a device stands: what the hello, browse, sessions and the device list go by. */
export type DeviceState = 'active' | 'pending' | 'revoked';

/**
 * A device's state from what the cluster knows of it (pure). Revoked wins over everything; an
 * admin's approval admits it; a device already known is admitted unless it arrived pending; a new
 * identity waits for approval only while `device-approval` is on.
 */
export function deviceState(
  known: { pending: boolean } | undefined,
  rule: DeviceRule | undefined,
  approvalRequired: boolean,
): DeviceState {
  if (rule?.revoked) return 'revoked';
  if (rule?.approved) return 'active';
  if (known) return known.pending ? 'pending' : 'active';
  return approvalRequired ? 'pending' : 'active';
}
