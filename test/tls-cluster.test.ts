/**
 * Issue 18, done when: a 3-server cluster, each server with its own ACME certificate from pebble
 * (validated for real by http-01), places, fails over and fails back clients pinned to the primary
 * alone, and a renewal during an open session drops nothing. The primary vouches for each server's
 * key: clients follow redirects to the member and fail over to the secondary, the member pinned to
 * the primary (--primary-fingerprint) links to the secondary after the failover, and a long-running
 * control pinned to the primary reaches the acting secondary.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { returnOrder } from '../src/net/returnOrder.js';
import { ControlClient } from '../src/control/controlClient.js';
import { startEchoServer } from './helpers/external.js';
import { cliOk, FailoverCluster, KEY, type Node } from './helpers/failover.js';
import { startDns, startPebble, type Pebble } from './helpers/pebble.js';
import { waitFor } from './helpers/harness.js';
import { openEchoStream } from './helpers/tlsStream.js';

const SUBNET = '127.0.181';
const cluster = new FailoverCluster({ subnet: SUBNET, members: 1 });
const member = cluster.members[0]!;
const domains = new Map<Node, string>([
  [cluster.primary, 'p.sb-cluster.test'],
  [cluster.secondary, 's.sb-cluster.test'],
  [member, 'm.sb-cluster.test'],
]);
let pebble: Pebble;
let dns: Awaited<ReturnType<typeof startDns>>;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  dns = await startDns(new Map([...domains].map(([node, name]) => [name, node.address.split(':')[0]!])));
  pebble = await startPebble(cluster.dir.path, { dnsServer: dns.address });
  echo = await startEchoServer();
});

after(async () => {
  await cluster.cleanup();
  await pebble?.stop();
  dns?.close();
  await echo?.close();
});

function acme(node: Node): string[] {
  return [
    '--acme-domain',
    domains.get(node)!,
    '--acme-directory',
    pebble.directory,
    '--acme-ca',
    join(cluster.dir.path, 'pebble-cert.pem'),
    '--acme-http-port',
    String(pebble.httpPort),
    // Longer than the certificates live: SIGHUP renews at once.
    '--acme-renew-before',
    '36500',
  ];
}

function pinOf(node: Node): string {
  return String(node.proc!.lines.find((l) => l.msg === 'listening')?.pin);
}

function connectedTo(client: { lines: Record<string, unknown>[] }): string[] {
  return client.lines.filter((l) => l.status === 'connected').map((l) => String(l.server));
}

test('three servers with their own ACME certificates: pinned clients placed, a renewal mid-session, failover and failback', async () => {
  await cluster.configure();
  await cliOk(['config', '--data', cluster.primary.data, 'set', 'primary-weight', '1000']);
  await cluster.start(cluster.primary, acme(cluster.primary));
  const primaryPin = pinOf(cluster.primary);
  assert.match(primaryPin, /^spki:sha256\//);
  const pinned = ['--primary-fingerprint', primaryPin];
  await cluster.start(cluster.secondary, [...acme(cluster.secondary), ...pinned]);
  await cluster.linkedTo(cluster.secondary, cluster.primary.address);
  await cluster.start(member, [...acme(member), ...pinned]);
  await cluster.linkedTo(member, cluster.primary.address);
  const fingerprints = cluster.servers.map((n) => n.proc!.lines.find((l) => l.msg === 'listening')?.fingerprint);
  assert.equal(new Set(fingerprints).size, 3, 'each server has its own certificate');

  // Clients know the primary's pin and nothing else; placement by weight puts one on each server.
  const trust = ['--gateway', cluster.primary.address, '--secondary', cluster.secondary.address];
  const clients = await Promise.all(
    ['c1', 'c2', 'c3'].map(async (name) => {
      const proc = cluster.spawn([
        'client',
        ...trust,
        '--tls-fingerprint',
        primaryPin,
        '--key',
        KEY,
        '--name',
        name,
        '--state',
        join(cluster.dir.path, `state-${name}`),
        '--allow-forward',
        String(echo.port),
      ]);
      await proc.waitForLine((l) => l.status === 'connected', `${name} connected`, 30_000);
      return { name, proc, on: connectedTo(proc)[0]! };
    }),
  );
  assert.deepEqual(clients.map((c) => c.on).sort(), cluster.servers.map((n) => n.address).sort());
  const placedOn = (node: Node) => clients.find((c) => c.on === node.address)!;
  const onPrimary = placedOn(cluster.primary).proc;
  const onSecondary = placedOn(cluster.secondary).proc;
  const onMember = placedOn(member).proc;
  const memberClient = placedOn(member).name;

  // A long-running control pinned to the primary alone, and a session to the client on the member.
  const forward = cluster.spawn([
    'control',
    ...trust,
    '--tls-fingerprint',
    primaryPin,
    '--key',
    KEY,
    'forward',
    memberClient,
    `0:${echo.port}`,
  ]);
  const listen = String((await forward.waitForMsg('forwarding', 30_000)).listen);
  const forwardPort = Number(listen.slice(listen.lastIndexOf(':') + 1));
  const stream = await openEchoStream(forwardPort);
  await stream.roundTrip();

  // Renewal on every server while the session is open: new certificates, same keys, nothing dropped.
  await Promise.all(
    cluster.servers.map(async (node) => {
      const from = node.proc!.lines.length;
      node.proc!.child.kill('SIGHUP');
      const renewed = await node.proc!.waitForMsg('ACME: certificate renewed', 60_000, from).catch((err: Error) => {
        throw new Error(`${node.name}: ${err.message}; warnings: ${JSON.stringify(node.proc!.lines.slice(from))}`);
      });
      assert.equal(renewed.pin, pinOf(node));
    }),
  );
  await stream.roundTrip();
  const second = await openEchoStream(forwardPort);
  await second.roundTrip();
  second.close();
  for (const c of clients) assert.equal(connectedTo(c.proc).length, 1, 'no client reconnected');

  // Failover: the primary is killed. The member, pinned to the primary, links to the secondary by
  // the pin the primary vouched for; the primary's client returns to a member before the secondary
  // (src/net/serverList.ts; one member here), by the pin the primary's welcome vouched for.
  const primaryClientId = await (async () => {
    const control = await ControlClient.connect({
      gateway: cluster.primary.address,
      key: KEY,
      dial: { tls: true, fingerprint: primaryPin },
    });
    try {
      return (await control.browse()).find((c) => c.name === placedOn(cluster.primary).name)!.id;
    } finally {
      control.close();
    }
  })();
  const returnedTo = [...returnOrder(primaryClientId, [member.address]), cluster.secondary.address][0]!;
  const memberFrom = member.proc!.lines.length;
  await cluster.kill9(cluster.primary);
  await cluster.waitHealth(cluster.secondary, (h) => h.acting, 'acting', 45_000);
  await cluster.linkedTo(member, cluster.secondary.address, memberFrom, 45_000);
  await onPrimary.waitForLine(
    (l) => l.status === 'connected' && l.server === returnedTo,
    `the primary client failed over to ${returnedTo}`,
    45_000,
  );
  const secondaryPin = pinOf(cluster.secondary);
  const browseVia = async (gateway: string, pin: string) => {
    const control = await ControlClient.connect({ gateway, key: KEY, dial: { tls: true, fingerprint: pin } });
    try {
      return (await control.browse()).map((c) => `${c.name}@${c.server}`).sort();
    } finally {
      control.close();
    }
  };
  // The server it returned to reports it to the acting secondary over its link: wait for that.
  const expected = [
    `${memberClient}@${member.address}`,
    `${placedOn(cluster.primary).name}@${returnedTo}`,
    `${placedOn(cluster.secondary).name}@${cluster.secondary.address}`,
  ].sort();
  let seen: string[] = [];
  await waitFor(
    async () => {
      seen = await browseVia(cluster.secondary.address, secondaryPin);
      return JSON.stringify(seen) === JSON.stringify(expected);
    },
    'every client browsable on the acting secondary',
    15_000,
    200,
  ).catch(() => undefined);
  assert.deepEqual(seen, expected);
  // The control pinned to the primary alone opens a new session through the acting secondary.
  const viaSecondary = await openEchoStream(forwardPort);
  await viaSecondary.roundTrip();
  viaSecondary.close();

  // Failback: the primary returns (its stored certificate, its key); the member links back to it.
  const backFrom = member.proc!.lines.length;
  await cluster.start(cluster.primary, acme(cluster.primary));
  assert.equal(pinOf(cluster.primary), primaryPin, 'the same key after the restart');
  await cluster.linkedTo(member, cluster.primary.address, backFrom, 60_000);
  await cluster.waitHealth(cluster.secondary, (h) => !h.acting, 'stepped down', 45_000);
  const all = await (async () => {
    for (let i = 0; ; i++) {
      const names = await browseVia(cluster.primary.address, primaryPin).catch(() => []);
      if (names.length === 3 || i > 100) return names;
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  assert.deepEqual(
    all.map((n) => n.split('@')[0]),
    ['c1', 'c2', 'c3'],
  );
  assert.equal(onMember.child.exitCode, null);
  assert.equal(onSecondary.child.exitCode, null);
  stream.close();
});
