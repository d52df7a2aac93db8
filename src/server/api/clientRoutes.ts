import { findClient, visibleClients } from '../controlOps.js';
import { toClientView } from './clientView.js';
import type { ApiDeps, Route } from './route.js';
import { ClientsQuery, queryObject } from './schemas.js';

/** The Clients tab: the cluster's directory, as much of it as the caller's keys allow. */
export function clientRoutes({ ctx }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/clients',
      access: 'operator',
      async handle(call) {
        const query = ClientsQuery.parse(queryObject(call.url));
        return visibleClients(ctx.directory, call.who.keys, query).map(toClientView);
      },
    },
    {
      method: 'GET',
      path: '/clients/:client',
      access: 'operator',
      async handle(call) {
        return toClientView(findClient(ctx.directory, call.params.client!, call.who.keys));
      },
    },
  ];
}
