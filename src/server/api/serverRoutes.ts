import { Reply, type ApiDeps, type Route } from './route.js';
import { ServerBody, ServerPatchBody } from './schemas.js';

/**
 * The Servers tab (`servers --json`: live role, status, clients, sessions; every operator) and the
 * primary's server table behind it (admins): add, edit, delete. A change applies at once: the router
 * has the config cache pick it up, which replicates it and drains or enables members.
 */
export function serverRoutes(deps: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/servers',
      access: 'operator',
      handle: async () => deps.ctx.behaviour.servers(),
    },
    {
      method: 'POST',
      path: '/servers',
      access: 'admin',
      async handle(call) {
        const body = await call.body(ServerBody);
        return new Reply(201, await deps.configAs(call.who.operator.name).addServer(body));
      },
    },
    {
      method: 'PUT',
      path: '/servers/:address',
      access: 'admin',
      async handle(call) {
        const patch = await call.body(ServerPatchBody);
        return deps.configAs(call.who.operator.name).setServer(call.params.address!, patch);
      },
    },
    {
      method: 'DELETE',
      path: '/servers/:address',
      access: 'admin',
      async handle(call) {
        await deps.configAs(call.who.operator.name).removeServer(call.params.address!);
        return new Reply(204);
      },
    },
  ];
}
