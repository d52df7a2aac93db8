import { errorCodeForClose } from '../../protocol/closeCodes.js';
import { ErrorCodes } from '../../protocol/errors.js';
import { authenticateOperator } from '../operatorAuth.js';
import { ApiError, statusFor } from './apiError.js';
import { clearedCookie, sessionCookie, type Principal } from './authenticate.js';
import { Reply, type ApiDeps, type Route } from './route.js';
import { LoginBody } from './schemas.js';
import type { WebSession } from './sessionTable.js';

/** What the console knows of its login (GET /session); the handover answers the same. */
export function sessionView(deps: ApiDeps, operator: Principal['operator'], session: WebSession) {
  return {
    operator: operator.name,
    role: operator.role,
    keys: operator.keys,
    csrf: session.csrf,
    expiresAt: new Date(deps.sessions.expiresAt(session)).toISOString(),
    server: deps.ctx.advertise,
    /** The server's key pin when it serves TLS: the console's commands trust it by that. */
    tlsPin: deps.ctx.tlsPin,
  };
}

/**
 * Login, logout and "who am I". Login checks the password and TOTP with the same lockout as the
 * control channel, then answers with a bearer token (automation) and sets a cookie (the console).
 */
export function loginRoutes(deps: ApiDeps): Route[] {
  const { ctx, sessions } = deps;
  return [
    {
      method: 'POST',
      path: '/login',
      access: 'public',
      async handle(call) {
        const body = await call.body(LoginBody);
        const outcome = await authenticateOperator(ctx, {
          name: body.operator,
          password: body.password,
          totp: body.totp,
          address: call.address,
        });
        if (!outcome.ok) {
          const code = errorCodeForClose(outcome.closeCode) ?? ErrorCodes.BAD_LOGIN;
          throw new ApiError(statusFor(code), code, outcome.reason);
        }
        const now = deps.now();
        sessions.prune(now);
        const { token, session } = sessions.create(outcome.operator.name, now, outcome.stamp);
        ctx.store.audit(outcome.operator.name, 'login', { address: call.address, via: 'api' });
        ctx.logger.info({ operator: outcome.operator.name, peer: call.address }, 'api login');
        const maxAge = Math.floor(sessions.limits.maxAgeMs / 1000);
        return new Reply(
          200,
          { token, ...sessionView(deps, outcome.operator, session) },
          { 'set-cookie': sessionCookie(token, maxAge, call.secure) },
        );
      },
    },
    {
      method: 'POST',
      path: '/logout',
      access: 'operator',
      async handle(call) {
        sessions.end(call.who.token);
        ctx.store.audit(call.who.operator.name, 'logout', { address: call.address, via: 'api' });
        return new Reply(204, undefined, { 'set-cookie': clearedCookie(call.secure) });
      },
    },
    {
      method: 'GET',
      path: '/session',
      access: 'operator',
      async handle(call) {
        return sessionView(deps, call.who.operator, call.who.session);
      },
    },
  ];
}
