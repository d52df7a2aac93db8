import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addKey, runCli, startClient, startServer, tempDir, type Proc, type RunningServer } from './helpers/harness.js';

const dir = tempDir();
let server: RunningServer;
let key: string;
const procs: Proc[] = [];

before(async () => {
  server = await startServer(`${dir.path}/data`);
  key = await addKey(server.data, 'default');
});

after(async () => {
  await Promise.all([...procs, server.proc].map((p) => p.stop()));
  dir.remove();
});

test('a client connects with a key and a control browses it with the server it is on', async () => {
  procs.push(
    await startClient(['--gateway', server.address, '--key', key, '--name', 'smoke-1', '--state', `${dir.path}/c1`]),
  );
  const result = await runCli(['control', '--gateway', server.address, '--key', key, 'browse', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const clients = JSON.parse(result.stdout) as { name: string; server: string }[];
  assert.deepEqual(
    clients.map((c) => [c.name, c.server]),
    [['smoke-1', server.address]],
  );
});
