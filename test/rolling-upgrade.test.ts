/**
 * Issue 20, upgrades one server at a time, for real: the previous release, built from its git tag
 * (test/helpers/release.ts), runs a cluster (primary, secondary, member) with old and new clients;
 * the member, then the secondary, then the primary are replaced by the current code on the same data
 * directories. After every step the acting primary lists every client, a session is brokered to
 * each client on another server (with the old CLI to one, the new to the other), and a key added
 * there reaches every store.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { ControlClient } from '../src/control/controlClient.js';
import type { ClientInfo } from '../src/protocol/messages.js';
import { health, waitUntil } from './helpers/failover.js';
import { binSpawn, Proc, ROOT, runCli, tempDir, type CliResult } from './helpers/harness.js';
import { freePortOn } from './helpers/ports.js';
import { buildRelease, previousRelease, ReleaseNotInClone, type Release } from './helpers/release.js';

/** 127.0.203.0/24 is this file's: no other test uses it. */
const SUBNET = '127.0.203';
const SECRET = 'rolling-upgrade-secret-0123456789abcdef';
const KEY = 'rolling-upgrade-key-0123456789';

/** Which code a process runs: the previous release or the current tree. */
type Build = Release | 'current';

interface Node {
  name: string;
  address: string;
  data: string;
  role: 'primary' | 'member';
  build: Build;
  proc?: Proc;
}

const dir = tempDir('sb-rolling-');
const procs = new Set<Proc>();
// A test file that dies (a timeout, an interrupt) must not leave servers behind.
process.once('exit', () => {
  for (const p of procs) p.child.kill('SIGKILL');
});

let old: Release;
/** How many times the cluster was checked: which CLI execs on which client alternates with it. */
let checks = 0;
let port: number;
let primary: Node;
let secondary: Node;
let member: Node;

const binOf = (build: Build) => (build === 'current' ? undefined : build.bin);
const label = (build: Build) => (build === 'current' ? 'current' : `v${build.version}`);

/** A long-running `switchboard ...` process of either build. */
function spawn(build: Build, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  let proc: Proc;
  if (build === 'current') proc = new Proc(args, env);
  else {
    const run = binSpawn(args, env, build.bin);
    proc = new Proc(run.argv, env, { file: process.execPath, cwd: build.root, env: run.env });
  }
  procs.add(proc);
  void proc.exited.then(() => procs.delete(proc));
  return proc;
}

async function cli(build: Build, args: string[]): Promise<CliResult> {
  const r = await runCli(args, { bin: binOf(build), timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${label(build)}: switchboard ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

async function startServer(node: Node): Promise<void> {
  node.proc = spawn(
    node.build,
    [
      'server',
      '--data',
      node.data,
      '--role',
      node.role,
      '--listen',
      node.address,
      ...(node.role === 'member' ? ['--primary', primary.address] : []),
    ],
    { SWITCHBOARD_CLUSTER_SECRET: SECRET },
  );
  await node.proc.waitForMsg('listening', 60_000);
}

/** Stops a server gracefully and starts the current code on the same data directory and address. */
async function upgrade(node: Node): Promise<void> {
  await node.proc?.stop('SIGTERM');
  node.build = 'current';
  await startServer(node);
}

function linkedTo(node: Node, acting: Node, from = 0): Promise<unknown> {
  return node.proc!.waitForLine(
    (l) => l.msg === 'linked to the acting primary' && l.acting === acting.address,
    `${node.name} (${label(node.build)}) linked to ${acting.name}`,
    60_000,
    from,
  );
}

function waitActing(node: Node, acting: boolean): Promise<unknown> {
  return waitUntil(
    async () => (await health(node.address))?.acting === acting,
    `${node.name} ${acting ? 'acting' : 'not acting'} as primary`,
    60_000,
  );
}

/** The key names in a server's own store, read without disturbing it. */
function storedKeys(node: Node): string[] {
  const db = new Database(join(node.data, 'switchboard.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT name FROM keys').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

async function browse(acting: Node, key = KEY): Promise<ClientInfo[]> {
  const control = await ControlClient.connect({ gateway: acting.address, key, dial: { tls: false } });
  try {
    return await control.browse();
  } finally {
    control.close();
  }
}

/**
 * What every step must keep working, through the acting primary: every client listed, each placed
 * on a server of the cluster; an exec brokered to each client with the old and the new CLI; and a
 * key added now (with the acting primary's own CLI) in every running server's store, and usable.
 */
async function checkCluster(step: string, acting: Node, clients: string[]): Promise<void> {
  const running = [primary, secondary, member].filter((n) => n.proc && n.proc.child.exitCode === null);
  const addresses = new Set(running.map((n) => n.address));
  let last = 'nothing yet';
  const listed = await waitUntil(
    async () => {
      const list = await browse(acting).catch((err: Error) => (last = err.message) && undefined);
      if (list) last = JSON.stringify(list.map((c) => [c.name, c.server]));
      return list && clients.every((name) => list.some((c) => c.name === name && addresses.has(c.server)))
        ? list
        : undefined;
    },
    () => `${step}: every client listed by ${acting.name} on a running server (last: ${last})`,
    60_000,
    300,
  );
  const elsewhere = listed.filter((c) => c.server !== acting.address).map((c) => c.name);
  assert.ok(elsewhere.length > 0, `${step}: some client is on a server other than the acting primary (${last})`);

  // Both CLIs at every step, each client reached by each of them over two steps (a CLI process is
  // slow to start on a loaded machine: one exec per client per step).
  checks++;
  await Promise.all(
    clients.map(async (client, i) => {
      const build: Build = (i + checks) % 2 ? old : 'current';
      const word = `${step}-${client}-${label(build)}`.replace(/[^a-z0-9.-]/gi, '_');
      const r = await cli(build, [
        'control',
        '--gateway',
        acting.address,
        '--key',
        KEY,
        'exec',
        client,
        '--',
        'echo',
        word,
      ]);
      assert.equal(r.stdout.trim(), word, `${step}: exec on ${client} with the ${label(build)} CLI`);
    }),
  );

  const keyName = `key-${step}`.replace(/[^a-z0-9-]/gi, '-');
  const keyValue = `${keyName}-value-0123456789abcdef`;
  await cli(acting.build, ['config', '--data', acting.data, 'key', 'add', keyName, '--value', keyValue]);
  for (const node of running)
    await waitUntil(
      () => storedKeys(node).includes(keyName),
      `${step}: key ${keyName} in ${node.name}'s (${label(node.build)}) store`,
      30_000,
    );
  await waitUntil(
    async () => (await browse(acting, keyValue).catch(() => undefined)) !== undefined,
    `${step}: a control with the new key ${keyName} admitted by ${acting.name}`,
    30_000,
  );
}

async function startClient(build: Build, name: string): Promise<Proc> {
  const proc = spawn(build, [
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
    join(dir.path, `client-${name}`),
    '--allow-exec',
  ]);
  await proc.waitForLine((l) => l.status === 'connected', `${label(build)} client ${name} connected`, 60_000);
  return proc;
}

/** Why the upgrade cannot run here: a clone that lacks the previous release (see .ci/run). */
let missingRelease: string | undefined;

before(() => {
  // The one-time build (about half a minute) happens here; later runs find it cached.
  try {
    old = buildRelease(previousRelease());
  } catch (error) {
    if (!(error instanceof ReleaseNotInClone)) throw error;
    missingRelease = error.message;
  }
});

after(async () => {
  await Promise.all(
    [...procs].map(async (p) => {
      p.child.kill('SIGCONT');
      p.child.kill('SIGKILL');
      await p.exited;
    }),
  );
  dir.remove();
});

test('the previous release is found in a clone without tags; a shallow clone says how to fetch it', () => {
  const want = previousRelease();
  const clone = (name: string, flags: string[]) => {
    const path = join(dir.path, name);
    const r = spawnSync('git', ['clone', '-q', ...flags, pathToFileURL(ROOT).href, path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return path;
  };
  assert.deepEqual(previousRelease(clone('no-tags', ['--no-tags'])), want, 'found by its package.json version');
  assert.throws(
    () => previousRelease(clone('shallow', ['--depth', '1'])),
    new RegExp(
      `release ${want.version.replaceAll('.', '\\.')} \\(tag v.*\\) is not in this clone, a shallow one: fetch it with \`git fetch --unshallow --tags origin\``,
    ),
  );
});

test('a cluster of the previous release is upgraded member, secondary, primary with clients served throughout', async (t) => {
  if (missingRelease) return t.skip(missingRelease);
  const hosts = [1, 2, 3].map((i) => `${SUBNET}.${i}`);
  port = await freePortOn(hosts);
  const node = (name: string, i: number, role: Node['role']): Node => ({
    name,
    address: `${hosts[i]}:${port}`,
    data: join(dir.path, name),
    role,
    build: old,
  });
  primary = node('primary', 0, 'primary');
  secondary = node('secondary', 1, 'member');
  member = node('member', 2, 'member');

  // The previous release makes its own store, as it would have in production.
  const config = (args: string[]) => cli(old, ['config', '--data', primary.data, ...args]);
  await config(['--create', 'key', 'add', 'k1', '--value', KEY]);
  await config(['set', 'heartbeat', '1']);
  // The primary keeps no client itself: every session below is brokered to another server.
  await config(['set', 'primary-weight', '0']);
  await config(['server', 'add', secondary.address, '--weight', '1000', '--secondary']);
  await config(['server', 'add', member.address, '--weight', '1000']);

  await startServer(primary);
  await Promise.all([secondary, member].map(async (m) => (await startServer(m), await linkedTo(m, primary))));

  // A client of the previous release and one of the current code, both first placed by old servers.
  const clients = ['old-a', 'new-b'];
  await startClient(old, 'old-a');
  await startClient('current', 'new-b');
  await checkCluster('all-old', primary, clients);

  await upgrade(member);
  await linkedTo(member, primary);
  await checkCluster('member-new', primary, clients);

  await upgrade(secondary);
  await linkedTo(secondary, primary);
  await checkCluster('secondary-new', primary, clients);

  // The primary goes down for its upgrade: the (new) secondary stands in, then hands back.
  await primary.proc!.stop('SIGTERM');
  await waitActing(secondary, true);
  await checkCluster('primary-down', secondary, clients);
  const memberFrom = member.proc!.lines.length;
  primary.build = 'current';
  await startServer(primary);
  await waitActing(primary, true);
  await waitActing(secondary, false);
  await linkedTo(member, primary, memberFrom);
  await checkCluster('all-new', primary, clients);

  // A client of the previous release starting now, against servers that are all current.
  await startClient(old, 'old-c');
  await checkCluster('old-client-late', primary, [...clients, 'old-c']);
});
