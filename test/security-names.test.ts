/**
 * docs/security.md, "A client names itself after another client's id": an id only ever means that
 * identity. Client A connects and goes away; client B connects with `--name` set to A's id. Sessions
 * addressed to A's id, on the control channel (SDK and CLI) and on the REST API, fail with
 * SB_ERR_UNKNOWN_CLIENT and never reach B; B is still reached by its own id, and names that do not
 * look like ids are still looked up as names.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Directory, type DirectoryEntry } from '../src/server/directory.js';
import { looksLikeClientId } from '../src/protocol/clientIdentity.js';
import { addOperator, login, request } from './helpers/api.js';
import { addKey, Proc, startClient, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';
import { browse, connectControl, controlCli, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-sec-names-');
const ADMIN = { operator: 'admin', password: 'names-admin-pw-1' };
const procs: Proc[] = [];
let server: RunningServer;
let key: string;

function entry(id: string, name: string): DirectoryEntry {
  return {
    id,
    name,
    group: '',
    platform: 'linux',
    address: '10.0.0.1',
    server: 's1',
    connectedAt: '2024-01-01T00:00:00.000Z',
    key: 'k',
  };
}

test('Directory.resolve: text shaped like an id is looked up as an id only', () => {
  const directory = new Directory();
  const offlineId = 'AbCdEfGhIjKlMnOpQrStUv-_12';
  assert.ok(looksLikeClientId(offlineId));
  directory.upsert(entry('ZyXwVuTsRqPoNmLkJiHgFe-_98', offlineId));
  directory.upsert(entry('Zz0000000000000000000000-_', 'db-01'));
  assert.deepEqual(directory.resolve(offlineId), {}, 'a name equal to an absent id is not a match');
  assert.equal(directory.resolve('ZyXwVuTsRqPoNmLkJiHgFe-_98').entry?.name, offlineId, 'the id itself still resolves');
  assert.equal(directory.resolve('db-01').entry?.id, 'Zz0000000000000000000000-_', 'ordinary names still resolve');
  for (const text of [
    'db-01',
    'a'.repeat(25),
    'a'.repeat(27),
    'has space in it 0123456789',
    'dotted.name.0123456789abcd',
  ])
    assert.equal(looksLikeClientId(text), false, text);
});

before(async () => {
  server = await startServer(join(dir.path, 'data'));
  procs.push(server.proc);
  key = await addKey(server.data, 'default');
  await addOperator(server.data, ADMIN.operator, ADMIN.password, 'admin');
});

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test("a client named after an offline client's id gets none of that id's sessions", { timeout: 120_000 }, async () => {
  const start = (name: string) =>
    startClient([
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      name,
      '--state',
      join(dir.path, `state-${name}`),
      '--allow-exec',
    ]);
  const a = await start('alpha');
  procs.push(a);
  const alphaId = (await browse(server.address, key, ADMIN)).find((c) => c.name === 'alpha')!.id;
  await a.stop();
  await waitFor(async () => (await browse(server.address, key, ADMIN)).length === 0, 'alpha to go offline');

  procs.push(await start(alphaId));
  const impostor = await waitFor(
    async () => (await browse(server.address, key, ADMIN)).find((c) => c.name === alphaId),
    "the client named after alpha's id",
  );
  assert.notEqual(impostor.id, alphaId);

  // The control channel, through the SDK and through the CLI.
  const control = await connectControl(server.address, key, ADMIN);
  try {
    await assert.rejects(
      control.open(alphaId, { kind: 'exec', command: ['/bin/echo', 'reached'] }),
      (err: Error & { code?: string }) => err.code === 'SB_ERR_UNKNOWN_CLIENT',
    );
  } finally {
    control.close();
  }
  const viaCli = await controlCli(server.address, key, ['exec', alphaId, '--', '/bin/echo', 'reached'], ADMIN);
  assert.notEqual(viaCli.code, 0);
  assert.doesNotMatch(viaCli.stdout, /reached/);
  assert.match(viaCli.stderr, /no client with id/);

  // The REST API: the client view and exec.
  const { token } = await login(server.address, ADMIN.operator, ADMIN.password);
  const view = await request(server.address, 'GET', `clients/${alphaId}`, undefined, { token });
  assert.equal(view.status, 404, view.text);
  const exec = await request(
    server.address,
    'POST',
    'exec',
    { client: alphaId, command: ['/bin/echo', 'reached'] },
    { token },
  );
  assert.equal(exec.status, 404, exec.text);
  assert.equal(exec.body.error.code, 'SB_ERR_UNKNOWN_CLIENT');

  // The refusals were about the id: the impostor itself is reached by its own id.
  const own = await request(
    server.address,
    'POST',
    'exec',
    { client: impostor.id, command: ['/bin/echo', 'reached'] },
    { token },
  );
  assert.equal(own.status, 200, own.text);
  assert.equal(own.body.stdout, 'reached\n');
});
