/**
 * Property test of every API route on a real server: random methods, paths (with odd encodings),
 * headers and bodies, logged in as an admin, an operator, or no one. Whatever comes in, the answer
 * is never a 500, always a JSON error with a stable code when it is a refusal, and the server stays up.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { addOperator, login, request } from './helpers/api.js';
import { addKey, startServer, tempDir, type RunningServer } from './helpers/harness.js';

const dir = tempDir('sb-apifuzz-');
let server: RunningServer;
let tokens: (string | undefined)[];

before(async () => {
  server = await startServer(`${dir.path}/data`);
  await addKey(server.data, 'default');
  await addOperator(server.data, 'admin', 'admin-password', 'admin');
  await addOperator(server.data, 'ops', 'ops-password', 'operator', ['default']);
  tokens = [
    undefined,
    (await login(server.address, 'admin', 'admin-password')).token,
    (await login(server.address, 'ops', 'ops-password')).token,
  ];
});

after(async () => {
  await server.proc.stop();
  dir.remove();
});

const segment = fc.oneof(
  fc.constantFrom(
    'login',
    'logout',
    'session',
    'clients',
    'servers',
    'keys',
    'operators',
    'settings',
    'config',
    'audit',
    'exec',
    'totp',
    'heartbeat',
    'default',
    'admin',
    '127.0.0.1:9',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.constantFrom('%', '%zz', '..', '%2F', '%00', ''),
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      name: fc.string({ maxLength: 70 }),
      value: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.boolean()),
      address: fc.string({ maxLength: 30 }),
      weight: fc.integer(),
      command: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
      client: fc.string({ maxLength: 10 }),
      role: fc.string({ maxLength: 8 }),
      keys: fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
      password: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: [] },
  ),
);

test('no input makes a route fail with a 500 or a non-JSON error', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      fc.array(segment, { minLength: 1, maxLength: 3 }),
      body,
      fc.nat(2),
      fc.boolean(),
      async (method, path, json, who, rawText) => {
        // Never remove the operators the property logs in with; everything else is fair game.
        if (method === 'DELETE' && path[0] === 'operators') return;
        const raw = rawText && typeof json === 'string' ? json : undefined;
        const answer = await request(
          server.address,
          method,
          `/api/v1/${path.join('/')}`,
          raw === undefined ? json : undefined,
          { token: tokens[who], raw, headers: raw !== undefined ? { 'content-type': 'application/json' } : {} },
        );
        assert.ok(
          answer.status < 500,
          `${method} /api/v1/${path.join('/')} ${JSON.stringify(json)} -> ${answer.status} ${answer.text}`,
        );
        if (answer.status >= 400) {
          assert.match(String(answer.body?.error?.code), /^SB_ERR_[A-Z_]+$/, answer.text);
          assert.equal(typeof answer.body.error.message, 'string');
        }
      },
    ),
    { numRuns: 300 },
  );
  const health = await request(server.address, 'GET', '/healthz');
  assert.equal(health.status, 200);
});
