/**
 * Issue 3, "Roles and the server table": who may join the cluster, and who answers controls.
 * Servers on 127.0.41.x.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { Cluster, type ServerNode } from './helpers/cluster.js';
import { runCli } from './helpers/harness.js';

let cluster: Cluster;
let good: ServerNode; // in the table, the secondary
let disabled: ServerNode; // in the table, disabled
let stranger: ServerNode; // not in the table
let badSecret: ServerNode; // in the table, wrong secret

before(async () => {
  cluster = await Cluster.start({
    subnet: 41,
    members: [{ secondary: true }, { disabled: true }, { notInTable: true }, {}],
    startMembers: [0],
  });
  [good, disabled, stranger, badSecret] = cluster.members as [ServerNode, ServerNode, ServerNode, ServerNode];
});

after(() => cluster?.close());

/** The primary's log line about refusing a cluster link, and the member's about being refused. */
async function refusalLogs(member: ServerNode, reason: RegExp, closeCode: number) {
  const onPrimary = await cluster.primary.proc!.waitForLine(
    (l) => l.msg === 'cluster link refused' && l.closeCode === closeCode && reason.test(String(l.reason)),
    `the primary logs refusing ${member.name} (${reason})`,
  );
  const onMember = await member.proc!.waitForLine(
    (l) => l.closeCode === closeCode && reason.test(String(l.reason)) && /refused/.test(String(l.msg)),
    `${member.name} logs that the primary refused it (${reason})`,
  );
  return { onPrimary, onMember };
}

test('a cluster server will not start without the cluster secret, nor with a short one', async () => {
  const base = [
    'server',
    '--data',
    join(cluster.dir.path, 'nosecret'),
    '--role',
    'member',
    '--primary',
    cluster.primary.address,
    '--listen',
    `127.0.41.99:${cluster.port}`,
  ];
  const short = join(cluster.dir.path, 'short.secret');
  writeFileSync(short, 'tooshort\n');
  const [none, weak, primaryless] = await Promise.all([
    runCli(base, { env: { SWITCHBOARD_CLUSTER_SECRET: '' } }),
    runCli([...base, '--cluster-secret-file', short], { env: { SWITCHBOARD_CLUSTER_SECRET: '' } }),
    runCli(
      [
        'server',
        '--data',
        join(cluster.dir.path, 'noprimary'),
        '--role',
        'member',
        '--listen',
        `127.0.41.99:${cluster.port}`,
      ],
      { env: { SWITCHBOARD_CLUSTER_SECRET: 'x'.repeat(20) } },
    ),
  ]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /cluster secret/);
  assert.equal(none.stderr.trim().split('\n').length, 1, `one clear line: ${none.stderr}`);
  assert.notEqual(weak.code, 0);
  assert.match(weak.stderr, /at least 16 characters/);
  assert.notEqual(primaryless.code, 0);
  assert.match(primaryless.stderr, /--primary/);
});

test('a member with the wrong cluster secret is refused, with the reason in both logs', async () => {
  const wrong = join(cluster.dir.path, 'wrong.secret');
  writeFileSync(wrong, 'a-different-secret-of-enough-length\n', { mode: 0o600 });
  await cluster.startMember(3, { secretFile: wrong, waitLinked: false });
  const { onMember } = await refusalLogs(badSecret, /secret/, CloseCodes.CLUSTER_AUTH);
  assert.equal(onMember.level, 50, 'the member logs the refusal as an error');
  const row = (await cluster.servers()).find((s) => s.address === badSecret.address);
  assert.equal(row?.status, 'down', 'a refused member is not up');
});

test('a member whose address is not in the server table is refused, with the reason in both logs', async () => {
  await cluster.startMember(2, { waitLinked: false });
  const { onPrimary, onMember } = await refusalLogs(
    stranger,
    /not in the primary's server table/,
    CloseCodes.NOT_IN_CLUSTER,
  );
  assert.match(
    String(onPrimary.reason),
    new RegExp(stranger.address.replace(/\./g, '\\.')),
    'the primary names the address it refused',
  );
  assert.match(String(onMember.reason), /not in the primary's server table/);
  assert.ok(
    !(await cluster.servers()).some((s) => s.address === stranger.address),
    'it does not appear in the server list',
  );
});

test('a member that is disabled in the server table is refused; enabling it lets it join without a restart', async () => {
  await cluster.startMember(1, { waitLinked: false });
  await refusalLogs(disabled, /disabled in the primary's server table/, CloseCodes.NOT_IN_CLUSTER);
  let row = (await cluster.servers()).find((s) => s.address === disabled.address);
  assert.deepEqual([row?.enabled, row?.status], [false, 'down']);

  await cluster.configOk(['server', 'set', disabled.address, '--enabled']);
  await cluster.waitMemberLinked(disabled, 30_000);
  row = (await cluster.servers()).find((s) => s.address === disabled.address);
  assert.deepEqual([row?.enabled, row?.status], [true, 'up']);
  assert.ok(
    disabled.proc!.lines.some((l) => /^linked to the/.test(String(l.msg))),
    'the member logs that it is linked',
  );
});

test('a member, the secondary included, refuses controls with a message that names the primary', async () => {
  const runs = [good, stranger].flatMap((member) =>
    [['browse'], ['servers'], ['exec', 'anyone', '--', 'true']].map(async (args) => ({
      member,
      args,
      r: await cluster.control(args, { gateway: member.address }),
    })),
  );
  for (const { member, args, r } of await Promise.all(runs)) {
    assert.notEqual(r.code, 0, `${member.name} answered control ${args[0]}`);
    assert.ok(r.stderr.includes(cluster.primary.address), `the refusal names the primary: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one clear line: ${r.stderr}`);
  }
  // The primary answers the same control.
  const ok = await cluster.control(['servers'], { gateway: cluster.primary.address });
  assert.equal(ok.code, 0, ok.stderr);
});

test('the server table takes at most one secondary, and the change shows at once', async () => {
  let rows = await cluster.serversNow();
  assert.deepEqual(
    rows.filter((s) => s.secondary).map((s) => s.address),
    [good.address],
  );
  await cluster.configOk(['server', 'set', disabled.address, '--secondary']);
  rows = await cluster.serversNow();
  assert.deepEqual(
    rows.filter((s) => s.secondary).map((s) => s.address),
    [disabled.address],
  );
  await cluster.configOk(['server', 'set', good.address, '--secondary']);
  rows = await cluster.serversNow();
  assert.deepEqual(
    rows.filter((s) => s.secondary).map((s) => s.address),
    [good.address],
  );
});

test('a member removed from the server table is refused at once and sends its clients back to the primary, which places them', async () => {
  const bench = cluster.bench(60, 'rm');
  let status = await bench.waitAllConnected();
  const held = status.byServer[disabled.address] ?? 0;
  assert.ok(held > 0, `some clients were placed on ${disabled.address}: ${JSON.stringify(status.byServer)}`);

  const from = disabled.proc!.lines.length;
  await cluster.configOk(['server', 'remove', disabled.address]);
  await disabled.proc!.waitForLine(
    (l) => l.closeCode === CloseCodes.NOT_IN_CLUSTER && /removed/.test(String(l.reason)),
    'the member logs that it was removed',
    15_000,
    from,
  );
  status = await bench.waitStatus(
    (s) => s.connected === 60 && !s.byServer[disabled.address],
    'all back, none on the removed member',
  );
  assert.equal(
    Object.values(status.byServer).reduce((a, b) => a + b, 0),
    60,
  );

  // A client that dials the removed member directly is sent on to the primary and placed there.
  const client = await cluster.client('via-removed', [], { gateway: disabled.address });
  const connected = client.lines.filter((l) => l.status === 'connected').at(-1)!;
  assert.notEqual(connected.server, disabled.address);
  const browse = await cluster.browse();
  assert.equal(
    browse.filter((c) => c.server === disabled.address).length,
    0,
    'browse shows no client on the removed member',
  );
  assert.equal(
    browse.find((c) => c.name === 'via-removed')?.server,
    connected.server,
    'browse shows the server the client says it is on',
  );
  assert.equal(browse.length, 61);
  await bench.proc.stop();
});

test('a linked member stopped with SIGTERM exits 0: its link closing after its store is closed reports nothing', async () => {
  // The secondary's lost link used to start an election, which read the closed store and crashed
  // the process on its way out ("The database connection is not open").
  const proc = good.proc!;
  good.proc = undefined;
  const code = await proc.stop('SIGTERM');
  assert.doesNotMatch(proc.stderr, /database connection is not open/);
  assert.equal(code, 0, `exit code of ${good.name}; stderr: ${proc.stderr.slice(-500)}`);
});
