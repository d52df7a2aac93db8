/**
 * Issue 17, key rotation without visiting the machines, on a real cluster (primary, secondary,
 * member) with real client processes configured with a key file: three clients online during the
 * rotation are handed the new secret over their connection, one offline returns with the old secret
 * in the grace period and is handed it too; after `key retire` all four still connect (the stored
 * secret wins over the configured old one), and a client with only the old secret is refused with a
 * message saying the key was rotated.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Proc } from './helpers/harness.js';
import { runCli } from './helpers/harness.js';
import { cliOk, FailoverCluster, KEY, waitUntil } from './helpers/failover.js';

const cluster = new FailoverCluster({ subnet: '127.0.172', members: 1, heartbeat: 1 });
const { primary, secondary } = cluster;
const NAMES = ['rot-1', 'rot-2', 'rot-3', 'rot-4'];
const procs = new Map<string, Proc>();
let keyFile = '';
let newSecret = '';

const stateOf = (name: string) => join(cluster.dir.path, `state-${name}`);

function startClient(name: string): Proc {
  const proc = cluster.spawn([
    'client',
    '--gateway',
    primary.address,
    '--secondary',
    secondary.address,
    '--key-file',
    keyFile,
    '--name',
    name,
    '--state',
    stateOf(name),
  ]);
  procs.set(name, proc);
  return proc;
}

const connected = (proc: Proc, from = 0) =>
  proc.waitForLine((l) => l.status === 'connected', `${proc.args.join(' ')} connected`, 30_000, from);
const handed = (proc: Proc) =>
  proc.waitForLine((l) => l.msg === 'key rotated: new secret stored in the state directory', 'key handed over', 30_000);

async function stop(name: string): Promise<void> {
  const proc = procs.get(name)!;
  proc.child.kill('SIGTERM');
  await proc.exited;
}

function storedSecret(name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateOf(name), 'rotated-key.json'), 'utf8')) as { key: string }).key;
  } catch {
    return undefined;
  }
}

before(async () => {
  keyFile = join(cluster.dir.path, 'fleet.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  await cluster.configure();
  await cluster.startAll();
  for (const name of NAMES) await connected(startClient(name));
  await cluster.waitBrowse((c) => c.length === 4, 'four clients');
  await stop('rot-4');
});

after(() => cluster.cleanup());

test('rotate: the three connected clients are handed the new secret, stored owner-only', async () => {
  const r = await cliOk(['config', '--data', primary.data, 'key', 'rotate', 'k1', '--grace', '1h']);
  newSecret = r.stdout.trim();
  assert.ok(newSecret.length >= 32 && newSecret !== KEY);
  assert.match(r.stderr, /accepted until/);
  for (const name of NAMES.slice(0, 3)) {
    await handed(procs.get(name)!);
    assert.equal(storedSecret(name), newSecret);
    assert.equal(statSync(join(stateOf(name), 'rotated-key.json')).mode & 0o777, 0o600);
  }
  // The key file still holds the old secret: the configuration is not rewritten.
  assert.equal(readFileSync(keyFile, 'utf8').trim(), KEY);
});

test('bad input: rotating a key with a pending successor, retiring a key with no rotation, an unknown key', async () => {
  const again = await runCli(['config', '--data', primary.data, 'key', 'rotate', 'k1'], { timeoutMs: 30_000 });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /has a pending successor.*\[SB_ERR_STATE_CONFLICT\]/);
  const unknown = await runCli(['config', '--data', primary.data, 'key', 'rotate', 'nope'], { timeoutMs: 30_000 });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no key named nope/);
  const keys = JSON.parse((await cliOk(['config', '--data', primary.data, 'key', 'list', '--json'])).stdout) as {
    value: string;
  }[];
  assert.equal(keys[0]!.value, newSecret);
});

test('the client offline during the rotation comes back with the old secret in the grace period and is handed the new one', async () => {
  const proc = startClient('rot-4');
  await connected(proc);
  await handed(proc);
  assert.equal(storedSecret('rot-4'), newSecret);
});

test('retire: all four reconnect on the new secret; a client with only the old one is refused as rotated', async () => {
  await cliOk(['config', '--data', primary.data, 'key', 'retire', 'k1']);
  const retireAgain = await runCli(['config', '--data', primary.data, 'key', 'retire', 'k1'], { timeoutMs: 30_000 });
  assert.match(retireAgain.stderr, /has no rotation to retire \[SB_ERR_STATE_CONFLICT\]/);
  // Restarted with the same configuration (the old key file): the stored new secret is used.
  for (const name of NAMES) {
    await stop(name);
    await connected(startClient(name));
  }
  // Controls need the new secret too (an admin reads it from `config key list`): the old one is refused.
  await assert.rejects(cluster.sdkBrowse(primary.address, secondary.address, KEY), /key not accepted/);
  await waitUntil(
    async () => {
      const c = await cluster.sdkBrowse(primary.address, secondary.address, newSecret);
      return NAMES.every((n) => c.some((x) => x.name === n));
    },
    'all four back, browsed with the new secret',
    30_000,
    300,
  );
  const stranger = startClient('rot-old');
  await stranger.waitForLine(
    (l) => l.status === 'waiting' && l.code === 'SB_ERR_KEY_ROTATED' && /was rotated/.test(String(l.reason)),
    'old secret refused as rotated',
    30_000,
  );
  // The new secret works for a fresh client given it directly.
  writeFileSync(keyFile, `${newSecret}\n`);
  await connected(startClient('rot-new'));
});
