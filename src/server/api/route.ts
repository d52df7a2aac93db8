import type http from 'node:http';
import type { z } from 'zod';
import type { ConfigTarget } from '../../store/configTarget.js';
import type { ServerContext } from '../context.js';
import type { Principal } from './authenticate.js';
import type { EventHub } from './eventHub.js';
import type { SessionTable } from './sessionTable.js';

/** Who may call a route: anyone (login), any logged-in operator, or admins only. */
export type Access = 'public' | 'operator' | 'admin';

export interface ApiCall {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  /** The caller; set on every route but public ones. */
  who: Principal;
  /** The peer's address, for lockout and the audit log. */
  address: string;
  /** Whether the request came over TLS (cookies get Secure). */
  secure: boolean;
  /** Reads and validates the JSON body. */
  body<S extends z.ZodType>(schema: S): Promise<z.infer<S>>;
}

/** A route's answer when it is not a plain 200 with a JSON body. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body?: unknown,
    readonly headers: Record<string, string | string[]> = {},
  ) {}
}

/** Returned by a route that wrote the response itself (the event stream). */
export const STREAMED = Symbol('streamed');

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Under /api/v1, with `:name` parameters: `/keys/:name`. */
  path: string;
  access: Access;
  /**
   * Answered by every server, not only the acting primary (which the others name with 421): for
   * what does not touch the cluster's directory or write its configuration.
   */
  anyServer?: boolean;
  handle(call: ApiCall): Promise<unknown>;
}

/** What routes share: the server, the sessions, the live events, and the config as a caller edits it. */
export interface ApiDeps {
  ctx: ServerContext;
  sessions: SessionTable;
  hub: EventHub;
  /** The configuration, edited (and audited) as this operator. */
  configAs(operator: string): ConfigTarget;
  now(): number;
}

export interface CompiledRoute extends Route {
  pattern: RegExp;
  names: string[];
}

export function compileRoute(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/:([a-zA-Z]+)/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { ...route, pattern: new RegExp(`^${source}$`), names };
}

/**
 * Finds the route for a method and path (pure). `methods` lists what the path allows when only the
 * method is wrong, so the caller can answer 405 rather than 404.
 */
export function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): { route: CompiledRoute; params: Record<string, string> } | { methods: string[] } {
  const methods: string[] = [];
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
      methods.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => {
      params[name] = decodeURIComponent(m[i + 1]!);
    });
    return { route, params };
  }
  return { methods };
}
