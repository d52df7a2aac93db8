/**
 * Issue 3, "One cluster, seen from the primary": browse and servers on the primary, and a directory
 * that stays right while clients come and go and members restart, hang or die (kill -9).
 * Servers on 127.0.43.x; heartbeat 1 s so that dead clients are found quickly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_MESSAGE_BYTES, type ClientInfo, type ServerInfo } from '../src/protocol/messages.js';
import { Cluster, type Bench, type ServerNode } from './helpers/cluster.js';
import type { Proc } from './helpers/harness.js';
import { waitFor } from './helpers/harness.js';

let cluster: Cluster;
let m1: ServerNode;
let m2: ServerNode;
const benches = new Set<Bench>();
/** Single clients by name, with the process that runs each. */
const singles = new Map<string, Proc>();

before(async () => {
  cluster = await Cluster.start({ subnet: 43, members: [{}, {}], heartbeat: 1 });
  [m1, m2] = cluster.members as [ServerNode, ServerNode];
});

after(() => cluster?.close());

function serverOf(proc: Proc): string | undefined {
  const last = proc.lines.filter((l) => typeof l.status === 'string').at(-1);
  return last?.status === 'connected' ? (last.server as string) : undefined;
}

/**
 * What the clients themselves say: how many are connected and where. Bench processes report every
 * half second; single clients log each change.
 */
function clientsView(): { total: number; byServer: Map<string, number> } {
  const byServer = new Map<string, number>();
  let total = 0;
  for (const bench of benches) {
    const s = bench.latest();
    for (const [server, n] of Object.entries(s?.byServer ?? {})) byServer.set(server, (byServer.get(server) ?? 0) + n);
    total += s?.connected ?? 0;
  }
  for (const proc of singles.values()) {
    const server = serverOf(proc);
    if (!server) continue;
    byServer.set(server, (byServer.get(server) ?? 0) + 1);
    total++;
  }
  return { total, byServer };
}

const expectedTotal = () => [...benches].reduce((n, b) => n + b.count, 0) + singles.size;

/**
 * Waits until every client is connected and the primary's browse agrees with the clients: same
 * number, no duplicate, each single client on the server it says, and the counts per server equal.
 */
async function directoryMatchesClients(what: string, timeoutMs = 45_000): Promise<ClientInfo[]> {
  let last = '';
  try {
    return await waitFor(
      async () => {
        const view = clientsView();
        if (view.total !== expectedTotal())
          return ((last = `clients connected ${view.total}/${expectedTotal()}`), false);
        const listed = await cluster.withSdk((c) => c.browse()).catch(() => undefined);
        if (!listed) return ((last = 'browse failed'), false);
        if (listed.length !== view.total)
          return ((last = `browse lists ${listed.length}, clients ${view.total}`), false);
        if (new Set(listed.map((c) => c.id)).size !== listed.length) return ((last = 'duplicate ids in browse'), false);
        for (const [name, proc] of singles) {
          const entry = listed.find((c) => c.name === name);
          if (entry?.server !== serverOf(proc))
            return ((last = `${name}: browse says ${entry?.server}, the client ${serverOf(proc)}`), false);
        }
        const counted = new Map<string, number>();
        for (const c of listed) counted.set(c.server, (counted.get(c.server) ?? 0) + 1);
        for (const [server, n] of view.byServer)
          if (counted.get(server) !== n)
            return ((last = `${server}: browse ${counted.get(server)}, clients ${n}`), false);
        // Bench clients report every half second: a match must hold across a report.
        return listed;
      },
      what,
      timeoutMs,
      300,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last mismatch: ${last}`, { cause: err });
  }
}

async function startSingle(name: string, gateway?: string): Promise<Proc> {
  const proc = await cluster.client(name, ['--group', 'singles'], { gateway });
  singles.set(name, proc);
  return proc;
}

test('servers --json: one row per server with address, role, weight, enabled, secondary, status, clients and sessions', async () => {
  const rows = await cluster.servers();
  for (const row of rows)
    assert.deepEqual(Object.keys(row).sort(), [
      'address',
      'clients',
      'enabled',
      'role',
      'secondary',
      'sessions',
      'status',
      'weight',
    ]);
  assert.deepEqual(
    rows.find((r) => r.address === cluster.primary.address),
    {
      address: cluster.primary.address,
      role: 'primary',
      weight: 900,
      enabled: true,
      secondary: false,
      status: 'up',
      clients: 0,
      sessions: 0,
    },
  );
  for (const m of [m1, m2])
    assert.deepEqual(
      rows.find((r) => r.address === m.address),
      {
        address: m.address,
        role: 'member',
        weight: 1000,
        enabled: true,
        secondary: false,
        status: 'up',
        clients: 0,
        sessions: 0,
      },
    );

  // Rows and settings changed on the primary show at once, without a restart.
  const spare = `127.0.43.9:${cluster.port}`;
  await cluster.configOk(['server', 'add', spare, '--secondary']);
  await cluster.configOk(['set', 'primary-weight', '1200']);
  const after = await cluster.servers();
  assert.deepEqual(
    after.find((r) => r.address === spare),
    {
      address: spare,
      role: 'member',
      weight: 1000,
      enabled: true,
      secondary: true,
      status: 'down',
      clients: 0,
      sessions: 0,
    },
  );
  assert.equal(after.find((r) => r.address === cluster.primary.address)?.weight, 1200);
  const text = await cluster.control(['servers']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /ADDRESS\s+ROLE\s+WEIGHT\s+ENABLED\s+SECONDARY\s+STATUS\s+CLIENTS\s+SESSIONS/);
  await cluster.configOk(['server', 'remove', spare]);
  await cluster.configOk(['set', 'primary-weight', '900']);
});

test('browse on the primary lists every client of the cluster with the server it is on', async () => {
  const bench = cluster.bench(60, 'dir');
  benches.add(bench);
  await bench.waitAllConnected();
  await startSingle('single-primary-placed');
  await startSingle('single-on-m1', m1.address);
  await startSingle('single-on-m2', m2.address);
  await directoryMatchesClients('browse to match the clients');

  const listed = await cluster.browse();
  assert.equal(listed.length, 63);
  for (const c of listed)
    assert.deepEqual(Object.keys(c).sort(), ['address', 'connectedAt', 'group', 'id', 'name', 'platform', 'server']);
  const onM1 = listed.find((c) => c.name === 'single-on-m1')!;
  assert.equal(onM1.server, m1.address);
  assert.equal(onM1.group, 'singles');
  assert.ok(!Number.isNaN(Date.parse(onM1.connectedAt)));
  // Every server holds some of the 60, as their weights say.
  const servers = new Set(listed.filter((c) => c.group === 'dir').map((c) => c.server));
  assert.deepEqual([...servers].sort(), [cluster.primary.address, m1.address, m2.address].sort());
  // The filters work across the cluster too.
  const filtered = await cluster.controlJson<ClientInfo[]>(['browse', '--group', 'singles']);
  assert.deepEqual(filtered.map((c) => c.name).sort(), ['single-on-m1', 'single-on-m2', 'single-primary-placed']);
  const rows = await cluster.servers();
  for (const r of rows)
    assert.equal(
      r.clients,
      listed.filter((c) => c.server === r.address).length,
      `servers and browse agree on ${r.address}`,
    );
});

test('kill -9 of a member: its clients leave browse, come back through the primary, are placed again and reappear', async () => {
  const before = await directoryMatchesClients('a settled directory');
  const onM1 = before.filter((c) => c.server === m1.address).length;
  assert.ok(onM1 > 1, 'the member holds clients');
  const single = singles.get('single-on-m1')!;
  const fromLine = single.lines.length;
  const primaryFrom = cluster.primary.proc!.lines.length;

  await cluster.stopNode(m1, 'SIGKILL');
  // The primary notices the dead link and forgets the member's clients at once...
  const lost = await cluster.primary.proc!.waitForLine(
    (l) => l.msg === 'member link lost' && l.member === m1.address,
    'the primary notices the dead member',
    15_000,
    primaryFrom,
  );
  assert.equal(lost.clientsDropped, onM1, 'the primary dropped exactly the clients the member held');
  await cluster.waitServers((s) => {
    const row = s.find((r) => r.address === m1.address);
    return row?.status === 'down' && row.clients === 0;
  }, 'the member shown down with no client');
  // ...and they reappear on the other servers as they reconnect.
  const after = await directoryMatchesClients('every client back, none on the dead member');
  assert.equal(after.filter((c) => c.server === m1.address).length, 0);
  assert.equal(after.length, before.length);

  // The client went back to the primary it learned at welcome, and was placed from there.
  const later = single.lines.slice(fromLine);
  const dialled = later.filter((l) => l.status === 'connecting').map((l) => l.server);
  assert.ok(dialled.includes(cluster.primary.address), `the client dialled the primary: ${JSON.stringify(dialled)}`);
  assert.notEqual(serverOf(single), m1.address);
});

test('the member restarts after kill -9: it joins again empty, takes new arrivals, and browse stays right', async () => {
  await cluster.startMember(0);
  const rows = await cluster.servers();
  assert.deepEqual((({ status, clients }) => ({ status, clients }))(rows.find((r) => r.address === m1.address)!), {
    status: 'up',
    clients: 0,
  });
  const bench = cluster.bench(20, 'after-restart');
  benches.add(bench);
  const status = await bench.waitAllConnected();
  assert.ok(
    (status.byServer[m1.address] ?? 0) >= 15,
    `the emptied member takes most new arrivals: ${JSON.stringify(status.byServer)}`,
  );
  await directoryMatchesClients('browse right after the restart');
});

test('a hung member (SIGSTOP): its clients are dropped within the heartbeat window, reconnect elsewhere, and browse is right after it resumes', async () => {
  const before = await directoryMatchesClients('a settled directory');
  const onM2 = before.filter((c) => c.server === m2.address).length;
  assert.ok(onM2 > 1);
  const pid = m2.proc!.child.pid!;
  process.kill(pid, 'SIGSTOP');
  try {
    // Nothing closes a socket: only the heartbeats (clients) and the link's pings (primary) notice.
    await cluster.waitServers(
      (s) => s.find((r) => r.address === m2.address)?.status === 'down',
      'the hung member shown down',
      30_000,
    );
    const moved = await directoryMatchesClients('every client of the hung member placed elsewhere');
    assert.equal(moved.filter((c) => c.server === m2.address).length, 0);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  // Resumed, it finds its clients gone and joins again; nothing stale reaches browse.
  await cluster.waitMemberLinked(m2);
  const after = await directoryMatchesClients('browse right after the member resumed');
  assert.equal(after.length, before.length);
});

test('churn: clients come and go (cleanly, killed, hung), a member restarts gracefully; browse ends exactly right', async () => {
  const a = cluster.bench(40, 'churn-a');
  const b = cluster.bench(40, 'churn-b');
  const hung = cluster.bench(30, 'churn-hung');
  for (const x of [a, b, hung]) benches.add(x);
  await Promise.all([a, b, hung].map((x) => x.waitAllConnected()));
  await directoryMatchesClients('all churn clients listed');

  // Clean exit, crash, and a hang (sockets stay open; only heartbeats can tell).
  await a.proc.stop('SIGTERM');
  benches.delete(a);
  await b.proc.stop('SIGKILL');
  benches.delete(b);
  process.kill(hung.proc.child.pid!, 'SIGSTOP');
  benches.delete(hung);
  const c = cluster.bench(25, 'churn-c');
  benches.add(c);
  await startSingle('single-late');
  await directoryMatchesClients('gone clients removed, new ones listed');
  await hung.proc.stop('SIGKILL');

  // A graceful member restart: its clients are sent elsewhere, and it rejoins.
  await cluster.stopNode(m2, 'SIGTERM');
  await directoryMatchesClients('clients of the stopped member placed elsewhere');
  await cluster.startMember(1);
  const listed = await directoryMatchesClients('browse right after the restart');
  const names = new Set(listed.map((x) => x.name));
  for (const gone of ['churn-a-0', 'churn-b-0', 'churn-hung-0']) assert.ok(!names.has(gone), `${gone} is not listed`);
  assert.ok(names.has('churn-c-0') && names.has('single-late'));
  const rows: ServerInfo[] = await cluster.servers();
  for (const r of rows)
    assert.equal(
      r.clients,
      listed.filter((x) => x.server === r.address).length,
      `servers and browse agree on ${r.address}`,
    );
});

test('the primary restarts after kill -9: each member sends its client list again in ordinary-sized messages, and browse is whole', async () => {
  // Enough clients on one member that its list is several times what one cluster message may hold.
  const many = cluster.bench(600, 'relist', [], { gateway: m1.address });
  benches.add(many);
  await many.waitAllConnected(90_000);
  const before = await directoryMatchesClients('the big list in browse');
  const onM1 = before.filter((c) => c.server === m1.address);
  const listBytes = Buffer.byteLength(JSON.stringify(onM1));
  assert.ok(listBytes > MAX_MESSAGE_BYTES, `the member's list (${listBytes} bytes) is more than one message may hold`);

  await cluster.stopNode(cluster.primary, 'SIGKILL');
  await cluster.startPrimary();
  const received = await cluster.primary.proc!.waitForLine(
    (l) => l.msg === 'member client list received' && l.member === m1.address,
    "the primary receives m1's whole list",
    30_000,
  );
  assert.ok((received.clients as number) >= onM1.length, `the list holds every client m1 kept: ${received.clients}`);
  const after = await directoryMatchesClients('browse whole again after the restart', 90_000);
  assert.equal(after.length, before.length);
  assert.ok(after.filter((c) => c.server === m1.address).length >= onM1.length, "m1's clients are still on m1");
});
