import type http from 'node:http';
import { ErrorCodes } from '../../protocol/errors.js';
import { StoreConfigTarget } from '../../store/storeConfigTarget.js';
import type { ServerContext } from '../context.js';
import { remoteAddressOf } from '../../net/wsUtil.js';
import { ApiError, toHttpError } from './apiError.js';
import { auditRoutes } from './auditRoutes.js';
import { authenticate, requireAdmin, type Principal } from './authenticate.js';
import { clientRoutes } from './clientRoutes.js';
import { deviceRoutes } from './deviceRoutes.js';
import { EventHub } from './eventHub.js';
import { eventRoutes } from './eventRoutes.js';
import { execRoutes } from './execRoutes.js';
import { fileRoutes } from './fileRoutes.js';
import { handoverRoutes } from './handoverRoutes.js';
import { readJsonBody, sendJson } from './httpIo.js';
import { keyRoutes } from './keyRoutes.js';
import { loginRoutes } from './loginRoutes.js';
import { operatorRoutes } from './operatorRoutes.js';
import { compileRoute, matchRoute, Reply, STREAMED, type ApiDeps, type CompiledRoute } from './route.js';
import { serverRoutes } from './serverRoutes.js';
import { SessionTable, type SessionLimits } from './sessionTable.js';
import { settingRoutes } from './settingRoutes.js';
import { webProxyRoutes } from './webProxyRoutes.js';
import { operatorOfToken } from './tokenLogin.js';
import { sessionSigningKey } from './sessionToken.js';
import { storeAuthority } from './storeAuthority.js';

export const API_PREFIX = '/api/v1';

/**
 * The REST API under /api/v1, for the console and for automation. Only the acting primary answers
 * (it alone holds the cluster's directory and writes the configuration); any other server answers
 * 421 and names the primary. Each route declares who may call it; this router authenticates,
 * checks the role, and turns every failure into `{ error: { code, message } }`.
 */
export class ApiRouter {
  readonly sessions: SessionTable;
  readonly hub: EventHub;
  private readonly routes: CompiledRoute[];

  constructor(
    private readonly ctx: ServerContext,
    options: { sessionLimits?: SessionLimits; now?: () => number } = {},
  ) {
    this.sessions = new SessionTable(
      options.sessionLimits,
      storeAuthority(ctx.store, ctx.sessionSigningKey ?? sessionSigningKey(undefined)),
    );
    this.hub = new EventHub(ctx);
    const deps: ApiDeps = {
      ctx,
      sessions: this.sessions,
      hub: this.hub,
      configAs: (operator) => new StoreConfigTarget(ctx.store, operator, false, ctx.devices),
      now: options.now ?? Date.now,
    };
    this.routes = [
      loginRoutes,
      handoverRoutes,
      clientRoutes,
      serverRoutes,
      keyRoutes,
      operatorRoutes,
      settingRoutes,
      auditRoutes,
      execRoutes,
      eventRoutes,
      fileRoutes,
      deviceRoutes,
      webProxyRoutes,
    ]
      .flatMap((routes) => routes(deps))
      .map(compileRoute);
    this.now = deps.now;
  }

  private readonly now: () => number;

  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    this.dispatch(req, res, url).catch((err: unknown) => {
      const { status, body } = toHttpError(err);
      if (status === 500)
        this.ctx.logger.error(
          { err: err instanceof Error ? err.stack : String(err), path: url.pathname },
          'api route failed',
        );
      sendJson(res, status, body, status === 413 ? { connection: 'close' } : {});
    });
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    const match = matchRoute(this.routes, req.method ?? 'GET', path);
    const acting = this.ctx.behaviour.acting();
    if (!acting.acting && !('route' in match && match.route.anyServer)) {
      const primary = acting.primary ?? 'unknown';
      throw new ApiError(
        421,
        ErrorCodes.NOT_PRIMARY,
        `this server does not answer the API; use the primary ${primary}`,
        { primary },
      );
    }
    if (!('route' in match)) {
      if (match.methods.length)
        throw new ApiError(405, ErrorCodes.NOT_FOUND, `${req.method} is not allowed on ${url.pathname}`, {
          allow: match.methods,
        });
      throw new ApiError(404, ErrorCodes.NOT_FOUND, `no route ${url.pathname}`);
    }
    const { route, params } = match;
    let who: Principal | undefined;
    if (route.access !== 'public') {
      who = authenticate(req, this.sessions, this.ctx.store, this.now());
      if (route.access === 'admin') requireAdmin(who);
    }
    const result = await route.handle({
      req,
      res,
      url,
      params,
      who: who as Principal,
      address: remoteAddressOf(req.socket),
      secure: Boolean((req.socket as { encrypted?: boolean }).encrypted),
      body: async (schema) => schema.parse(await readJsonBody(req)),
    });
    if (result === STREAMED) return;
    // A change is picked up now rather than at the next poll: it applies here, and the primary
    // replicates it to every member, before the caller hears that it is done.
    if (route.method !== 'GET') this.ctx.config.check();
    if (result instanceof Reply) return sendJson(res, result.status, result.body, result.headers);
    sendJson(res, 200, result);
  }

  /** A control channel's login by API session token (`control --profile NAME login`). */
  operatorOfToken(token: string): ReturnType<typeof operatorOfToken> {
    return operatorOfToken(token, this.sessions, this.ctx.store, this.now());
  }

  stop(): void {
    this.hub.closeAll();
  }
}
