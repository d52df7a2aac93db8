/**
 * Issue 17, devices through their whole life, on a real cluster (primary, secondary, member) with
 * real client processes: known devices (offline ones too, with when they were last seen), revoke
 * refused at the hello on every server and a live connection cut off, device approval, rename, bad
 * input refused with a code, and all of it through a kill -9 of the primary.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, test } from 'node:test';
import type { Proc } from './helpers/harness.js';
import { runCli } from './helpers/harness.js';
import { storeVersion } from './helpers/cluster.js';
import { cliOk, FailoverCluster, KEY, waitUntil, type Node } from './helpers/failover.js';
import type { DeviceListing } from '../src/store/deviceTarget.js';

const cluster = new FailoverCluster({ subnet: '127.0.171', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const clients = new Map<string, Proc>();

async function devices(node: Node): Promise<DeviceListing[]> {
  return JSON.parse(
    (await cliOk(['config', '--data', node.data, 'device', 'list', '--json'])).stdout,
  ) as DeviceListing[];
}

function waitDevices(node: Node, check: (d: DeviceListing[]) => boolean, what: string): Promise<DeviceListing[]> {
  return waitUntil(
    async () => {
      const list = await devices(node);
      return check(list) ? list : undefined;
    },
    `${node.name}: ${what}`,
    30_000,
    300,
  );
}

function byName(list: readonly { name: string; id: string }[], name: string): { name: string; id: string } {
  const found = list.find((d) => d.name === name);
  assert.ok(found, `${name} in ${JSON.stringify(list.map((d) => d.name))}`);
  return found;
}

/** A real client; `connected`: wait for it (false: a device held pending or refused). */
async function startClient(name: string, connected = true): Promise<Proc> {
  const proc = cluster.spawn([
    'client',
    '--gateway',
    primary.address,
    '--secondary',
    secondary.address,
    '--key',
    KEY,
    '--name',
    name,
    '--state',
    `${cluster.dir.path}/client-${name}`,
  ]);
  clients.set(name, proc);
  if (connected) await proc.waitForLine((l) => l.status === 'connected', `client ${name} connected`, 30_000);
  return proc;
}

async function stopClient(name: string): Promise<void> {
  const proc = clients.get(name)!;
  proc.child.kill('SIGTERM');
  await proc.exited;
}

async function device(node: Node, ...args: string[]) {
  return runCli(['config', '--data', node.data, 'device', ...args], { timeoutMs: 30_000 });
}

let ids: Record<string, string> = {};

before(async () => {
  await cluster.configure();
  await cluster.startAll();
  for (const name of ['dev-a', 'dev-b', 'dev-c']) await startClient(name);
  const list = await waitDevices(primary, (d) => d.length === 3, 'three devices recorded');
  ids = Object.fromEntries(list.map((d) => [d.name, d.id]));
});

after(() => cluster.cleanup());

test('every admitted identity is a known device; an offline one stays listed with when it was last seen', async () => {
  const list = await devices(primary);
  for (const d of list) {
    assert.equal(d.key, 'k1');
    assert.ok(d.firstSeen && d.lastSeen && d.lastAddress.startsWith('127.'), JSON.stringify(d));
    assert.ok([primary.address, secondary.address, cluster.members[0]!.address].includes(d.server));
  }
  const before = Date.now();
  await stopClient('dev-c');
  await cluster.waitBrowse((c) => !c.some((x) => x.name === 'dev-c'), 'dev-c gone from browse');
  // browse --all lists it after the online clients, offline, with its last-seen time.
  const all = await waitUntil(
    async () => {
      const r = await cluster.control(['browse', '--all', '--json']);
      const rows = JSON.parse(r.stdout) as { name: string; state?: string; lastSeen?: string }[];
      const c = rows.find((x) => x.name === 'dev-c');
      return c && Date.parse(c.lastSeen ?? '') >= before - 1000 ? rows : undefined;
    },
    'dev-c offline in browse --all with a fresh last seen',
    30_000,
    300,
  );
  assert.equal(all.find((x) => x.name === 'dev-c')!.state, 'offline');
  assert.equal(all.length, 3);
  // Plain browse is unchanged: online clients only.
  const plain = await cluster.browse();
  assert.deepEqual(plain.map((c) => c.name).sort(), ['dev-a', 'dev-b']);
  // The secondary holds a copy of the device list (copied over the cluster link).
  await waitDevices(
    secondary,
    (d) => d.some((x) => x.name === 'dev-c' && Date.parse(x.lastSeen) >= before - 1000),
    'dev-c copied',
  );
});

test('bad input: unknown id, revoking twice, approving a device that is not pending; nothing changed', async () => {
  const versionBefore = JSON.parse((await cliOk(['config', '--data', primary.data, 'show', '--json'])).stdout).version;
  const unknown = await device(primary, 'revoke', 'AAAAAAAAAAAAAAAAAAAAAAAAAA');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no known device with id AAAAAAAAAAAAAAAAAAAAAAAAAA \[SB_ERR_UNKNOWN_DEVICE\]/);
  const notPending = await device(primary, 'approve', ids['dev-b']!);
  assert.equal(notPending.code, 1);
  assert.match(notPending.stderr, /is not pending approval \[SB_ERR_STATE_CONFLICT\]/);
  const notRevoked = await device(primary, 'unrevoke', ids['dev-b']!);
  assert.match(notRevoked.stderr, /is not revoked \[SB_ERR_STATE_CONFLICT\]/);
  const badName = await device(primary, 'rename', ids['dev-b']!, 'bad\u001b[2Jname');
  assert.equal(badName.code, 1);
  const versionAfter = JSON.parse((await cliOk(['config', '--data', primary.data, 'show', '--json'])).stdout).version;
  assert.equal(versionAfter, versionBefore);
});

test('revoke: a live device is cut off with 4031 on the server holding it, refused at each hello, audited', async () => {
  const a = clients.get('dev-a')!;
  const from = a.lines.length;
  await cliOk(['config', '--data', primary.data, 'device', 'revoke', '--', ids['dev-a']!]);
  await a.waitForLine(
    (l) => l.status === 'waiting' && l.code === 'SB_ERR_DEVICE_REVOKED',
    'dev-a told it is revoked',
    15_000,
    from,
  );
  await cluster.waitBrowse((c) => !c.some((x) => x.name === 'dev-a'), 'dev-a gone from browse');
  // Its retries are refused at the hello, with one log line each on the server that refused it.
  const refusedSomewhere = await waitUntil(
    () =>
      cluster.servers.find((n) =>
        n.proc!.lines.some((l) => l.msg === 'client refused' && l.closeCode === 4031 && l.client === ids['dev-a']),
      ),
    'a server logged the refusal',
    30_000,
    200,
  );
  assert.ok(refusedSomewhere);
  const twice = await device(primary, 'revoke', ids['dev-a']!);
  assert.match(twice.stderr, /revoked already \[SB_ERR_STATE_CONFLICT\]/);
  const removeRevoked = await device(primary, 'remove', ids['dev-a']!);
  assert.match(removeRevoked.stderr, /unrevoke it first if that is what you want \[SB_ERR_STATE_CONFLICT\]/);
  const listed = (await devices(primary)).find((d) => d.id === ids['dev-a'])!;
  assert.equal(listed.state, 'revoked');
  const db = new Database(join(primary.data, 'switchboard.db'), { readonly: true });
  const audited = db.prepare("SELECT actor, detail FROM audit WHERE action = 'device.revoke'").all() as {
    actor: string;
    detail: string;
  }[];
  db.close();
  assert.deepEqual(
    audited.map((r) => [r.actor, JSON.parse(r.detail).id]),
    [['cli', ids['dev-a']]],
  );
});

test('rename: the admin name wins over the reported one in browse', async () => {
  await cliOk(['config', '--data', primary.data, 'device', 'rename', '--', ids['dev-b']!, 'front-desk']);
  await cluster.waitBrowse((c) => c.some((x) => x.name === 'front-desk' && x.id === ids['dev-b']), 'renamed in browse');
  const listed = (await devices(primary)).find((d) => d.id === ids['dev-b'])!;
  assert.equal(listed.name, 'front-desk');
  assert.equal(listed.reportedName, 'dev-b');
});

test('device approval: a new identity waits unseen and without sessions until approved; known devices are unaffected', async () => {
  await cliOk(['config', '--data', primary.data, 'set', 'device-approval', 'on']);
  // Every server decides pending as a client arrives: wait until the running primary has sent the
  // setting on (it reads its store's changes every 250 ms) and every other server holds it.
  const want = storeVersion(primary.data);
  await waitUntil(
    () => [secondary, ...cluster.members].every((s) => storeVersion(s.data) >= want),
    'device-approval replicated',
    15_000,
  );
  await startClient('dev-d');
  const pending = await waitDevices(primary, (d) => d.some((x) => x.name === 'dev-d'), 'dev-d recorded');
  const d = byName(pending, 'dev-d');
  ids['dev-d'] = d.id;
  assert.equal(pending.find((x) => x.id === d.id)!.state, 'pending');
  // Not in browse, and no session: an exec to its id is refused as unknown.
  const browsed = await cluster.browse();
  assert.ok(!browsed.some((c) => c.id === d.id));
  const exec = await cluster.control(['exec', d.id, '--', 'true']);
  assert.notEqual(exec.code, 0);
  assert.match(exec.stderr, /no client/);
  // A known device that comes back is not pending.
  await startClient('dev-c');
  await cluster.waitBrowse((c) => c.some((x) => x.name === 'dev-c'), 'known dev-c back in browse');
  await cliOk(['config', '--data', primary.data, 'device', 'approve', '--', d.id]);
  await cluster.waitBrowse((c) => c.some((x) => x.id === d.id), 'approved dev-d in browse without reconnecting');
  const again = await device(primary, 'approve', d.id);
  assert.match(again.stderr, /not pending approval \[SB_ERR_STATE_CONFLICT\]/);
});

test('after kill -9 of the primary: the secondary knows every device, refuses the revoked one, keeps approvals', async () => {
  await cluster.kill9(primary);
  await cluster.waitHealth(secondary, (h) => h.acting, 'acting primary');
  // Known devices, the offline one included, are on the secondary.
  const list = await devices(secondary);
  for (const name of ['dev-c', 'front-desk', 'dev-d']) byName(list, name);
  assert.equal(list.find((x) => x.id === ids['dev-a'])!.state, 'revoked');
  // Known and approved devices are browsable through it; the revoked one is not.
  const browsed = await cluster.waitBrowse(
    (c) => ['front-desk', 'dev-c', 'dev-d'].every((n) => c.some((x) => x.name === n)),
    'known devices browsable through the secondary',
    45_000,
    secondary.address,
    null,
  );
  assert.ok(!browsed.some((c) => c.id === ids['dev-a']));
  // A new identity arriving now is pending on the secondary too.
  await startClient('dev-e');
  const withE = await waitDevices(
    secondary,
    (d) => d.some((x) => x.name === 'dev-e'),
    'dev-e recorded on the secondary',
  );
  assert.equal(byName(withE, 'dev-e').name, 'dev-e');
  assert.equal(withE.find((x) => x.name === 'dev-e')!.state, 'pending');
  // Revoking through the acting secondary cuts the device off wherever it is.
  const c = clients.get('dev-c')!;
  const from = c.lines.length;
  await cliOk(['config', '--data', secondary.data, 'device', 'revoke', '--', ids['dev-c']!]);
  await c.waitForLine((l) => l.code === 'SB_ERR_DEVICE_REVOKED', 'dev-c revoked through the secondary', 15_000, from);
});
