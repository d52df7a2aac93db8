/**
 * A client waits for a busy server that took its connection, and gives up on one that never
 * welcomes it (src/client/agent.ts: a heartbeat, at least MIN_ANSWER_TIMEOUT_MS; answerTimeoutMs in
 * src/net/dial.ts).
 * After a failover, thousands of clients arrive at the servers left at once and are answered in
 * turn: a client that gave up after its connect timeout went to the back of the queue again.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { ClientAgent, type ClientStatus, type StatusDetail } from '../src/client/agent.js';
import { newIdentity } from '../src/client/identity.js';
import { Backoff } from '../src/net/backoff.js';
import { addKey, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { until } from './helpers/memoryCluster.js';

const dir = tempDir('sb-patience-');
const closers: (() => void)[] = [];
after(() => {
  closers.forEach((close) => close());
  dir.remove();
});

/** A TCP proxy to `target` that holds what the client sends for `delayMs` before passing it on: a server slow to answer. */
async function slowFront(target: string, delayMs: number): Promise<string> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pause();
    setTimeout(() => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    server.close();
    sockets.forEach((s) => s.destroy());
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function agentOn(gateway: string, key: string, dial: { connectTimeoutMs: number; answerTimeoutMs?: number }) {
  const agent = new ClientAgent({
    gateway,
    key,
    identity: newIdentity(),
    name: 'patient',
    policy: { allowForward: new Set(), allowExec: false },
    dial: { tls: false, ...dial },
    backoff: new Backoff(50, 200),
  });
  const statuses: [ClientStatus, StatusDetail][] = [];
  agent.on('status', (status, detail) => statuses.push([status, detail]));
  closers.push(() => agent.stop());
  return { agent, statuses };
}

let server: RunningServer | undefined;
after(async () => {
  await server?.proc.stop();
});

test('a client waits past its connect timeout for a server that took the connection and answers late', async () => {
  const data = `${dir.path}/data`;
  const key = await addKey(data, 'default');
  server = await startServer(data);
  // Every connection through the front waits 2.5 s before the server sees a byte of it: longer
  // than the 1 s connect timeout that used to bound the whole upgrade, shorter than the answer's.
  const front = await slowFront(server.address, 2500);
  const { agent, statuses } = agentOn(front, key, { connectTimeoutMs: 1000, answerTimeoutMs: 8000 });
  agent.start();
  await until('welcomed', () => agent.status === 'connected');
  const waited = statuses.filter(([status]) => status === 'waiting');
  assert.deepEqual(waited, [], 'welcomed at the first attempt, no retry');
});

test('a client that is upgraded but never welcomed gives up and tries again', async () => {
  const http1 = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  let upgrades = 0;
  http1.on('upgrade', (req, socket, head) => {
    upgrades++;
    // Upgraded, then silent: no challenge, no welcome (a stalled server, or not ours).
    wss.handleUpgrade(req, socket, head, () => undefined);
  });
  await new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    wss.clients.forEach((c) => c.terminate());
    http1.close();
  });
  const silent = `127.0.0.1:${(http1.address() as AddressInfo).port}`;
  const { agent, statuses } = agentOn(silent, 'any-key-0123456789', { connectTimeoutMs: 1000, answerTimeoutMs: 1500 });
  agent.start();
  const [, detail] = await until('given up on the silent server', () =>
    statuses.find(([status]) => status === 'waiting'),
  );
  assert.match(detail.reason ?? '', /no welcome from .* within 1500 ms/);
  await until('a second attempt', () => upgrades >= 2);
});
