/**
 * Issue 4, "the primary returns": after a failover and config written on the acting secondary, the
 * restarted primary takes the newer configuration, then its role with a higher epoch; members re-link;
 * controls browse the primary again; no client is disconnected. Then a stale copy of the primary's
 * data directory (an old epoch) is offered to the members, who must ignore it.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import type { ClientInfo } from '../src/protocol/messages.js';
import { runCli } from './helpers/harness.js';
import { cliOk, FailoverCluster, health, KEY, linesSince, waitUntil } from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.52', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
const BENCH = 120;
const REAL = ['fb-real-a', 'fb-real-b'];
const TOTAL = BENCH + REAL.length;
const K2 = 'keyvalue-failback-k2-0123456789';
let staleCopy = '';
let epochAfterFailover = 0;
let epochAfterFailback = 0;

before(async () => {
  await cluster.configure();
  await cluster.startAll();
  await cluster.bench(BENCH, 'fb');
  for (const name of REAL) await cluster.client(name);
  await cluster.waitBrowse((c) => c.length === TOTAL, 'every client browsable on the primary');
  // The primary's data directory as it is now, at epoch 1, for the stale-primary test at the end.
  staleCopy = `${cluster.dir.path}/p-stale`;
  cpSync(primary.data, staleCopy, { recursive: true });
});

after(() => cluster.cleanup());

test('failover, then config written on the acting secondary (a key, a setting, a weight)', async () => {
  await cluster.kill9(primary);
  const takeover = await secondary.proc!.waitForMsg('the secondary takes over as acting primary', 30_000);
  epochAfterFailover = Number(takeover.epoch);
  assert.ok(epochAfterFailover >= 2);
  await cluster.linkedTo(member, secondary.address);
  await cluster.waitBrowse(
    (c) => c.length === TOTAL && c.every((x) => x.server !== primary.address),
    'every client on the acting secondary or the member',
  );

  await cliOk(['config', '--data', secondary.data, 'key', 'add', 'k2', '--value', K2]);
  await cliOk(['config', '--data', secondary.data, 'set', 'lockout-attempts', '7']);
  await cliOk(['config', '--data', secondary.data, 'server', 'set', member.address, '--weight', '1500']);
  await waitUntil(
    async () => {
      const [s, m] = await Promise.all([cluster.replicatedConfig(secondary), cluster.replicatedConfig(member)]);
      return JSON.stringify(s) === JSON.stringify(m) ? true : undefined;
    },
    'the member has the acting secondary configuration',
    20_000,
    250,
  );
});

test('the primary returns: it takes the newer config, then its role with a higher epoch; members re-link; no client is disturbed', async () => {
  const before = await cluster.sdkBrowse();
  assert.equal(before.length, TOTAL);
  const connectedAt = new Map(before.map((c) => [c.id, c.connectedAt]));
  const benchMark = cluster.procsOf('bench')[0]!.lines.length;
  const realMarks = cluster.procsOf('client').map((p) => [p, p.lines.length] as const);
  const marks = { s: secondary.proc!.lines.length, m: member.proc!.lines.length };

  await cluster.start(primary);
  const back = await primary.proc!.waitForMsg('took the primary role back', 30_000);
  epochAfterFailback = Number(back.epoch);
  assert.ok(
    epochAfterFailback > epochAfterFailover,
    `failback epoch ${epochAfterFailback} > failover epoch ${epochAfterFailover}`,
  );
  const down = await secondary.proc!.waitForLine(
    (l) => l.msg === 'stepped down: the primary has its role back',
    'the secondary steps down',
    15_000,
    marks.s,
  );
  assert.equal(down.epoch, epochAfterFailback);

  // Members (the secondary among them) re-link to the primary at the new epoch.
  await cluster.linkedTo(member, primary.address, marks.m);
  await cluster.linkedTo(secondary, primary.address, marks.s);
  for (const node of cluster.servers) {
    const h = await cluster.waitHealth(node, (x) => x.epoch === epochAfterFailback, `epoch ${epochAfterFailback}`);
    assert.equal(h.acting, node === primary, `${node.name} acting`);
  }

  // Nothing written during the failover is lost: the primary has it, and everyone has the same.
  const onPrimary = JSON.parse((await cliOk(['config', '--data', primary.data, 'key', 'list', '--json'])).stdout) as {
    name: string;
    value: string;
  }[];
  assert.ok(
    onPrimary.some((k) => k.name === 'k2' && k.value === K2),
    'k2 kept by the primary',
  );
  const shown = JSON.parse((await cliOk(['config', '--data', primary.data, 'show', '--json'])).stdout) as {
    settings: Record<string, unknown>;
    servers: { address: string; weight: number }[];
  };
  assert.equal(shown.settings['lockout-attempts'], 7);
  assert.equal(shown.servers.find((s) => s.address === member.address)?.weight, 1500);
  const configs = await Promise.all(cluster.servers.map((n) => cluster.replicatedConfig(n)));
  for (const c of configs.slice(1)) assert.deepEqual(c, configs[0]);

  // Controls browse the primary again, and see every client, none reconnected.
  const after = await cluster.waitBrowse((c) => c.length === TOTAL, 'every client browsable on the primary again');
  const control = await ControlClient.connect({
    gateway: primary.address,
    secondary: secondary.address,
    key: KEY,
    dial: { tls: false },
  });
  assert.equal(control.server, primary.address);
  control.close();
  const cli = await cluster.browse();
  assert.equal(cli.length, TOTAL);
  const servers = await cluster.serverList();
  assert.deepEqual(
    servers.map((x) => [x.address, x.role, x.status]).sort(),
    [
      [primary.address, 'primary', 'up'],
      [secondary.address, 'member', 'up'],
      [member.address, 'member', 'up'],
    ].sort(),
  );
  const moved = after.filter((c: ClientInfo) => connectedAt.get(c.id) !== c.connectedAt);
  assert.deepEqual(
    moved.map((c) => `${c.name} ${connectedAt.get(c.id)} -> ${c.connectedAt} on ${c.server}`),
    [],
  );
  for (const c of after) assert.notEqual(c.server, primary.address, `${c.name} is still where it was`);

  // The bench process saw no drop, and no real client went through a reconnect.
  const status = linesSince(cluster.procsOf('bench')[0]!, benchMark, 'bench clients');
  assert.ok(status.length > 0, 'the bench reported during the failback');
  assert.deepEqual(
    status.filter((l) => l.connected !== BENCH).map((l) => l.connected),
    [],
  );
  for (const [proc, mark] of realMarks) {
    assert.deepEqual(
      proc.lines
        .slice(mark)
        .filter((l) => l.status !== undefined && l.status !== 'connected')
        .map((l) => `${String(l.status)} ${String(l.reason)}`),
      [],
    );
  }

  // Config is written on the primary again: the secondary's data directory refuses, naming it.
  const refused = await runCli([
    'config',
    '--data',
    secondary.data,
    'key',
    'add',
    'k3',
    '--value',
    'keyvalue-failback-k3-0123456789',
  ]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /primary 127\.0\.52\.11:29443/);
  await cliOk(['config', '--data', primary.data, 'key', 'add', 'k4', '--value', 'keyvalue-failback-k4-0123456789']);
  await waitUntil(
    async () => {
      const keys = JSON.parse((await cliOk(['config', '--data', member.data, 'key', 'list', '--json'])).stdout) as {
        name: string;
      }[];
      return keys.some((k) => k.name === 'k4');
    },
    'k4 written on the primary reaches the member',
    15_000,
    250,
  );
});

test('a stale primary (an old copy of its data directory, at epoch 1) is ignored by the members', async () => {
  // The secondary is down meanwhile, so that nobody takes over while the old copy is offered.
  await cluster.kill9(secondary);
  const mark = member.proc!.lines.length;
  await cluster.kill9(primary);
  const stale = { ...primary, data: staleCopy };
  await cluster.start(stale);
  primary.proc = stale.proc;
  assert.equal((await health(primary.address))?.epoch, 1);
  // The member's link to the killed primary broke; it dials the primary again and refuses the old epoch.
  const refusal = await member.proc!.waitForLine(
    (l) => l.msg === 'ignoring a primary with an older epoch',
    'the member ignores the stale primary',
    30_000,
    mark,
  );
  assert.equal(refusal.epoch, 1);
  assert.equal(refusal.ours, epochAfterFailback);
  // It keeps trying, and keeps refusing; its epoch and its configuration stay.
  await member.proc!.waitForLine(
    (l) => l.msg === 'ignoring a primary with an older epoch' && l !== refusal,
    'the member refuses the stale primary again',
    30_000,
    mark,
  );
  const h = await health(member.address);
  assert.deepEqual(h, { role: 'member', acting: false, epoch: epochAfterFailback });
  assert.deepEqual(
    linesSince(member.proc!, mark, 'configuration replicated'),
    [],
    'no configuration taken from the stale primary',
  );
  const keys = JSON.parse((await cliOk(['config', '--data', member.data, 'key', 'list', '--json'])).stdout) as {
    name: string;
  }[];
  assert.deepEqual(keys.map((k) => k.name).sort(), ['k1', 'k2', 'k4'], 'the member keeps k2 and k4');
});

test('the cluster heals around the stale primary once the secondary is back: it learns the newer epoch and config, and members link to it', async () => {
  const mark = member.proc!.lines.length;
  await cluster.start(secondary);
  const linked = await cluster.linkedTo(member, primary.address, mark, 45_000);
  assert.ok(Number(linked.epoch) > epochAfterFailback, `epoch ${String(linked.epoch)} > ${epochAfterFailback}`);
  await cluster.linkedTo(secondary, primary.address, 0, 30_000);
  const keys = JSON.parse((await cliOk(['config', '--data', primary.data, 'key', 'list', '--json'])).stdout) as {
    name: string;
  }[];
  assert.ok(
    keys.some((k) => k.name === 'k2') && keys.some((k) => k.name === 'k4'),
    'the stale primary took the newer config',
  );
  const configs = await Promise.all(cluster.servers.map((n) => cluster.replicatedConfig(n)));
  for (const c of configs.slice(1)) assert.deepEqual(c, configs[0]);
  await cluster.waitBrowse((c) => c.length === TOTAL, 'every client browsable on the primary');
});
