/**
 * Issue 3, "Replicated configuration": keys, operators and settings changed on the primary reach
 * every member's own SQLite; members serve from their copy while the primary is away; a removed
 * key's clients are cut on every server; a member that was away catches up; a member's data
 * directory takes no writes. Servers on 127.0.45.x.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Cluster, KEY_NAME, storeVersion, type ServerNode } from './helpers/cluster.js';

let cluster: Cluster;
let m1: ServerNode;
let m2: ServerNode;
const K2 = 'second-key-value-0001';
const K3 = 'third-key-value-00001';

before(async () => {
  cluster = await Cluster.start({ subnet: 45, members: [{}, {}], heartbeat: 2 });
  [m1, m2] = cluster.members as [ServerNode, ServerNode];
});

after(() => cluster?.close());

interface KeyRow {
  name: string;
  value: string;
}

async function keysOn(node: ServerNode): Promise<KeyRow[]> {
  return JSON.parse(await cluster.configOk(['key', 'list', '--json'], node.data)) as KeyRow[];
}

async function showOn(node: ServerNode): Promise<{
  version: number;
  settings: Record<string, unknown>;
  operators: { name: string; role: string; keys: string[] }[];
  servers: { address: string; weight: number }[];
}> {
  return JSON.parse(await cluster.configOk(['show', '--json'], node.data));
}

/** Waits until every running member's own store is at the primary's version; returns how long it took. */
async function replicatedEverywhere(members = [m1, m2]): Promise<number> {
  const started = Date.now();
  await Promise.all(members.map((m) => cluster.waitReplicated(m, 15_000)));
  return Date.now() - started;
}

test('keys, operators and settings changed on the primary reach every member and are stored in its own SQLite', async (t) => {
  const changed = Date.now();
  await cluster.configOk(['key', 'add', 'k2', '--value', K2]);
  await cluster.configOk(['set', 'hello-timeout', '7']);
  await cluster.configOk(
    ['operator', 'add', 'alice', '--role', 'operator', '--keys', KEY_NAME, '--password-env', 'PW'],
    cluster.primary.data,
    { PW: 'alice-password-1' },
  );
  const took = await replicatedEverywhere();
  t.diagnostic(
    `replicated to both members ${took} ms after the last change (${Date.now() - changed} ms after the first)`,
  );

  for (const m of [m1, m2]) {
    const keys = await keysOn(m);
    assert.deepEqual(
      keys.map((k) => [k.name, k.value]).sort(),
      [
        [KEY_NAME, cluster.key],
        ['k2', K2],
      ].sort(),
      `${m.name} holds the keys`,
    );
    const shown = await showOn(m);
    assert.equal(shown.version, storeVersion(cluster.primary.data), `${m.name} is at the primary's version`);
    assert.equal(shown.settings['hello-timeout'], 7);
    assert.equal(shown.settings.heartbeat, 2);
    assert.deepEqual(
      shown.operators.map((o) => [o.name, o.role, o.keys]),
      [['alice', 'operator', [KEY_NAME]]],
    );
    assert.deepEqual(
      shown.servers.map((s) => s.address).sort(),
      [m1.address, m2.address].sort(),
      'the server table replicates too',
    );
  }

  // With an operator configured, controls must log in on the primary; the replicated account is the same one.
  const anonymous = await cluster.control(['servers']);
  assert.notEqual(anonymous.code, 0);
  const asAlice = await runAsAlice(['browse', '--json']);
  assert.equal(asAlice.code, 0, asAlice.stderr);

  await cluster.configOk(['operator', 'remove', 'alice']);
  await replicatedEverywhere();
  for (const m of [m1, m2]) assert.deepEqual((await showOn(m)).operators, [], `${m.name} dropped the removed operator`);
});

function runAsAlice(args: string[]) {
  return cluster.control(['--operator', 'alice', '--password-env', 'PW', ...args], { env: { PW: 'alice-password-1' } });
}

test("`config --data` on a member's data directory refuses writes, naming the primary, and still reads", async () => {
  const attempts = [
    ['key', 'add', 'sneaky'],
    ['key', 'remove', KEY_NAME],
    ['set', 'heartbeat', '5'],
    ['server', 'add', '127.0.45.99:1000'],
    ['operator', 'remove', 'alice'],
  ];
  const results = await Promise.all(attempts.map((args) => cluster.config(args, m1.data)));
  results.forEach((r, i) => {
    assert.notEqual(r.code, 0, `config ${attempts[i]!.join(' ')} was accepted on a member`);
    assert.ok(r.stderr.includes(cluster.primary.address), `the refusal names the primary: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one clear line: ${r.stderr}`);
  });
  assert.deepEqual(
    (await keysOn(m1)).map((k) => k.name).sort(),
    [KEY_NAME, 'k2'],
    'nothing changed, and reading works',
  );
});

test("removing a key disconnects that key's clients on every server, and only theirs", async () => {
  const keep = cluster.bench(30, 'keep');
  const doomed = cluster.bench(30, 'doomed', [], { key: K2 });
  const [, before] = await Promise.all([keep.waitAllConnected(), doomed.waitAllConnected()]);
  const servers = [cluster.primary, m1, m2];
  for (const s of servers)
    assert.ok(
      (before.byServer[s.address] ?? 0) > 0,
      `clients of the key on ${s.name}: ${JSON.stringify(before.byServer)}`,
    );
  const marks = new Map(servers.map((s) => [s, s.proc!.lines.length]));

  await cluster.configOk(['key', 'remove', 'k2']);
  await doomed.waitStatus((s) => s.connected === 0, 'no client of the removed key connected');
  for (const s of servers) {
    const line = await s.proc!.waitForLine(
      (l) => l.msg === 'keys removed; their clients disconnected',
      `${s.name} cuts the key's clients`,
      15_000,
      marks.get(s),
    );
    assert.deepEqual(line.keys, ['k2']);
  }
  // They stay out (the key is refused everywhere), while the other key's clients never left.
  await doomed.waitStatus((s) => s.connected === 0, 'still none connected a moment later');
  const kept = await keep.waitStatus(() => true, 'a fresh status line');
  assert.equal(kept.connected, 30);
  const listed = await cluster.browse();
  assert.equal(listed.length, 30);
  assert.ok(listed.every((c) => c.name.startsWith('keep-')));
  const refused = await cluster.control(['browse'], { key: K2 });
  assert.notEqual(refused.code, 0, 'a control with the removed key is refused');
  await Promise.all([keep.proc.stop(), doomed.proc.stop()]);
});

test('a member that was away catches up when it rejoins', async () => {
  await cluster.stopNode(m2, 'SIGTERM');
  const versionAway = storeVersion(m2.data);
  await cluster.configOk(['key', 'add', 'k3', '--value', K3]);
  await cluster.configOk(['set', 'primary-weight', '950']);
  await cluster.configOk(['server', 'set', m1.address, '--weight', '1100']);
  assert.ok(storeVersion(cluster.primary.data) > versionAway);

  await cluster.startMember(1);
  const line = await m2.proc!.waitForMsg('configuration replicated');
  assert.equal(line.version, storeVersion(cluster.primary.data));
  assert.deepEqual((await keysOn(m2)).map((k) => k.name).sort(), [KEY_NAME, 'k3']);
  const shown = await showOn(m2);
  assert.equal(shown.settings['primary-weight'], 950);
  assert.equal(shown.servers.find((s) => s.address === m1.address)?.weight, 1100);
});

test('a member restarted while the primary is down accepts clients with the keys it had; the primary learns of them when it returns', async () => {
  await replicatedEverywhere();
  await cluster.stopNode(cluster.primary, 'SIGTERM');
  await cluster.stopNode(m1, 'SIGTERM');
  await cluster.startMember(0, { waitLinked: false });

  // Directly to the member: it checks the key against its own copy and keeps the client.
  const client = await cluster.client('direct', [], { gateway: m1.address, key: K3 });
  const connected = client.lines.find((l) => l.status === 'connected')!;
  assert.equal(connected.server, m1.address);
  // A removed key stays removed there too.
  const outsider = await cluster.client('outsider', [], { gateway: m1.address, key: K2, wait: false });
  await outsider.waitForLine(
    (l) => l.status === 'waiting' && /key/.test(String(l.reason)),
    'the removed key refused by the member',
  );
  await outsider.stop();

  // The primary returns: the member links again and its client shows in browse.
  await cluster.startPrimary();
  await cluster.waitMemberLinked(m1);
  const listed = await cluster.controlJson<{ name: string; server: string }[]>(['browse'], { key: K3 });
  assert.deepEqual(
    listed.map((c) => [c.name, c.server]),
    [['direct', m1.address]],
  );
});
