import { findClient, visibleClients, visiblePage } from '../controlOps.js';
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
        const { q, filter, ...rest } = ClientsQuery.parse(queryObject(call.url));
        const query = { ...rest, filter: q ?? filter };
        // Without limit, every client as before; with it, `{ clients, next }` (next: the following page's cursor).
        if (query.limit === undefined) return visibleClients(ctx.directory, call.who.keys, query).map(toClientView);
        const page = visiblePage(ctx.directory, call.who.keys, { ...query, limit: query.limit });
        return { clients: page.clients.map(toClientView), next: page.next ?? null };
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
