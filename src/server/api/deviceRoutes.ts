import { z } from 'zod';
import { StoreDeviceTarget } from '../../store/storeDeviceTarget.js';
import type { DeviceListing } from '../../store/deviceTarget.js';
import { Reply, type ApiDeps, type Route } from './route.js';
import { queryObject } from './schemas.js';

const DevicesQuery = z.strictObject({
  state: z.enum(['online', 'offline', 'pending', 'revoked']).optional(),
  key: z.string().max(64).optional(),
});
const RenameBody = z.strictObject({ name: z.string().max(256) });

/**
 * Known devices: every identity the cluster admitted, online or not. Any operator lists the devices
 * of the keys it may use; devices pending approval, and every change (audited), are for admins.
 */
export function deviceRoutes({ ctx }: ApiDeps): Route[] {
  const target = (operator: string) => new StoreDeviceTarget(ctx.store, operator, ctx.devices);
  const change = (action: 'revoke' | 'unrevoke' | 'approve'): Route => ({
    method: 'POST',
    path: `/devices/:id/${action}`,
    access: 'admin',
    handle: (call) => target(call.who.operator.name)[action](call.params.id!),
  });
  return [
    {
      method: 'GET',
      path: '/devices',
      access: 'operator',
      async handle(call) {
        const query = DevicesQuery.parse(queryObject(call.url));
        const admin = call.who.operator.role === 'admin';
        const keys = call.who.keys;
        return (await target(call.who.operator.name).devices()).filter(
          (d: DeviceListing) =>
            (admin || d.state !== 'pending') &&
            (!keys || keys.has(d.key)) &&
            (query.state === undefined || d.state === query.state) &&
            (query.key === undefined || d.key === query.key),
        );
      },
    },
    change('revoke'),
    change('unrevoke'),
    change('approve'),
    {
      method: 'PUT',
      path: '/devices/:id',
      access: 'admin',
      async handle(call) {
        const body = await call.body(RenameBody);
        return target(call.who.operator.name).rename(call.params.id!, body.name);
      },
    },
    {
      method: 'DELETE',
      path: '/devices/:id',
      access: 'admin',
      async handle(call) {
        await target(call.who.operator.name).remove(call.params.id!);
        return new Reply(204);
      },
    },
  ];
}
