/**
 * `config` has one set of subcommands over one interface, ConfigTarget, with two implementations:
 * a data directory's store (offline) and the acting primary's REST API (online). The same script
 * runs against both and must give the same answers; then the CLI is driven online over TLS.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/control/apiClient.js';
import { RemoteConfigTarget } from '../src/control/remoteConfigTarget.js';
import { ConfigStore } from '../src/store/configStore.js';
import type { ConfigTarget } from '../src/store/configTarget.js';
import { StoreConfigTarget } from '../src/store/storeConfigTarget.js';
import { hashPassword } from '../src/store/passwords.js';
import { addOperator, currentTotp, login, request, secretOf } from './helpers/api.js';
import { runCli, startServer, tempDir, waitFor, type RunningServer } from './helpers/harness.js';

const dir = tempDir('sb-cfg-');
let server: RunningServer;
let tlsServer: RunningServer;
let fingerprint: string;

before(async () => {
  server = await startServer(`${dir.path}/plain`);
  await addOperator(server.data, 'root', 'root-password', 'admin');
  tlsServer = await startServer(`${dir.path}/tls`, ['--tls-self-signed']);
  await addOperator(tlsServer.data, 'root', 'root-password', 'admin');
  fingerprint = await waitFor(
    () => /fingerprint: ([0-9A-F:]+)/.exec(tlsServer.proc.stderr)?.[1],
    'the TLS fingerprint',
  );
});

after(async () => {
  await Promise.all([server.proc.stop(), tlsServer.proc.stop()]);
  dir.remove();
});

/** Every ConfigTarget operation, with what each answered (times and random values left out). */
async function exercise(target: ConfigTarget): Promise<unknown[]> {
  const strip = <T extends object>(o: T) =>
    JSON.parse(JSON.stringify(o, (k, v) => (k === 'createdAt' ? undefined : v))) as unknown;
  const out: unknown[] = [];
  const failure = async (p: Promise<unknown>) =>
    p.then(
      () => 'no error',
      (err: Error) => err.message,
    );
  out.push((await target.addKey('alpha')).value.length >= 32);
  out.push(strip(await target.addKey('beta', 'beta-secret-value')));
  out.push(await failure(target.addKey('alpha')));
  out.push((await target.keys()).map((k) => [k.name, k.name === 'beta' ? k.value : k.value.length >= 32]));
  out.push(
    strip(await target.addOperator({ name: 'ann', role: 'operator', keys: ['alpha'], password: 'ann-password' })),
  );
  out.push(
    await failure(target.addOperator({ name: 'bad', role: 'operator', keys: ['nope'], password: 'bad-password' })),
  );
  out.push(await failure(target.addOperator({ name: 'short', role: 'operator', keys: [], password: 'short' })));
  out.push(strip(await target.updateOperator('ann', { keys: ['alpha', 'beta'], role: 'admin' })));
  out.push(/^otpauth:\/\/totp\/Switchboard:ann\?secret=/.test((await target.enrolTotp('ann')).uri));
  out.push(strip(await target.operators()));
  out.push(await failure(target.removeOperator('nobody')));
  await target.removeOperator('ann');
  out.push(strip(await target.addServer({ address: '127.0.0.1:7001', weight: 10, enabled: true, secondary: false })));
  out.push(strip(await target.setServer('127.0.0.1:7001', { weight: 20, secondary: true })));
  out.push(await failure(target.setServer('127.0.0.1:7999', { weight: 1 })));
  out.push(strip(await target.servers()));
  out.push(strip(await target.setSetting('heartbeat', '15')));
  out.push(await failure(target.setSetting('heartbeat', 'never')));
  await target.removeServer('127.0.0.1:7001');
  await target.removeKey('beta');
  out.push(await failure(target.removeKey('beta')));
  const shown = (await target.show()) as { version?: number };
  delete shown.version;
  out.push(strip(shown));
  return out;
}

test('the store and the REST API implementations answer the same script the same way', async () => {
  const store = ConfigStore.memory();
  store.putOperator({ name: 'root', passwordHash: await hashPassword('root-password'), role: 'admin', keys: [] });
  const local = await exercise(new StoreConfigTarget(store, 'test'));
  const api = await ApiClient.login(server.address, { tls: false }, { operator: 'root', password: 'root-password' });
  const remote = new RemoteConfigTarget(api);
  const online = await exercise(remote);
  await remote.close();
  assert.deepEqual(online, local);
  const { token } = await login(server.address, 'root', 'root-password');
  const audit = await request(server.address, 'GET', 'audit?limit=100', undefined, { token });
  assert.ok(
    audit.body.some((e: { actor: string; action: string }) => e.actor === 'root' && e.action === 'server.set'),
    'online changes are audited as the operator',
  );
});

test('config --gateway runs the subcommands online, over TLS pinned by fingerprint, with TOTP', async () => {
  const totp = await runCli(['config', '--data', tlsServer.data, 'operator', 'totp', 'root']);
  const secret = secretOf(totp.stdout.trim());
  // A TOTP code is accepted once per operator: the first command logs in with root's code, the
  // rest (each a login of its own) as an admin without TOTP.
  await addOperator(tlsServer.data, 'root2', 'root2-password', 'admin');
  let codeUsed = false;
  const online = (...args: string[]) => {
    const login = codeUsed
      ? ['--operator', 'root2', '--password-env', 'SB_PW2']
      : ['--operator', 'root', '--password-env', 'SB_PW', '--totp', currentTotp(secret)];
    codeUsed = true;
    return runCli(['config', '--gateway', tlsServer.address, ...login, '--tls-fingerprint', fingerprint, ...args], {
      env: { SB_PW: 'root-password', SB_PW2: 'root2-password', NEW_PW: 'new-operator-pw' },
    });
  };
  const added = await online('key', 'add', 'fleet');
  assert.equal(added.code, 0, added.stderr);
  assert.ok(added.stdout.trim().length >= 32);
  assert.equal((await online('server', 'add', '127.0.0.1:7002', '--weight', '300', '--disabled')).code, 0);
  assert.equal(
    (await online('server', 'set', '127.0.0.1:7002', '--weight', '450', '--enabled', '--secondary')).code,
    0,
  );
  const op = await online('operator', 'add', 'ops', '--keys', 'fleet', '--password-env', 'NEW_PW');
  assert.equal(op.code, 0, op.stderr);
  assert.equal((await online('set', 'lockout-attempts', '9')).code, 0);
  const shown = await online('show', '--json');
  assert.equal(shown.code, 0, shown.stderr);
  const view = JSON.parse(shown.stdout) as {
    servers: unknown[];
    keys: { name: string }[];
    operators: { name: string; keys: string[] }[];
    settings: Record<string, unknown>;
  };
  assert.deepEqual(view.servers, [{ address: '127.0.0.1:7002', weight: 450, enabled: true, secondary: true }]);
  assert.deepEqual(
    view.keys.map((k) => k.name),
    ['fleet'],
  );
  assert.deepEqual(view.operators.find((o) => o.name === 'ops')?.keys, ['fleet']);
  assert.equal(view.settings['lockout-attempts'], 9);
  const list = await online('server', 'list');
  assert.match(list.stdout, /127\.0\.0\.1:7002\s+450\s+yes\s+yes/);
  // The offline view of the same data directory agrees: the server wrote it.
  // (Not its version: each `config --gateway` run logs out at its end, and logouts are replicated
  // configuration, so the runs after `show` moved the version on.)
  const offline = await runCli(['config', '--data', tlsServer.data, 'show', '--json']);
  const { version: offlineVersion, ...offlineView } = JSON.parse(offline.stdout) as { version: number };
  const { version: shownVersion, ...shownView } = JSON.parse(shown.stdout) as { version: number };
  assert.ok(offlineVersion >= shownVersion);
  assert.deepEqual(offlineView, shownView);
});

test('config --gateway fails with one clear line: wrong fingerprint, no TOTP, not an admin, a refused change', async () => {
  const base = ['config', '--gateway', tlsServer.address, '--operator', 'root', '--password-env', 'SB_PW'];
  const env = { env: { SB_PW: 'root-password', OPS_PW: 'new-operator-pw' } };
  const pinned = await runCli([...base, '--tls-fingerprint', 'AB'.repeat(32), 'show'], env);
  assert.notEqual(pinned.code, 0);
  assert.match(pinned.stderr, /^switchboard: .*fingerprint/);
  const noTotp = await runCli([...base, '--insecure', 'show'], env);
  assert.match(
    noTotp.stderr,
    /^switchboard: TOTP code required \(give the operator's current TOTP code: --totp CODE\)\n$/,
  );
  const notAdmin = await runCli(
    [
      'config',
      '--gateway',
      tlsServer.address,
      '--operator',
      'ops',
      '--password-env',
      'OPS_PW',
      '--insecure',
      'key',
      'list',
    ],
    env,
  );
  assert.match(notAdmin.stderr, /^switchboard: operator ops is not an admin\n$/);
  const plain = await runCli(
    [
      'config',
      '--gateway',
      server.address,
      '--operator',
      'root',
      '--password-env',
      'SB_PW',
      'server',
      'set',
      '127.0.0.1:1',
      '--weight',
      '3',
    ],
    env,
  );
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /^switchboard: no server 127\.0\.0\.1:1 in the server table\n$/);
  const both = await runCli(['config', '--data', server.data, '--gateway', server.address, 'show']);
  assert.match(both.stderr, /not both/);
});
