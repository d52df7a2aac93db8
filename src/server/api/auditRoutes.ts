import type { ApiDeps, Route } from './route.js';
import { AuditQuery, queryObject } from './schemas.js';

/** The audit log, newest first (admins): logins, failed logins, sessions, config changes. */
export function auditRoutes(deps: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/audit',
      access: 'admin',
      async handle(call) {
        const { limit } = AuditQuery.parse(queryObject(call.url));
        return deps.ctx.store.auditLog(limit);
      },
    },
  ];
}
