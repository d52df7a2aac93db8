/**
 * docs/security.md, "Oversized or malformed input ... Decoders are fuzzed": the properties of
 * test/security-fuzz-properties.ts, briefly (a longer run: `npm run fuzz`). The decoders run as
 * pure functions; the HTTP, WebSocket and raw-socket properties run against a real primary (with a
 * cluster secret, so /v1/cluster/rpc and /v1/cluster are live), logged in as an admin, an operator or
 * no one. Afterwards the server is still up and never logged an error.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { addOperator, login, request } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { echoService, freePort, stopAll, type Service } from './helpers/sb.js';
import {
  clusterRpcProperty,
  decoderProperties,
  httpProperty,
  rawSocketProperty,
  websocketProperty,
  type LiveTarget,
} from './security-fuzz-properties.js';

describe('decoders', () => {
  for (const { name, property } of decoderProperties()) {
    test(name, () => {
      fc.assert(property as fc.IProperty<unknown>, { numRuns: 150 });
    });
  }
});

describe('a live server', () => {
  const dir = tempDir('sb-sec-fuzz-');
  const procs: Proc[] = [];
  let server: RunningServer;
  let echo: Service;
  let target: LiveTarget;

  before(async () => {
    echo = await echoService();
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    server = await startServer(
      join(dir.path, 'data'),
      ['--role', 'primary', '--advertise', address],
      { SWITCHBOARD_CLUSTER_SECRET: 'fuzz-cluster-secret-0123456789' },
      address,
    );
    procs.push(server.proc);
    const key = await addKey(server.data, 'fuzz');
    await addOperator(server.data, 'admin', 'fuzz-admin-password', 'admin');
    await addOperator(server.data, 'ops', 'fuzz-ops-password', 'operator', ['fuzz']);
    procs.push(
      await startClient([
        '--gateway',
        server.address,
        '--key',
        key,
        '--name',
        'fuzz-box',
        '--state',
        join(dir.path, 'state'),
        '--allow-forward',
        String(echo.port),
      ]),
    );
    const tokens = [
      undefined,
      (await login(server.address, 'admin', 'fuzz-admin-password')).token,
      (await login(server.address, 'ops', 'fuzz-ops-password')).token,
    ];
    target = { address: server.address, tokens, key };
  });

  after(async () => {
    await stopAll(procs);
    await echo.close();
    dir.remove();
  });

  test('HTTP: random methods, paths, headers and bodies on every route never get a 500, and errors are JSON', async () => {
    await fc.assert(httpProperty(target), { numRuns: 400 });
  });

  test('cluster requests: random request-shaped bodies (deep parameters too) are refused with a JSON error', async () => {
    await fc.assert(clusterRpcProperty(target), { numRuns: 100 });
  });

  test('WebSocket: random messages on the client, control and cluster channels close only their own connection', async () => {
    await fc.assert(websocketProperty(target), { numRuns: 60 });
  });

  test('raw sockets: random bytes and mangled requests', async () => {
    await fc.assert(rawSocketProperty(target), { numRuns: 100 });
  });

  test('afterwards the server is up, its client still connected, and it never logged an error', async () => {
    assert.equal((await request(server.address, 'GET', '/healthz')).status, 200);
    assert.equal(server.proc.child.exitCode, null);
    const errors = server.proc.lines.filter((l) => Number(l.level) >= 50);
    assert.deepEqual(errors, []);
    assert.ok(!procs[1]!.lines.some((l) => l.status === 'waiting'), 'the client was never dropped');
  });
});
