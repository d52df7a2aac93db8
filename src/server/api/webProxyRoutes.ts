import { z } from 'zod';
import { ErrorCodes } from '../../protocol/errors.js';
import { findClient } from '../controlOps.js';
import { ApiError } from './apiError.js';
import type { ApiDeps, Route } from './route.js';
import { SessionTable } from './sessionTable.js';

export const WebLinkBody = z.strictObject({
  client: z.string().min(1).max(128),
  port: z.number().int().min(1).max(65535),
  /** Where on the client's page to start; a path on the link's origin. */
  path: z.string().startsWith('/').max(2048).optional(),
});

/**
 * `POST /web-links`: a link that opens a client's web page (on a port the client allows) in a new
 * tab, through the web proxy. The link lives only as long as the console session that asked for it.
 */
export function webProxyRoutes(deps: ApiDeps): Route[] {
  const { ctx } = deps;
  return [
    {
      method: 'POST',
      path: '/web-links',
      access: 'operator',
      async handle(call) {
        const body = await call.body(WebLinkBody);
        const proxy = ctx.webProxy;
        if (!proxy)
          throw new ApiError(
            404,
            ErrorCodes.NOT_FOUND,
            'this server runs no web proxy: start it with --web-proxy-listen',
          );
        const entry = findClient(ctx.directory, body.client, call.who.keys);
        if (!(entry.allowForward ?? []).includes(body.port))
          throw new ApiError(
            403,
            ErrorCodes.POLICY_REFUSED,
            `port ${body.port} is not in ${entry.name}'s --allow-forward list (${(entry.allowForward ?? []).join(', ') || 'empty'})`,
          );
        const operator = call.who.operator.name;
        // The link ends with this console session (logout, expiry, revocation), without keeping its token.
        const session = SessionTable.idOf(call.who.token);
        const link = proxy.links.create({
          operator,
          keys: call.who.keys,
          clientId: entry.id,
          clientName: entry.name,
          port: body.port,
          alive: () => deps.sessions.liveById(session, deps.now()),
        });
        ctx.store.audit(operator, 'web.link', { client: entry.id, clientName: entry.name, port: body.port });
        return {
          url: proxy.entryUrl(link, body.path ?? '/'),
          origin: proxy.originOf(link),
          client: entry.id,
          port: body.port,
        };
      },
    },
  ];
}
