/**
 * Issue 4, "storms and faults": kill -9 and restart of a member, the secondary and the primary in
 * turn, repeated, with clients and a running session. After every step every client is browsable
 * and a session works; at the end the config is identical on every server; and the processes that
 * live through all the cycles (a member never killed, the bench, real clients) do not keep growing
 * in file descriptors or memory.
 */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { after, before, test } from 'node:test';
import { ControlClient } from '../src/control/controlClient.js';
import type { ClientInfo } from '../src/protocol/messages.js';
import type { Proc } from './helpers/harness.js';
import {
  cliOk,
  countBy,
  echoRoundTrip,
  echoServer,
  FailoverCluster,
  fdCount,
  KEY,
  rssBytes,
  waitUntil,
  type Node,
} from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.54', members: 2, heartbeat: 1 });
const { primary, secondary } = cluster;
const [m1, survivor] = cluster.members as [Node, Node];
const BENCH = 100;
const REAL = ['cy-real-a', 'cy-real-b'];
const TOTAL = BENCH + REAL.length;
const CYCLES = 3;
const MB = 1024 * 1024;
let echo: Awaited<ReturnType<typeof echoServer>>;

/** A forward session to a real client through whichever server acts as primary. */
let session: { control: ControlClient; socket: Duplex; client: string } | undefined;
const sessionLog: string[] = [];

before(async () => {
  echo = await echoServer();
  await cluster.configure();
  await cluster.startAll();
  await cluster.bench(BENCH, 'cy');
  for (const name of REAL) await cluster.client(name, [echo.port]);
  await allBrowsable('start', []);
  await ensureSession('start');
});

after(async () => {
  session?.control.close();
  echo?.close();
  await cluster.cleanup();
});

/** Every client browsable (through primary, then secondary), none on the servers that are down. */
function allBrowsable(step: string, down: Node[]): Promise<ClientInfo[]> {
  const gone = new Set(down.map((n) => n.address));
  return cluster.waitBrowse(
    (c) => c.length === TOTAL && new Set(c.map((x) => x.name)).size === TOTAL && c.every((x) => !gone.has(x.server)),
    `${step}: all ${TOTAL} clients browsable`,
    60_000,
  );
}

/** The running session still echoes, or (its path went through a killed server) a new one does. */
async function ensureSession(step: string): Promise<void> {
  if (session) {
    try {
      const text = `still there after ${step} `.repeat(50);
      assert.equal(await echoRoundTrip(session.socket, text, 5000), text);
      sessionLog.push(`${step}: kept`);
      return;
    } catch {
      session.socket.destroy();
      session.control.close();
      session = undefined;
    }
  }
  const client = REAL[sessionLog.length % REAL.length]!;
  session = await waitUntil(
    async () => {
      let control: ControlClient | undefined;
      try {
        control = await ControlClient.connect({
          gateway: primary.address,
          secondary: secondary.address,
          key: KEY,
          dial: { tls: false },
        });
        const socket = await control.open(client, { kind: 'forward', port: echo.port });
        socket.on('error', () => {});
        const text = `session to ${client} after ${step} `.repeat(50);
        assert.equal(await echoRoundTrip(socket, text, 5000), text);
        return { control, socket, client };
      } catch {
        control?.close();
        return undefined;
      }
    },
    `${step}: a session to ${client}`,
    30_000,
    250,
  );
  sessionLog.push(`${step}: reopened to ${client} via ${session.control.server}`);
}

interface Sample {
  cycle: number;
  fds: number;
  rss: number;
  /** Clients this process holds (servers), to take their sockets out of the comparison. */
  clients: number;
}

function sample(proc: Proc, cycle: number, clients = 0): Sample {
  const pid = proc.child.pid!;
  return { cycle, fds: fdCount(pid), rss: rssBytes(pid), clients };
}

test(`kill -9 and restart of a member, the secondary and the primary, ${CYCLES} times, with clients and a running session`, async (t) => {
  const samples = new Map<string, Sample[]>();
  const record = (name: string, s: Sample) => samples.set(name, [...(samples.get(name) ?? []), s]);

  let epoch = (await cluster.waitHealth(primary, (h) => h.acting, 'acting')).epoch;
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    // A member.
    await cluster.kill9(m1);
    await allBrowsable(`cycle ${cycle}, member killed`, [m1]);
    await ensureSession(`cycle ${cycle}, member killed`);
    await cluster.start(m1);
    await cluster.linkedTo(m1, primary.address);

    // The secondary.
    await cluster.kill9(secondary);
    await allBrowsable(`cycle ${cycle}, secondary killed`, [secondary]);
    await ensureSession(`cycle ${cycle}, secondary killed`);
    await cluster.start(secondary);
    await cluster.linkedTo(secondary, primary.address);

    // The primary: failover, a config change on the acting secondary, failback.
    record(
      'primary (lifetime)',
      sample(primary.proc!, cycle, (await cluster.sdkBrowse()).filter((c) => c.server === primary.address).length),
    );
    const marks = { s: secondary.proc!.lines.length, m1: m1.proc!.lines.length, survivor: survivor.proc!.lines.length };
    await cluster.kill9(primary);
    const takeover = await secondary.proc!.waitForLine(
      (l) => l.msg === 'the secondary takes over as acting primary',
      `cycle ${cycle}: takeover`,
      30_000,
      marks.s,
    );
    await cluster.linkedTo(m1, secondary.address, marks.m1);
    await cluster.linkedTo(survivor, secondary.address, marks.survivor);
    await allBrowsable(`cycle ${cycle}, primary killed`, [primary]);
    await ensureSession(`cycle ${cycle}, primary killed`);
    await cliOk([
      'config',
      '--data',
      secondary.data,
      'key',
      'add',
      `cy-s${cycle}`,
      '--value',
      `keyvalue-cycles-s${cycle}-0123456789`,
    ]);

    const back = { s: secondary.proc!.lines.length, m1: m1.proc!.lines.length, survivor: survivor.proc!.lines.length };
    await cluster.start(primary);
    const reclaimed = await primary.proc!.waitForMsg('took the primary role back', 30_000);
    // Each change of acting primary raises the epoch.
    assert.ok(Number(takeover.epoch) > epoch, `cycle ${cycle}: takeover epoch ${String(takeover.epoch)} > ${epoch}`);
    assert.ok(
      Number(reclaimed.epoch) > Number(takeover.epoch),
      `cycle ${cycle}: failback epoch ${String(reclaimed.epoch)} > ${String(takeover.epoch)}`,
    );
    epoch = Number(reclaimed.epoch);
    await cluster.linkedTo(m1, primary.address, back.m1);
    await cluster.linkedTo(survivor, primary.address, back.survivor);
    await cluster.linkedTo(secondary, primary.address, back.s);
    await cliOk([
      'config',
      '--data',
      primary.data,
      'key',
      'add',
      `cy-p${cycle}`,
      '--value',
      `keyvalue-cycles-p${cycle}-0123456789`,
    ]);
    const clients = await allBrowsable(`cycle ${cycle}, primary back`, []);
    await ensureSession(`cycle ${cycle}, primary back`);

    // Let sockets of the killed peers and closed sessions settle before sampling.
    await new Promise((r) => setTimeout(r, 1500));
    const on = countBy(clients, (c) => c.server);
    record('survivor member', sample(survivor.proc!, cycle, on[survivor.address] ?? 0));
    record('bench', sample(cluster.procsOf('bench')[0]!, cycle));
    cluster.procsOf('client').forEach((p, i) => record(`client ${i}`, sample(p, cycle)));
  }

  // Every client, once, and sessions through the primary again.
  const clients = await allBrowsable('end', []);
  assert.deepEqual(
    clients.map((c) => c.name).sort(),
    [...Array.from({ length: BENCH }, (_, i) => `cy-${i}`), ...REAL].sort(),
  );
  for (const name of REAL) {
    const r = await cluster.control(['exec', name, '--', 'echo', `end-${name}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `end-${name}\n`);
  }

  // The same configuration everywhere, with every key written on either side of each failover
  // (the last key was written a moment ago: replication is given time to carry it).
  let configs: { name: string; config: unknown }[] = [];
  await waitUntil(
    async () => {
      configs = await Promise.all(
        cluster.servers.map(async (n) => ({ name: n.name, config: await cluster.replicatedConfig(n) })),
      );
      return configs.every((c) => isDeepStrictEqual(c.config, configs[0]!.config));
    },
    'the same configuration on every server',
    20_000,
    250,
  ).catch(() => undefined);
  for (const { name, config } of configs.slice(1))
    assert.deepEqual(config, configs[0]!.config, `${name} has the primary's configuration`);
  const keys = (configs[0]!.config as { keys: { name: string }[] }).keys.map((k) => k.name).sort();
  assert.deepEqual(
    keys,
    ['k1', ...Array.from({ length: CYCLES }, (_, i) => [`cy-p${i + 1}`, `cy-s${i + 1}`]).flat()].sort(),
  );

  // No leak across the cycles: compare the last cycle with the first (a generous bound; the
  // held clients' own sockets are taken out, since clients move between servers).
  const report = [...samples].map(
    ([name, list]) =>
      `${name}: ${list.map((s) => `c${s.cycle} fds=${s.fds} clients=${s.clients} rss=${(s.rss / MB).toFixed(1)}MB`).join(' | ')}`,
  );
  const detail = `${report.join('\n')}\nsessions: ${sessionLog.join('; ')}`;
  for (const [name, list] of samples) {
    const first = list[0]!;
    const last = list.at(-1)!;
    assert.ok(
      last.fds - last.clients <= first.fds - first.clients + 25,
      `${name}: file descriptors keep growing\n${detail}`,
    );
    assert.ok(last.rss <= first.rss * 1.5 + 32 * MB, `${name}: memory keeps growing\n${detail}`);
  }
  for (const line of detail.split('\n')) t.diagnostic(line);
});
