/**
 * Issue 4: no promotion under a cut between the primary and the secondary alone (the secondary runs
 * with the test-only --fault-block hook, so it and the primary cannot exchange any cluster traffic
 * while the other member still reaches the primary); and a promotion when the primary really dies.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FailoverCluster, health, linesSince, waitUntil } from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.53', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
const BENCH = 60;

before(async () => {
  await cluster.configure();
  // The secondary first joins normally, so that it holds the config and knows it is the secondary.
  await cluster.startAll();
  await cluster.bench(BENCH, 'pt');
  await cluster.waitBrowse((c) => c.length === BENCH, 'every bench client browsable on the primary');
});

after(() => cluster.cleanup());

test('a cut between the primary and the secondary alone: the secondary does not promote, and logs why', async () => {
  await cluster.kill9(secondary);
  await cluster.start(secondary, ['--fault-block', primary.address]);
  const proc = secondary.proc!;
  // Several election rounds, each refused because the member still reaches the primary.
  const first = await proc.waitForMsg('primary lost, not taking over', 30_000);
  assert.match(String(first.reason), /1 of 1 other servers still reach the primary: a majority of the cluster/);
  await waitUntil(
    () => linesSince(proc, 0, 'primary lost, not taking over').length >= 6,
    'six refused election rounds',
    30_000,
  );
  assert.deepEqual(linesSince(proc, 0, 'the secondary takes over as acting primary'), []);
  assert.deepEqual(await health(secondary.address), { role: 'member', acting: false, epoch: 1 });

  // The rest of the cluster carries on under the primary, at epoch 1: one acting primary only.
  assert.deepEqual(await health(primary.address), { role: 'primary', acting: true, epoch: 1 });
  assert.deepEqual(await health(member.address), { role: 'member', acting: false, epoch: 1 });
  const clients = await cluster.waitBrowse(
    (c) => c.length === BENCH && c.every((x) => x.server !== secondary.address),
    "the secondary's former clients placed again on the primary and the member",
  );
  assert.equal(clients.length, BENCH);
  const servers = await cluster.serverList();
  assert.equal(servers.find((s) => s.address === secondary.address)?.status, 'down');
  // The primary cannot reach the secondary either: no failback attempt goes through.
  assert.deepEqual(linesSince(primary.proc!, 0, 'the secondary is acting as primary; taking the role back'), []);
  // The secondary refuses controls, naming the primary.
  const refused = await cluster.control(['browse', '--json'], secondary.address, null);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /primary 127\.0\.53\.11:29443/);
});

test('the primary really dies: the other member loses it too, and the cut-off secondary promotes', async () => {
  const marks = { s: secondary.proc!.lines.length, m: member.proc!.lines.length };
  await cluster.kill9(primary);
  const takeover = await secondary.proc!.waitForLine(
    (l) => l.msg === 'the secondary takes over as acting primary',
    'the takeover',
    30_000,
    marks.s,
  );
  assert.equal(takeover.epoch, 2);
  assert.match(String(takeover.reason), /only 0 of 1 other servers reach the primary/);
  await cluster.linkedTo(member, secondary.address, marks.m);
  assert.deepEqual(await cluster.waitHealth(secondary, (h) => h.acting, 'acting'), {
    role: 'member',
    acting: true,
    epoch: 2,
  });
  await cluster.waitHealth(member, (h) => h.epoch === 2, 'epoch 2');
  const clients = await cluster.waitBrowse(
    (c) => c.length === BENCH && c.every((x) => x.server !== primary.address),
    'every bench client browsable on the acting secondary',
  );
  assert.deepEqual(clients.map((c) => c.name).sort(), Array.from({ length: BENCH }, (_, i) => `pt-${i}`).sort());
});
