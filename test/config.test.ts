/**
 * `switchboard config --data DIR`: keys, operators (passwords from stdin or the environment, stored
 * hashed), settings and `show --json`, with clear one-line errors; and a running server that picks
 * every change up without a restart.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CloseCodes } from '../src/protocol/closeCodes.js';
import { ConfigStore } from '../src/store/configStore.js';
import { verifyPassword } from '../src/store/passwords.js';
import {
  Proc,
  runCli,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type CliResult,
  type RunningServer,
} from './helpers/harness.js';
import { browse, jsonOf, rawClient, servers, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-config-');
const procs: Proc[] = [];

after(async () => {
  await stopAll(procs);
  dir.remove();
});

function config(
  data: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<CliResult> {
  // --create: each test starts on a fresh directory (data-lock.test.ts checks the refusal without it).
  return runCli(['config', '--data', data, '--create', ...args], opts);
}

/** A failed command: non-zero exit and one clear line on stderr. */
function assertRefused(result: CliResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, `expected a failure; stdout ${result.stdout}`);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.match(result.stderr, /^switchboard: /);
}

/** Every byte of the data directory (database, WAL and shared memory files). */
function dataBytes(data: string): Buffer {
  return Buffer.concat(readdirSync(data).map((f) => readFileSync(join(data, f))));
}

test('config key: add (random or given value), list, remove, with clear errors', async () => {
  const data = `${dir.path}/keys`;
  const added = await config(data, ['key', 'add', 'laptops']);
  assert.equal(added.code, 0, added.stderr);
  const value = added.stdout.trim();
  assert.match(value, /^[A-Za-z0-9_-]{32,}$/, 'a random key is printed');
  const given = await config(data, ['key', 'add', 'servers', '--value', 'a-chosen-secret-1']);
  assert.equal(given.stdout.trim(), 'a-chosen-secret-1');

  const list = jsonOf<{ name: string; value: string; createdAt: string }[]>(
    await config(data, ['key', 'list', '--json']),
  );
  assert.deepEqual(
    list.map((k) => [k.name, k.value]),
    [
      ['laptops', value],
      ['servers', 'a-chosen-secret-1'],
    ],
  );
  assert.ok(list.every((k) => !Number.isNaN(Date.parse(k.createdAt))));
  const text = await config(data, ['key', 'list']);
  assert.match(text.stdout, /^NAME\s+VALUE\s+CREATED\nlaptops\s/);

  assertRefused(await config(data, ['key', 'add', 'laptops']), /key laptops exists already/);
  assertRefused(await config(data, ['key', 'add', 'bad name!']), /key name must be/);
  assertRefused(await config(data, ['key', 'add', 'short', '--value', 'abc']), /8 to 256 characters/);
  assertRefused(await config(data, ['key', 'remove', 'nope']), /no key named nope/);

  assert.equal((await config(data, ['key', 'remove', 'laptops'])).code, 0);
  const after = jsonOf<{ name: string }[]>(await config(data, ['key', 'list', '--json']));
  assert.deepEqual(
    after.map((k) => k.name),
    ['servers'],
  );
});

test('config operator: add with --password-stdin and --password-env, stored as a hash only, list, remove', async () => {
  const data = `${dir.path}/operators`;
  await config(data, ['key', 'add', 'alpha']);
  const stdinPassword = 'Stdin-Password-Xq7';
  const envPassword = 'Env-Password-Zr9';
  const a = await config(data, ['operator', 'add', 'alice', '--role', 'admin', '--password-stdin'], {
    input: `${stdinPassword}\n`,
  });
  assert.equal(a.code, 0, a.stderr);
  const b = await config(data, ['operator', 'add', 'bob', '--keys', 'alpha', '--password-env', 'BOB_PW'], {
    env: { BOB_PW: envPassword },
  });
  assert.equal(b.code, 0, b.stderr);

  const ops = jsonOf<Record<string, unknown>[]>(await config(data, ['operator', 'list', '--json']));
  assert.deepEqual(
    ops.map((o) => [o.name, o.role, o.keys, o.hasTotp]),
    [
      ['alice', 'admin', [], false],
      ['bob', 'operator', ['alpha'], false],
    ],
  );
  const listed = JSON.stringify(ops);
  assert.ok(!/hash|scrypt|password/i.test(listed), `no secret in the listing: ${listed}`);

  // Neither password is anywhere in the data directory; what is stored is a scrypt hash that verifies.
  const bytes = dataBytes(data);
  for (const pw of [stdinPassword, envPassword]) {
    assert.equal(bytes.indexOf(pw), -1, `the password ${pw} is not stored in clear`);
    assert.equal(bytes.indexOf(Buffer.from(pw, 'utf16le')), -1);
  }
  const store = ConfigStore.open(data);
  try {
    const alice = store.operatorSecrets('alice')!;
    assert.match(alice.passwordHash, /^scrypt\$/);
    assert.equal(await verifyPassword(stdinPassword, alice.passwordHash), true);
    assert.equal(await verifyPassword(envPassword, alice.passwordHash), false);
    assert.equal(await verifyPassword(envPassword, store.operatorSecrets('bob')!.passwordHash), true);
  } finally {
    store.close();
  }
  // Nor in the audit log or anything the CLI printed.
  assert.ok(!a.stdout.includes(stdinPassword) && !b.stdout.includes(envPassword));

  assertRefused(
    await config(data, ['operator', 'add', 'carol', '--password-env', 'UNSET_VAR_SB']),
    /UNSET_VAR_SB is not set/,
  );
  assertRefused(
    await config(data, ['operator', 'add', 'carol', '--password-stdin'], { input: '' }),
    /a password is required/,
  );
  assertRefused(await config(data, ['operator', 'add', 'carol']), /a password is required/);
  assertRefused(
    await config(data, ['operator', 'add', 'carol', '--password-stdin'], { input: 'short\n' }),
    /at least \d+ characters/,
  );
  assertRefused(
    await config(data, ['operator', 'add', 'carol', '--keys', 'nosuch', '--password-stdin'], {
      input: 'long-enough-pw\n',
    }),
    /key:? nosuch/,
  );
  assertRefused(
    await config(data, ['operator', 'add', 'carol', '--role', 'root', '--password-stdin'], {
      input: 'long-enough-pw\n',
    }),
    /--role must be admin or operator/,
  );
  assertRefused(await config(data, ['operator', 'remove', 'nobody']), /no operator named nobody/);

  assert.equal((await config(data, ['operator', 'remove', 'bob'])).code, 0);
  assert.deepEqual(
    jsonOf<{ name: string }[]>(await config(data, ['operator', 'list', '--json'])).map((o) => o.name),
    ['alice'],
  );
});

test('config set and show --json: settings, with values checked', async () => {
  const data = `${dir.path}/settings`;
  await config(data, ['key', 'add', 'alpha', '--value', 'the-key-value-xyz']);
  const v0 = jsonOf<{ version: number }>(await config(data, ['show', '--json'])).version;
  assert.equal((await config(data, ['set', 'heartbeat', '7'])).code, 0);
  assert.equal((await config(data, ['set', 'hello-timeout', '2.5'])).code, 0);
  const shown = jsonOf<{
    version: number;
    settings: Record<string, unknown>;
    keys: Record<string, unknown>[];
    operators: unknown[];
    servers: unknown[];
  }>(await config(data, ['show', '--json']));
  assert.equal(shown.settings.heartbeat, 7);
  assert.equal(shown.settings['hello-timeout'], 2.5);
  assert.equal(shown.settings['lockout-attempts'], 5, 'defaults are shown');
  assert.equal(shown.version, v0 + 2, 'every change bumps the version');
  assert.deepEqual(
    shown.keys.map((k) => k.name),
    ['alpha'],
  );
  assert.ok(!JSON.stringify(shown).includes('the-key-value-xyz'), 'show does not print key values');
  assert.deepEqual(shown.operators, []);
  const text = await config(data, ['show']);
  assert.match(text.stdout, /heartbeat = 7/);

  assertRefused(await config(data, ['set', 'heartbeat', 'often']), /invalid value for heartbeat/);
  assertRefused(await config(data, ['set', 'heartbeat', '0']), /invalid value for heartbeat/);
  assertRefused(await config(data, ['set', 'no-such-setting', '1']), /unknown setting no-such-setting/);
  assert.equal(
    jsonOf<{ settings: { heartbeat: number } }>(await config(data, ['show', '--json'])).settings.heartbeat,
    7,
    'a refused value changes nothing',
  );
});

// ---- a running server picks changes up ------------------------------------------------------------

let server: RunningServer;

test('a running server accepts a key added while it runs', async () => {
  server = await startServer(`${dir.path}/live`);
  procs.push(server.proc);
  // A client with a key the server does not know yet is refused and keeps retrying.
  const late = await startClient(
    ['--gateway', server.address, '--key', 'late-key-value-123', '--name', 'late', '--state', `${dir.path}/late`],
    false,
  );
  procs.push(late);
  const refused = await late.waitForLine((l) => l.status === 'waiting', 'the refusal');
  assert.match(String(refused.reason), /key not accepted/);
  const added = await config(server.data, ['key', 'add', 'late', '--value', 'late-key-value-123']);
  assert.equal(added.code, 0, added.stderr);
  await late.waitForLine((l) => l.status === 'connected', 'the client to connect once the key exists', 40_000);
  assert.deepEqual(
    (await browse(server.address, 'late-key-value-123')).map((c) => c.name),
    ['late'],
  );
});

test('a running server disconnects the clients of a removed key and keeps the others', async () => {
  await config(server.data, ['key', 'add', 'keep', '--value', 'keep-key-value-123']);
  await config(server.data, ['key', 'add', 'drop', '--value', 'drop-key-value-123']);
  const keep = await waitFor(async () => {
    try {
      return await startClient([
        '--gateway',
        server.address,
        '--key',
        'keep-key-value-123',
        '--name',
        'keeper',
        '--state',
        `${dir.path}/keeper`,
      ]);
    } catch {
      return undefined;
    }
  }, 'a client of the new key to connect');
  procs.push(keep);
  const drop = await startClient([
    '--gateway',
    server.address,
    '--key',
    'drop-key-value-123',
    '--name',
    'dropped',
    '--state',
    `${dir.path}/dropped`,
  ]);
  procs.push(drop);
  // A raw client too, to see the close code.
  const raw = await rawClient(server.address, 'drop-key-value-123', { name: 'raw-dropped' });
  await raw.next('welcome');
  const [keeperBefore] = await browse(server.address, 'keep-key-value-123');
  const from = drop.lines.length;

  assert.equal((await config(server.data, ['key', 'remove', 'drop'])).code, 0);
  const closed = await raw.closeResult();
  assert.equal(closed.code, CloseCodes.KEY_REMOVED);
  assert.match(closed.reason, /key removed/);
  const waiting = await drop.waitForLine(
    (l) => l.status === 'waiting',
    'the dropped client to be disconnected',
    15_000,
    from,
  );
  assert.match(String(waiting.reason), /key removed/);
  await server.proc.waitForLine((l) => l.msg === 'client down' && l.name === 'dropped', 'the server to log it');
  // It cannot come back with that key; the other key's client never noticed.
  await drop.waitForLine(
    (l) => l.status === 'waiting' && /key not accepted/.test(String(l.reason)),
    'the retry to be refused',
    30_000,
    from,
  );
  const [keeperAfter] = await browse(server.address, 'keep-key-value-123');
  assert.equal(keeperAfter?.connectedAt, keeperBefore?.connectedAt);
  const counts = await servers(server.address, 'keep-key-value-123');
  assert.equal(counts[0]!.clients, 2, 'late and keeper remain');
});

test('a running server applies a new heartbeat setting without a restart', async () => {
  assert.equal((await config(server.data, ['set', 'heartbeat', '1'])).code, 0);
  // Clients learn the heartbeat at welcome: a new client gets the new value.
  const raw = await waitFor(async () => {
    const peer = await rawClient(server.address, 'keep-key-value-123', { name: 'hb' });
    const welcome = await peer.next('welcome');
    if (welcome.heartbeat === 1) return peer;
    peer.terminate();
    return undefined;
  }, 'welcome to carry the new heartbeat');
  // And the server pings at that pace: a peer that answers no ping is dropped. (`ws` answers
  // pings by itself, so stop reading from the socket to play dead.)
  const socket = (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  const from = server.proc.lines.length;
  socket.pause();
  await server.proc.waitForLine(
    (l) =>
      l.msg === 'clients missed their heartbeat' &&
      Array.isArray(l.clients) &&
      (l.clients as unknown[]).includes(raw.identity.id),
    'the server to drop the silent peer',
    20_000,
    from,
  );
  socket.resume();
  const closed = await raw.closeResult();
  assert.equal(closed.code, 1006, 'terminated, not closed politely');
});
