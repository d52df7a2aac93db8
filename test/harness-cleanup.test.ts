/**
 * The harness ends what a test file started when that file's process ends without its after()
 * hooks: `node --test` ends a file that times out with SIGTERM, Ctrl-C sends SIGINT, and a file
 * may exit with tests still holding processes. Each case runs test/fixtures/abandonedServer.ts,
 * which starts a real server and a process group (sh and the sleep it started), and ends it; every
 * one of those processes must then be gone.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT, waitFor } from './helpers/harness.js';

const FIXTURE = join(ROOT, 'dist', 'test', 'fixtures', 'abandonedServer.js');

interface Started {
  server: number;
  shell: number;
  grandchild: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs the fixture, waits for the pids it started, then lets `end` end it; returns the pids. */
async function abandon(
  mode: 'wait' | 'exit',
  end: (child: ChildProcess) => void,
): Promise<{ started: Started; how: [number | null, string | null] }> {
  const child = spawn(process.execPath, [FIXTURE, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const line = await waitFor(() => out.includes('\n') && out.split('\n')[0], 'the fixture to report its pids', 30_000);
  const { dir, ...started } = JSON.parse(line) as Started & { dir: string };
  // Nobody is left to remove it once the fixture is ended.
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const pid of Object.values(started)) assert.ok(alive(pid), `pid ${pid} runs before the end`);
  end(child);
  const how = await exited;
  return { started, how };
}

async function assertAllGone(started: Started): Promise<void> {
  for (const [name, pid] of Object.entries(started))
    await waitFor(() => !alive(pid), `the ${name} (pid ${pid}) to be gone`);
}

test('SIGTERM to a test file (node --test ending one that timed out) ends what it started', async () => {
  const { started, how } = await abandon('wait', (child) => child.kill('SIGTERM'));
  assert.deepEqual(how, [null, 'SIGTERM'], 'the file still ends by the signal');
  await assertAllGone(started);
});

test('SIGINT (Ctrl-C) to a test file ends what it started', async () => {
  const { started, how } = await abandon('wait', (child) => child.kill('SIGINT'));
  assert.deepEqual(how, [null, 'SIGINT']);
  await assertAllGone(started);
});

test('a test file that exits with processes still running ends them', async () => {
  const { started, how } = await abandon('exit', (child) => child.stdin!.write('x'));
  assert.deepEqual(how, [0, null]);
  await assertAllGone(started);
});
