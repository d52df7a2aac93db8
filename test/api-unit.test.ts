/**
 * The API's pure parts, without sockets: session expiry (idle and absolute) with a given clock,
 * route matching, cookie parsing, and the mapping of errors to HTTP statuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from '../src/protocol/errors.js';
import { ConfigError } from '../src/store/configStore.js';
import { toHttpError } from '../src/server/api/apiError.js';
import { parseCookies, sessionCookie } from '../src/server/api/authenticate.js';
import { compileRoute, matchRoute, type Route } from '../src/server/api/route.js';
import { SessionTable } from '../src/server/api/sessionTable.js';

test('a session ends after its idle time, and after its maximum age however much it is used', () => {
  const table = new SessionTable({ maxAgeMs: 1000, idleMs: 300, maxSessions: 10 });
  const { token } = table.create('ops', 0);
  assert.ok(table.touch(token, 250));
  assert.ok(table.touch(token, 500));
  assert.ok(table.touch(token, 750));
  assert.equal(table.touch(token, 1000), undefined, 'maximum age reached although used');
  const idle = table.create('ops', 0).token;
  assert.equal(table.touch(idle, 300), undefined, 'idle too long');
  assert.equal(table.size, 0);
});

test('sessions beyond the maximum drop the oldest; logout and operator removal end them', () => {
  const table = new SessionTable({ maxAgeMs: 1000, idleMs: 1000, maxSessions: 2 });
  const a = table.create('a', 0).token;
  const b = table.create('b', 1).token;
  const c = table.create('b', 2).token;
  assert.equal(table.touch(a, 3), undefined);
  assert.ok(table.live(b, 3) && table.live(c, 3));
  assert.equal(table.endOperator('b'), 2);
  assert.equal(table.size, 0);
  const d = table.create('d', 0).token;
  assert.ok(table.end(d));
  assert.equal(table.touch(d, 1), undefined);
});

test('routes match by method and path, with decoded parameters; a wrong method lists the allowed ones', () => {
  const route = (method: Route['method'], path: string): Route => ({
    method,
    path,
    access: 'admin',
    handle: async () => undefined,
  });
  const routes = [route('GET', '/keys'), route('DELETE', '/keys/:name'), route('PUT', '/servers/:address')].map(
    compileRoute,
  );
  const hit = matchRoute(routes, 'PUT', '/servers/10.0.0.1%3A443');
  assert.ok('route' in hit);
  assert.deepEqual(hit.params, { address: '10.0.0.1:443' });
  assert.deepEqual(matchRoute(routes, 'POST', '/keys/x'), { methods: ['DELETE'] });
  assert.deepEqual(matchRoute(routes, 'GET', '/keys/x/y'), { methods: [] });
  assert.ok('route' in matchRoute(routes, 'HEAD', '/keys'));
});

test('cookies parse whatever the header holds, first value winning; the session cookie has its flags', () => {
  assert.equal(parseCookies('a=1; sb_session=tok; sb_session=second').get('sb_session'), 'tok');
  assert.equal(sessionCookie('t', 60, true), 'sb_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure');
  fc.assert(
    fc.property(fc.string(), (header) => {
      parseCookies(header);
    }),
  );
});

test('errors map to stable statuses and codes; internal errors say nothing', () => {
  assert.equal(toHttpError(new SwitchboardError(ErrorCodes.NOT_PRIMARY, 'x')).status, 421);
  assert.equal(toHttpError(new SwitchboardError(ErrorCodes.LOCKED_OUT, 'x')).status, 429);
  assert.equal(toHttpError(new SwitchboardError(ErrorCodes.POLICY_REFUSED, 'x')).status, 403);
  assert.equal(toHttpError(new ConfigError('no key named k', 'missing')).status, 404);
  assert.equal(toHttpError(new ConfigError('key k exists already', 'exists')).status, 409);
  assert.equal(toHttpError(new ConfigError('weight must be ...')).status, 400);
  const zod = z.object({ a: z.number() }).safeParse({ a: 'x' });
  assert.deepEqual(toHttpError(zod.error).body.error.code, ErrorCodes.BAD_MESSAGE);
  const internal = toHttpError(new Error('secret detail'));
  assert.deepEqual(internal, {
    status: 500,
    body: { error: { code: ErrorCodes.INTERNAL, message: 'internal error' } },
  });
});
