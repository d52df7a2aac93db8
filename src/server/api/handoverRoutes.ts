import { ErrorCodes } from '../../protocol/errors.js';
import { revokedBecause } from '../credentialStamp.js';
import { ApiError } from './apiError.js';
import { hostOf, sessionCookie } from './authenticate.js';
import { sessionView } from './loginRoutes.js';
import { Reply, type ApiDeps, type Route } from './route.js';
import { HandoverBody } from './schemas.js';

/**
 * The console's handover between servers (handoverTicket.ts). Both routes answer on every server:
 * a page that lost its server lands on one that may not act as primary yet (it will once it stands
 * in), and one that stepped down still hands its page over to the primary that came back.
 *
 * POST /handover: a fresh ticket for the caller's session, and the servers the page may move to.
 * POST /handover/redeem {ticket}: the session's cookie for this server, and what GET /session says.
 */
export function handoverRoutes(deps: ApiDeps): Route[] {
  const { ctx, sessions } = deps;
  return [
    {
      method: 'POST',
      path: '/handover',
      access: 'operator',
      anyServer: true,
      async handle(call) {
        const { primary, secondary } = ctx.behaviour.clusterAddresses();
        const consoles = [...new Set([primary, secondary, ctx.advertise])].filter(
          (a): a is string => typeof a === 'string' && a.length > 0,
        );
        const now = deps.now();
        const { ticket, expiresAt } = sessions.handoverTicket(call.who.token, now);
        // The page times the ticket by its own clock, which need not agree with ours.
        return { ticket, expiresAt: new Date(expiresAt).toISOString(), expiresInMs: expiresAt - now, consoles };
      },
    },
    {
      method: 'POST',
      path: '/handover/redeem',
      access: 'public',
      anyServer: true,
      async handle(call) {
        // Only our own page redeems: another site must not log a browser in here (as a login CSRF would).
        const origin = call.req.headers.origin;
        if (origin !== undefined && hostOf(origin) !== call.req.headers.host)
          throw new ApiError(403, ErrorCodes.CSRF, `cross-origin handover refused (${origin})`);
        const { ticket } = await call.body(HandoverBody);
        const now = deps.now();
        const taken = sessions.redeem(ticket, now);
        if (!taken)
          throw new ApiError(
            401,
            ErrorCodes.LOGIN_REQUIRED,
            'handover ticket expired, already used, or not ours; log in',
          );
        if (!taken.session) throw new ApiError(401, ErrorCodes.LOGIN_REQUIRED, taken.ended);
        // The same test as every request's (authenticate.ts): removed, or password or TOTP changed.
        const revoked = revokedBecause(taken.session, ctx.store);
        const operator = revoked ? undefined : ctx.store.operators().find((o) => o.name === taken.session.operator);
        if (!operator) {
          sessions.forget(taken.token);
          throw new ApiError(401, ErrorCodes.LOGIN_REQUIRED, revoked ?? 'operator no longer exists; log in');
        }
        ctx.logger.info({ operator: operator.name, peer: call.address }, 'console handed over');
        // As long as the login holds (its idle clock is the server's to keep, as with the login's cookie).
        const maxAge = Math.max(0, Math.floor((taken.session.createdAt + sessions.limits.maxAgeMs - now) / 1000));
        return new Reply(200, sessionView(deps, operator, taken.session), {
          'set-cookie': sessionCookie(taken.token, maxAge, call.secure),
        });
      },
    },
  ];
}
