// The package's `main` is real: importing it gives a server, a client agent and a control that work
// together in one process (a server on port 0, a client that connects, a control that browses it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT, waitFor } from './helpers/harness.js';

test('package main: starts a server, a client agent connects, a control browses it, all stop', async () => {
  const { main } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
  const sb = (await import(pathToFileURL(join(ROOT, main)).href)) as typeof import('../src/index.js');
  for (const name of ['SwitchboardServer', 'ConfigStore', 'ClientAgent', 'ControlClient', 'startForward', 'runExec'])
    assert.equal(typeof (sb as Record<string, unknown>)[name], 'function', name);

  const store = sb.ConfigStore.memory();
  const key = store.addKey('k', 'package-entry-key-0123456789').value;
  const server = new sb.SwitchboardServer({ store, logger: sb.silentLogger(), host: '127.0.0.1', port: 0 });
  await server.start();
  const agent = new sb.ClientAgent({
    gateway: `127.0.0.1:${server.port}`,
    key,
    identity: sb.newIdentity(),
    name: 'embedded',
    policy: { allowForward: new Set(), allowExec: false },
    dial: sb.plainDial,
  });
  try {
    agent.start();
    const control = await sb.ControlClient.connect({ gateway: `127.0.0.1:${server.port}`, key, dial: sb.plainDial });
    try {
      await waitFor(async () => (await control.browse()).some((c) => c.name === 'embedded'), 'the client in browse');
    } finally {
      control.close();
    }
  } finally {
    agent.stop();
    await server.stop();
    store.close();
  }
});

test('package version: the CLI prints the version package.json and the CHANGELOG name', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const { VERSION } = await import('../src/cli/version.js');
  assert.equal(VERSION, version);
  assert.match(
    readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'),
    new RegExp(`^## ${version.replace(/\./g, '\\.')}\\b`, 'm'),
  );
});
