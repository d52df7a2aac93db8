/**
 * docs/security.md, "One server per data directory": a second `switchboard server` on a data
 * directory in use exits at once, naming the pid of the one that runs, while `config --data` still
 * edits it; the lock goes with its process however that ends (SIGKILL included). And `config --data`
 * on a directory with no store says so and creates nothing, unless told to with --create.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from './helpers/api.js';
import { Proc, runCli, startServer, tempDir, type RunningServer } from './helpers/harness.js';
import { stopAll } from './helpers/sb.js';

const dir = tempDir('sb-data-lock-');
const procs: Proc[] = [];

after(async () => {
  await stopAll(procs);
  dir.remove();
});

async function start(data: string): Promise<RunningServer> {
  const server = await startServer(data);
  procs.push(server.proc);
  return server;
}

test("a second server on the same --data exits naming the first one's pid; config --data still works beside the first; a killed server leaves no stale lock", async () => {
  const data = join(dir.path, 'shared');
  const first = await start(data);
  const pid = first.proc.child.pid!;

  const second = new Proc(['server', '--data', data, '--listen', '127.0.0.1:0']);
  procs.push(second);
  // It exits, or (the old behaviour) listens beside the first: either ends the wait.
  const exited = second.exited.then((code) => ({ code }));
  const outcome = await Promise.race([
    exited,
    second.waitForMsg('listening', 30_000).then(
      () => ({ listening: true }),
      () => exited,
    ),
  ]);
  assert.ok(
    'code' in outcome && outcome.code !== 0,
    `the second server exits with an error: ${JSON.stringify(outcome)}`,
  );
  assert.match(
    second.stderr,
    new RegExp(
      `^switchboard: another switchboard server \\(pid ${pid}\\) is running on the data directory ${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
    ),
  );
  assert.ok(!second.lines.some((l) => l.msg === 'listening'), 'it never listened');

  // The first one is untouched, and the lock is the server's alone: config --data edits the store it serves.
  assert.equal((await request(first.address, 'GET', '/healthz')).status, 200);
  const added = await runCli(['config', '--data', data, 'key', 'add', 'beside']);
  assert.equal(added.code, 0, added.stderr);
  const listed = await runCli(['config', '--data', data, 'key', 'list', '--json']);
  assert.deepEqual(
    (JSON.parse(listed.stdout) as { name: string }[]).map((k) => k.name),
    ['beside'],
  );

  // However the holder ends, the kernel releases its lock: the next server starts.
  await first.proc.stop('SIGKILL');
  const again = await start(data);
  assert.equal((await request(again.address, 'GET', '/healthz')).status, 200);
  await again.proc.stop();
  // After a clean stop too.
  const third = await start(data);
  await third.proc.stop();
});

test('config --data on a directory with no store says so and creates nothing; --create makes one; a server makes its own', async () => {
  const typo = join(dir.path, 'no-such-dir');
  for (const args of [['key', 'add', 'k1'], ['key', 'list'], ['show']]) {
    const r = await runCli(['config', '--data', typo, ...args]);
    assert.notEqual(r.code, 0, `${args.join(' ')} is refused`);
    assert.equal(
      r.stderr,
      `switchboard: no Switchboard store in ${typo}: check --data, or add --create to make a new one there (a server makes one on its first start)\n`,
    );
  }
  assert.equal(existsSync(typo), false, 'the mistyped directory was not created');

  // An existing directory without a store is no store either.
  const empty = join(dir.path, 'empty');
  mkdirSync(empty);
  assert.notEqual((await runCli(['config', '--data', empty, 'key', 'add', 'k1'])).code, 0);
  assert.deepEqual(readdirSync(empty), []);

  // Asked for, a store is made (to set a server up before its first start), and used from then on.
  const made = await runCli(['config', '--data', empty, '--create', 'key', 'add', 'k1']);
  assert.equal(made.code, 0, made.stderr);
  assert.equal((await runCli(['config', '--data', empty, 'key', 'add', 'k2'])).code, 0);

  // A server makes its store on its first run, with or without --init.
  const fresh = join(dir.path, 'fresh');
  const server = await start(fresh);
  await server.proc.stop();
  const key = await runCli(['config', '--data', fresh, 'key', 'add', 'k1']);
  assert.equal(key.code, 0, key.stderr);
});
