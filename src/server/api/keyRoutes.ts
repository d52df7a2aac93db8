import { Reply, type ApiDeps, type Route } from './route.js';
import { z } from 'zod';
import { KeyBody } from './schemas.js';

const RotateBody = z.strictObject({
  graceSeconds: z
    .number()
    .min(0)
    .max(366 * 24 * 3600)
    .optional(),
  value: z.string().min(8).max(256).optional(),
});

/** Connectivity keys (admins). Listing shows the values: an admin hands them to clients and controls. */
export function keyRoutes(deps: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/keys',
      access: 'admin',
      handle: (call) => deps.configAs(call.who.operator.name).keys(),
    },
    {
      method: 'POST',
      path: '/keys',
      access: 'admin',
      async handle(call) {
        const body = await call.body(KeyBody);
        return new Reply(201, await deps.configAs(call.who.operator.name).addKey(body.name, body.value));
      },
    },
    {
      method: 'POST',
      path: '/keys/:name/rotate',
      access: 'admin',
      async handle(call) {
        const body = await call.body(RotateBody);
        return deps.configAs(call.who.operator.name).rotateKey(call.params.name!, body.graceSeconds, body.value);
      },
    },
    {
      method: 'POST',
      path: '/keys/:name/retire',
      access: 'admin',
      handle: (call) => deps.configAs(call.who.operator.name).retireKey(call.params.name!),
    },
    {
      method: 'DELETE',
      path: '/keys/:name',
      access: 'admin',
      async handle(call) {
        await deps.configAs(call.who.operator.name).removeKey(call.params.name!);
        return new Reply(204);
      },
    },
  ];
}
