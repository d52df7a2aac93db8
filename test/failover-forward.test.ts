/**
 * Issue 20: a `control forward` that failed over to the secondary goes back to the primary after
 * failback. Real processes: a primary, the secondary (weight 0, so clients sit on the member) and a
 * member; a real client allowing a forward to an echo service; a real `control forward`. Before,
 * the forward's control stayed on the secondary after it stepped down, which then knew only its
 * own clients and answered "no client" for ever.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { cliOk, echoServer, FailoverCluster, KEY, waitUntil } from './helpers/failover.js';
import type { Proc } from './helpers/harness.js';

const cluster = new FailoverCluster({ subnet: '127.0.79', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
let echo: { port: number; close(): void };
let forward: Proc;
let localPort = 0;

before(async () => {
  await cluster.configure();
  // Clients go to the member, never to the secondary: a stepped-down secondary does not hold them.
  await cliOk(['config', '--data', primary.data, 'server', 'set', secondary.address, '--weight', '0']);
  await cluster.startAll();
  echo = await echoServer();
  await cluster.client('fw-a', [echo.port]);
  forward = cluster.spawn([
    'control',
    '--gateway',
    primary.address,
    '--secondary',
    secondary.address,
    '--key',
    KEY,
    'forward',
    'fw-a',
    `0:${echo.port}`,
  ]);
  const line = await forward.waitForMsg('forwarding', 30_000);
  localPort = Number(String(line.listen).split(':').pop());
});

after(async () => {
  echo?.close();
  await cluster.cleanup();
});

/** One connection through the forward: true if the text came back. */
function echoedOnce(text: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(localPort, '127.0.0.1');
    let got = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 5000);
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === text) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(got === text));
    socket.write(text);
  });
}

const throughForward = (what: string) => waitUntil(() => echoedOnce(`hello ${what}`), `an echo ${what}`, 45_000, 500);

test('a forward fails over to the secondary and goes back to the primary after failback', async () => {
  const placed = (await cluster.sdkBrowse()).find((c) => c.name === 'fw-a');
  assert.equal(placed?.server, member.address, 'the client sits on the member');
  assert.ok(await echoedOnce('hello before'), 'an echo through the primary');

  await cluster.kill9(primary);
  await cluster.waitHealth(secondary, (h) => h.acting, 'acting after the primary died');
  await throughForward('through the acting secondary');

  const mark = secondary.proc!.lines.length;
  const memberMark = member.proc!.lines.length;
  await cluster.start(primary);
  await primary.proc!.waitForMsg('took the primary role back', 30_000);
  const handed = await secondary.proc!.waitForMsg('controls sent back to the primary', 15_000, mark);
  assert.ok(Number(handed.controls) >= 1);
  await cluster.linkedTo(member, primary.address, memberMark, 30_000);
  await throughForward('through the primary after failback');
  assert.equal(forward.child.exitCode, null, 'the forward is still running');
});
