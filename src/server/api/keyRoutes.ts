import { Reply, type ApiDeps, type Route } from './route.js';
import { KeyBody } from './schemas.js';

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
