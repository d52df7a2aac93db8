/**
 * Issue 4, "the secondary takes over": kill -9 of the primary under 300 bench clients and a few real
 * ones; the secondary promotes with a higher epoch, every client is browsable through it, sessions
 * work through it, and configuration written on it works cluster-wide at once.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import { request, seriesValue } from './helpers/api.js';
import type { BenchStatus } from './helpers/cluster.js';
import { runCli, type Proc } from './helpers/harness.js';
import {
  cliOk,
  echoRoundTrip,
  echoServer,
  FailoverCluster,
  health,
  KEY,
  waitUntil,
  type Node,
} from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.51', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const member = cluster.members[0]!;
const BENCH = 300;
const REAL = ['fo-real-a', 'fo-real-b', 'fo-real-c', 'fo-real-d'];
let echo: Awaited<ReturnType<typeof echoServer>>;
let bench: Proc;
let epochBefore = 0;
/** The local port of a `control forward` started before the failure and left running through it. */
let forwardPort = 0;

/** One connection through the long-running forward, echoing `text`. */
async function throughForward(text: string): Promise<string> {
  const socket = net.connect(forwardPort, '127.0.0.1');
  try {
    return await echoRoundTrip(socket, text);
  } finally {
    socket.destroy();
  }
}

const expectedNames = () => [...Array.from({ length: BENCH }, (_, i) => `fo-${i}`), ...REAL].sort();

before(async () => {
  echo = await echoServer();
  await cluster.configure();
  await cluster.startAll();
  bench = await cluster.bench(BENCH, 'fo', ['--allow-forward', String(echo.port), '--allow-exec']);
  for (const name of REAL) await cluster.client(name, [echo.port]);
});

after(async () => {
  echo?.close();
  await cluster.cleanup();
});

test('before the failure: the primary answers browse with every client, spread over the three servers', async () => {
  const clients = await cluster.waitBrowse(
    (c) => c.length === BENCH + REAL.length,
    'every client browsable on the primary',
  );
  assert.deepEqual(clients.map((c) => c.name).sort(), expectedNames());
  const servers = new Set(clients.map((c) => c.server));
  assert.ok(
    servers.has(primary.address) && servers.has(secondary.address) && servers.has(member.address),
    `clients placed on ${[...servers].join(', ')}`,
  );
  const h = await health(primary.address);
  assert.equal(h?.acting, true);
  epochBefore = h!.epoch;
  const forward = cluster.spawn([
    'control',
    '--gateway',
    primary.address,
    '--secondary',
    secondary.address,
    '--key',
    KEY,
    'forward',
    'fo-real-a',
    `127.0.0.1:0:${echo.port}`,
  ]);
  const listening = await forward.waitForLine((l) => l.msg === 'forwarding', 'control forward listening', 20_000);
  forwardPort = Number(String(listening.listen).split(':').pop());
  assert.equal(await throughForward('before the failure'), 'before the failure');
  assert.ok(epochBefore >= 1);
});

test('kill -9 of the primary: the secondary takes over with a higher epoch and every client is browsable through it', async () => {
  const onPrimary = (await cluster.browse()).filter((c) => c.server === primary.address).length;
  assert.ok(onPrimary > 0, 'some clients were on the primary');
  const benchStatus = (l: Record<string, unknown>) => l as unknown as BenchStatus;
  const lastStatus = bench.lines.filter((l) => l.msg === 'bench clients').at(-1);
  const benchOnPrimary = lastStatus ? (benchStatus(lastStatus).byServer[primary.address] ?? 0) : 0;
  const mark = member.proc!.lines.length;
  await cluster.kill9(primary);

  const takeover = await secondary.proc!.waitForMsg('the secondary takes over as acting primary', 30_000);
  assert.ok(Number(takeover.epoch) > epochBefore, `epoch ${String(takeover.epoch)} > ${epochBefore}`);
  assert.match(String(takeover.reason), /only 0 of 1 other servers reach the primary/);
  const h = await cluster.waitHealth(secondary, (x) => x.acting, 'acting');
  assert.equal(h.epoch, epochBefore + 1);

  // The member re-links to the acting secondary and takes its epoch.
  await cluster.linkedTo(member, secondary.address, mark);
  await cluster.waitHealth(member, (x) => x.epoch === h.epoch && !x.acting, 'the new epoch');

  // Controls given --secondary browse it; none of the 304 clients is missing or doubled.
  const clients = await cluster.waitBrowse(
    (c) => c.length === BENCH + REAL.length && c.every((x) => x.server !== primary.address),
    'every client browsable on the acting secondary',
  );
  assert.deepEqual(clients.map((c) => c.name).sort(), expectedNames());
  assert.equal(new Set(clients.map((c) => c.id)).size, clients.length);
  for (const c of clients)
    assert.ok([secondary.address, member.address].includes(c.server), `${c.name} on ${c.server}`);
  // The bench's own account of the return: each of its clients that was on the primary came back
  // after trying the dead primary (and waiting for the refusal), then a server that remains.
  const back = benchStatus(
    await bench.waitForLine(
      (l) => l.msg === 'bench clients' && benchStatus(l).returns.count >= benchOnPrimary,
      'the bench to count its returns',
      30_000,
    ),
  );
  assert.ok(benchOnPrimary > 0 && back.returns.attempts!.min >= 1, JSON.stringify(back.returns));
  assert.ok(Object.keys(back.returns.reasons).length > 0, JSON.stringify(back.returns));
  // The CLI too, given the dead primary first and --secondary.
  const cli = await cluster.browse();
  assert.deepEqual(cli.map((c) => c.name).sort(), expectedNames());

  const servers = await cluster.serverList();
  const acting = servers.find((s) => s.address === secondary.address);
  assert.equal(acting?.role, 'acting primary');
  assert.equal(servers.find((s) => s.address === primary.address)?.status, 'down');
  assert.equal(servers.find((s) => s.address === member.address)?.status, 'up');

  // Its /metrics says so too: one takeover, acting, at the new epoch (the member follows it).
  const onSecondary = (await request(secondary.address, 'GET', '/metrics')).text;
  assert.equal(seriesValue(onSecondary, 'switchboard_failovers_total'), 1);
  assert.equal(seriesValue(onSecondary, 'switchboard_acting_primary'), 1);
  assert.equal(seriesValue(onSecondary, 'switchboard_epoch'), h.epoch);
  assert.equal(seriesValue((await request(member.address, 'GET', '/metrics')).text, 'switchboard_epoch'), h.epoch);
});

test('during the failover: a control without --secondary fails clearly; a plain member refuses controls naming the acting primary', async () => {
  const alone = await cluster.control(['browse', '--json'], primary.address, null);
  assert.notEqual(alone.code, 0, `${alone.stdout} ${alone.stderr}`);
  assert.match(alone.stderr, new RegExp(primary.address.replace(/\./g, '\\.')));
  const viaMember = await cluster.control(['browse', '--json'], member.address, null);
  assert.notEqual(viaMember.code, 0, `${viaMember.stdout} ${viaMember.stderr}`);
  assert.match(viaMember.stderr, new RegExp(`primary ${secondary.address.replace(/\./g, '\\.')}`), viaMember.stderr);
});

test('sessions through the acting secondary: exec, an echoing forward to clients on it and on the member, and a forward started before the failure', async (t) => {
  const clients = await cluster.browse();
  const where = new Map(clients.map((c) => [c.name, c.server]));
  t.diagnostic(`real clients: ${REAL.map((n) => `${n} on ${where.get(n)}`).join(', ')}`);
  // A bench client on each server for sure (the bench allows exec and the echo port), and the real ones.
  const targets = [
    ...[secondary.address, member.address].map(
      (server) =>
        clients.find((c) => c.server === server && c.name.startsWith('fo-') && !c.name.startsWith('fo-real'))!.name,
    ),
    ...REAL,
  ];
  for (const name of targets) {
    const r = await cluster.control(['exec', name, '--', 'sh', '-c', `echo hello-from-$0; exit 3`, name]);
    assert.equal(r.stdout, `hello-from-${name}\n`, `${name} on ${where.get(name)}: ${r.stderr}`);
    assert.equal(r.code, 3);
  }
  // The forward started before the failure dials again for its next session, and reaches the secondary.
  assert.equal(await throughForward('after the failover'), 'after the failover');
  const control = await ControlClient.connect({
    gateway: primary.address,
    secondary: secondary.address,
    key: KEY,
    dial: { tls: false },
  });
  try {
    assert.equal(control.server, secondary.address);
    for (const name of targets) {
      const socket = await control.open(name, { kind: 'forward', port: echo.port });
      const text = `forward through the acting secondary to ${name} `.repeat(2000);
      assert.equal(await echoRoundTrip(socket, text), text, `${name} on ${where.get(name)}`);
      socket.destroy();
    }
  } finally {
    control.close();
  }
});

async function keyWorksOn(name: string, value: string, node: Node): Promise<void> {
  // A client with the new key, straight at one server: it is welcomed (kept or redirected by the
  // acting secondary), and a control with the new key browses it.
  const state = `${cluster.dir.path}/client-${name}`;
  const proc = cluster.spawn([
    'client',
    '--gateway',
    node.address,
    '--secondary',
    secondary.address,
    '--key',
    value,
    '--name',
    name,
    '--state',
    state,
  ]);
  await proc.waitForLine(
    (l) => l.status === 'connected',
    `client ${name} with the new key connected via ${node.name}`,
    30_000,
  );
  const r = await runCli([
    'control',
    '--gateway',
    primary.address,
    '--secondary',
    secondary.address,
    '--key',
    value,
    'browse',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    (JSON.parse(r.stdout) as { name: string }[]).some((c) => c.name === name),
    `${name} browsable with its key`,
  );
}

test('config --data on the acting secondary works at once cluster-wide; on a plain member it is refused, naming the primary', async () => {
  const k2 = 'keyvalue-failover-k2-0123456789';
  const mark = member.proc!.lines.length;
  await cliOk(['config', '--data', secondary.data, 'key', 'add', 'k2', '--value', k2]);
  // Replicated to the member without a restart.
  await member.proc!.waitForLine((l) => l.msg === 'configuration replicated', 'the member replicates k2', 15_000, mark);
  const onMember = JSON.parse((await cliOk(['config', '--data', member.data, 'key', 'list', '--json'])).stdout) as {
    name: string;
    value: string;
  }[];
  assert.ok(onMember.some((k) => k.name === 'k2' && k.value === k2));
  // A client with the new key is accepted straight at the member (which checks its replicated copy)
  // and at the acting secondary.
  await keyWorksOn('fo-k2-member', k2, member);
  await keyWorksOn('fo-k2-secondary', k2, secondary);

  const refused = await runCli([
    'config',
    '--data',
    member.data,
    'key',
    'add',
    'k3',
    '--value',
    'keyvalue-failover-k3-0123456789',
  ]);
  assert.notEqual(refused.code, 0);
  // It names the server that takes writes now: the acting secondary.
  assert.match(refused.stderr, /primary 127\.0\.51\.12:29443/, refused.stderr);
  const keys = JSON.parse((await cliOk(['config', '--data', member.data, 'key', 'list', '--json'])).stdout) as {
    name: string;
  }[];
  assert.ok(!keys.some((k) => k.name === 'k3'));
});

test('config --gateway (online, REST) on the acting secondary', async () => {
  // An operator must exist for online config; it is written offline on the acting secondary.
  const env = { FO_PW: 'fo-password-123' };
  const added = await runCli(
    ['config', '--data', secondary.data, 'operator', 'add', 'fo-admin', '--role', 'admin', '--password-env', 'FO_PW'],
    { env },
  );
  assert.equal(added.code, 0, added.stderr);
  const r = await runCli(
    [
      'config',
      '--gateway',
      secondary.address,
      '--operator',
      'fo-admin',
      '--password-env',
      'FO_PW',
      'key',
      'add',
      'k4',
      '--value',
      'keyvalue-failover-k4-0123456789',
    ],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  await waitUntil(
    async () => {
      const keys = JSON.parse((await cliOk(['config', '--data', member.data, 'key', 'list', '--json'])).stdout) as {
        name: string;
      }[];
      return keys.some((k) => k.name === 'k4');
    },
    'k4 replicated to the member',
    15_000,
    200,
  );
  // Online against a plain member: refused, naming the acting primary.
  const onMember = await runCli(
    [
      'config',
      '--gateway',
      member.address,
      '--operator',
      'fo-admin',
      '--password-env',
      'FO_PW',
      'key',
      'add',
      'k5',
      '--value',
      'keyvalue-failover-k5-0123456789',
    ],
    { env },
  );
  assert.notEqual(onMember.code, 0);
  assert.match(onMember.stderr, /primary 127\.0\.51\.12:29443/, onMember.stderr);
});

test('an operator added on the acting secondary logs in through it at once, and is replicated', async () => {
  const env = { FO_PW: 'fo-password-123' };
  const added = await runCli(
    ['config', '--data', secondary.data, 'operator', 'add', 'fo-op', '--role', 'admin', '--password-env', 'FO_PW'],
    { env },
  );
  assert.equal(added.code, 0, added.stderr);
  await waitUntil(
    async () => {
      const ops = JSON.parse((await cliOk(['config', '--data', member.data, 'operator', 'list', '--json'])).stdout) as {
        name: string;
      }[];
      return ops.some((o) => o.name === 'fo-op');
    },
    'the operator replicated to the member',
    15_000,
    200,
  );
  const r = await waitUntil(
    async () => {
      const res = await runCli(
        [
          'control',
          '--gateway',
          primary.address,
          '--secondary',
          secondary.address,
          '--key',
          KEY,
          '--operator',
          'fo-op',
          '--password-env',
          'FO_PW',
          'browse',
          '--json',
        ],
        { env },
      );
      return res.code === 0 ? res : undefined;
    },
    'the new operator logs in',
    15_000,
    200,
  );
  assert.ok((JSON.parse(r.stdout) as unknown[]).length >= BENCH + REAL.length);
  // Once an operator exists, a key alone is not enough, on the acting secondary as anywhere.
  const keyOnly = await cluster.control(['browse', '--json']);
  assert.notEqual(keyOnly.code, 0);
});
