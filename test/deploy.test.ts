/**
 * Rolling out (issue 16), with real processes: the client's configuration file, systemd units
 * (written to a temporary directory, never installed), the bin's relay settings however it is
 * started, backup and restore of a running server, and the errors a sysadmin meets.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  addKey,
  BIN,
  Proc,
  runCli,
  startClient,
  startServer,
  tempDir,
  waitFor,
  type RunningServer,
} from './helpers/harness.js';
import { browse, echoService, startForwardProc, stopAll, type Service } from './helpers/sb.js';

const dir = tempDir('sb-deploy-');
const procs: Proc[] = [];
let server: RunningServer;
let key: string;
let echo: Service;
let fingerprint: string;

after(async () => {
  await stopAll(procs);
  await echo?.close();
  dir.remove();
});

async function setup(): Promise<void> {
  if (server) return;
  server = await startServer(join(dir.path, 'data'), ['--tls-self-signed']);
  procs.push(server.proc);
  fingerprint = /fingerprint: (\S+)/.exec(
    await waitFor(() => /fingerprint: \S+/.test(server.proc.stderr) && server.proc.stderr, 'the fingerprint'),
  )![1]!;
  key = await addKey(server.data, 'fleet');
  echo = await echoService();
}

function writeFile(name: string, text: string): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

/** Sends bytes through a local forward and reads them back. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
}

// ---- the client's configuration file -------------------------------------------------------------

test('client --config alone connects and serves a forward; a flag on the command line wins over the file', async () => {
  await setup();
  writeFile('fleet.key', `${key}\n`);
  const config = writeFile(
    'client.toml',
    [
      `gateway = "${server.address}"`,
      'key-file = "fleet.key"',
      'name = "from-file"',
      'group = "web"',
      `state = "state-1"`,
      `allow-forward = [${echo.port}]`,
    ].join('\n'),
  );
  const client = await startClient(['--config', config]);
  procs.push(client);
  const { proc: forward, port } = await startForwardProc(server.address, key, 'from-file', echo.port);
  procs.push(forward);
  assert.equal(await roundTrip(port, 'through a client configured by a file'), 'through a client configured by a file');
  assert.ok(existsSync(join(dir.path, 'state-1')), "the state directory is taken from the file's directory");

  const second = await startClient(['--config', config, '--name', 'from-flag', '--state', join(dir.path, 'state-2')]);
  procs.push(second);
  const names = (await browse(server.address, key)).map((c) => `${c.name}/${c.group}`).sort();
  assert.deepEqual(names, ['from-file/web', 'from-flag/web']);
  await stopAll([client, second, forward]);
});

test('client --config: unreadable files, unknown keys, wrong types and a missing gateway are refused with one clear line', async () => {
  const cases: [string, string | undefined, RegExp][] = [
    ['missing.toml', undefined, /cannot read the configuration file .*missing\.toml: no such file/],
    ['typo.toml', 'gateway = "127.0.0.1:1"\nkey = "k"\ngatway = "x"\n', /typo\.toml:3: unknown key "gatway"/],
    ['type.toml', 'gateway = "127.0.0.1:1"\nkey = "k"\nallow-forward = "22"\n', /type\.toml:3: key "allow-forward"/],
    ['syntax.toml', 'gateway = "127.0.0.1:1\n', /syntax\.toml:1: not valid TOML/],
    ['nogateway.toml', 'key = "k"\n', /a gateway is required: --gateway HOST:PORT, or "gateway" in the --config file/],
  ];
  for (const [name, text, pattern] of cases) {
    const file = text === undefined ? join(dir.path, name) : writeFile(name, text);
    const result = await runCli(['client', '--config', file, '--state', join(dir.path, 'state-bad')]);
    assert.notEqual(result.code, 0, name);
    assert.match(result.stderr, pattern, name);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line for ${name}: ${result.stderr}`);
  }
  // Without --config, --gateway is required as before.
  const bare = await runCli(['client', '--key', 'k']);
  assert.notEqual(bare.code, 0);
  assert.match(bare.stderr, /--gateway/);
});

// ---- errors a sysadmin meets --------------------------------------------------------------------

/** A client that is refused, at debug level so that every retry shows. */
async function refusedClient(args: string[]): Promise<Proc> {
  await setup();
  const client = new Proc([
    'client',
    '--gateway',
    server.address,
    '--state',
    join(dir.path, `state-${Math.random()}`),
    '--log-level',
    'debug',
    ...args,
  ]);
  procs.push(client);
  // Three attempts or more: each after a growing backoff (0.4, 0.8, 1.6 s and on).
  await waitFor(() => client.lines.filter((l) => l.status === 'waiting').length >= 3, 'three refused attempts', 60_000);
  await client.stop();
  return client;
}

function checkRefusalLog(client: Proc, fix: RegExp): void {
  const WARN = 40;
  const INFO = 30;
  const waiting = client.lines.filter((l) => l.status === 'waiting');
  const warnings = waiting.filter((l) => l.level === WARN);
  assert.equal(warnings.length, 1, `one warning for ${waiting.length} refusals: ${JSON.stringify(waiting)}`);
  assert.match(String(warnings[0]!.fix), fix);
  assert.match(String(warnings[0]!.msg), fix);
  // The retries after the warning are not one info line each.
  assert.equal(
    client.lines.filter((l) => l.level === INFO && (l.status === 'waiting' || l.status === 'connecting')).length,
    1,
    'only the first attempt at info',
  );
}

test('a client with a wrong key warns once, saying what to fix; its retries do not fill the log at info', async () => {
  const client = await refusedClient(['--key', 'not-the-key']);
  checkRefusalLog(client, /--key-file/);
});

test('a client whose pinned certificate does not match warns once, saying what to fix', async () => {
  const client = await refusedClient(['--key', 'k', '--tls-fingerprint', 'AA:BB:CC']);
  checkRefusalLog(client, /--tls-fingerprint/);
});

test('a missing key file is one line naming the file and the flag', async () => {
  for (const command of ['client', 'control']) {
    const result = await runCli([
      command,
      '--gateway',
      '127.0.0.1:1',
      '--key-file',
      join(dir.path, 'no-such.key'),
      ...(command === 'control' ? ['browse'] : []),
    ]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /^switchboard: cannot read the key file \(--key-file\) .*no-such\.key: no such file\n$/,
    );
  }
});

test('a login the server requires: the message names --operator, --password-env and --totp', async () => {
  const data = join(dir.path, 'login-data');
  const login = await startServer(data);
  procs.push(login.proc);
  const k = await addKey(data, 'k');
  const added = await runCli(
    ['config', '--data', data, 'operator', 'add', 'ops', '--role', 'admin', '--password-env', 'PW'],
    { env: { PW: 'a long password' } },
  );
  assert.equal(added.code, 0, added.stderr);
  const none = await runCli(['control', '--gateway', login.address, '--key', k, 'browse']);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /--operator NAME and --password-env VAR/);
  const wrong = await runCli(
    ['control', '--gateway', login.address, '--key', k, '--operator', 'ops', '--password-env', 'PW', 'browse'],
    { env: { PW: 'wrong' } },
  );
  assert.match(wrong.stderr, /check --operator NAME and the password/);
  const totp = await runCli(['config', '--data', data, 'operator', 'totp', 'ops']);
  assert.equal(totp.code, 0, totp.stderr);
  const noCode = await runCli(
    ['control', '--gateway', login.address, '--key', k, '--operator', 'ops', '--password-env', 'PW', 'browse'],
    { env: { PW: 'a long password' } },
  );
  assert.match(noCode.stderr, /--totp CODE/);
  await login.proc.stop();
});

test('config key add/list/remove, set and show have --help descriptions; set lists every setting', async () => {
  const key = await runCli(['config', 'key', '--help']);
  assert.match(key.stdout, /add \[options\] <name>\s+add a connectivity key/);
  assert.match(key.stdout, /list \[options\]\s+list the keys/);
  assert.match(key.stdout, /remove <name>\s+remove a key/);
  const set = await runCli(['config', 'set', '--help']);
  for (const name of [
    'primary-weight',
    'require-tls',
    'heartbeat',
    'hello-timeout',
    'lockout-attempts',
    'admission-rate',
    'max-connections-per-address',
  ]) {
    assert.match(set.stdout, new RegExp(`^  ${name} +\\S.*\\(default `, 'm'), name);
  }
  const config = await runCli(['config', '--help']);
  assert.match(config.stdout, /show \[options\]\s+print the configuration/);
  assert.match(config.stdout, /set <setting> <value>\s+change a cluster-wide setting/);
});

// ---- services ---------------------------------------------------------------------------------------

const systemdAnalyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));

/** `systemd-analyze verify` on a unit written into its own directory. */
function verifyUnit(name: string, text: string): void {
  const unitDir = join(dir.path, `verify-${Math.random().toString(36).slice(2)}`);
  mkdirSync(unitDir);
  writeFileSync(join(unitDir, name), text);
  const result = spawnSync(systemdAnalyze!, ['verify', join(unitDir, name)], { encoding: 'utf8' });
  assert.equal(result.status, 0, `systemd-analyze verify ${name}:\n${result.stdout}${result.stderr}\n${text}`);
}

test(
  'client install --dry-run and server install --dry-run print units that pass systemd-analyze verify',
  { skip: systemdAnalyze ? false : 'systemd-analyze is not installed' },
  async () => {
    const config = writeFile(
      'service-client.toml',
      'gateway = "10.0.0.1:443"\nkey-file = "/etc/switchboard/fleet.key"\nallow-forward = [22]\n',
    );
    const client = await runCli(['client', 'install', '--config', config, '--dry-run']);
    assert.equal(client.code, 0, client.stderr);
    assert.match(
      client.stdout,
      new RegExp(
        `^ExecStart=\\S+ --initial-old-space-size=64 ${BIN.replace(/[.]/g, '\\.')} client --config ${config.replace(/[.]/g, '\\.')} --state /var/lib/switchboard-client$`,
        'm',
      ),
    );
    assert.match(client.stdout, /^User=switchboard$/m);
    verifyUnit('switchboard-client.service', client.stdout);

    const server = await runCli(['server', 'install', '--dry-run', '--listen', '0.0.0.0:443', '--tls-self-signed']);
    assert.equal(server.code, 0, server.stderr);
    assert.match(
      server.stdout,
      /^ExecStart=\S+ --initial-old-space-size=64 \S+ server --listen 0\.0\.0\.0:443 --tls-self-signed --data \/var\/lib\/switchboard$/m,
    );
    assert.match(server.stdout, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    verifyUnit('switchboard-server.service', server.stdout);

    // Install's own flags may follow the server's; relative paths become absolute.
    const member = await runCli([
      'server',
      'install',
      '--role',
      'member',
      '--data',
      'rel-data',
      '--primary',
      '10.0.0.1:443',
      '--advertise',
      '10.0.0.2:443',
      '--listen',
      '0.0.0.0:8443',
      '--cluster-secret-file',
      'secret',
      '--dry-run',
    ]);
    assert.equal(member.code, 0, member.stderr);
    assert.match(member.stdout, new RegExp(`--data ${process.cwd().replace(/[.]/g, '\\.')}/rel-data `));
    assert.match(member.stdout, /^ReadWritePaths=\//m);
    assert.doesNotMatch(member.stdout, /AmbientCapabilities/);
    verifyUnit('switchboard-server.service', member.stdout);
  },
);

test('install refuses what the service could not run with; install then uninstall in a unit directory', async () => {
  const noSecret = await runCli(['server', 'install', '--role', 'primary', '--advertise', '10.0.0.1:443', '--dry-run']);
  assert.notEqual(noSecret.code, 0);
  assert.match(noSecret.stderr, /--cluster-secret-file/);
  const unknown = await runCli(['server', 'install', '--dry-run', '--bogus']);
  assert.match(unknown.stderr, /not a server flag: --bogus/);
  const noKey = await runCli([
    'client',
    'install',
    '--config',
    writeFile('nokey.toml', 'gateway = "a:1"\n'),
    '--dry-run',
  ]);
  assert.match(noKey.stderr, /no "key" or "key-file"/);
  const bad = await runCli([
    'client',
    'install',
    '--config',
    writeFile('bad.toml', 'gateway = "a:1"\nkey = "k"\nport = 1\n'),
    '--dry-run',
  ]);
  assert.match(bad.stderr, /bad\.toml:3: unknown key "port"/);
  // Uploads (control cp) are written in the --allow-files directory: the unit makes it writable.
  const withFiles = await runCli([
    'client',
    'install',
    '--config',
    writeFile('files.toml', 'gateway = "a:1"\nkey = "k"\nstate = "/var/lib/sbc"\nallow-files = "/srv/drop"\n'),
    '--dry-run',
  ]);
  assert.match(withFiles.stdout, /^ReadWritePaths=\/var\/lib\/sbc \/srv\/drop$/m);

  // A user that exists (no useradd on the test machine) and a temporary unit directory (no systemctl).
  const unitDir = join(dir.path, 'units');
  const config = writeFile(
    'installed.toml',
    `gateway = "10.0.0.1:443"\nkey = "k"\nstate = "${join(dir.path, 'installed-state')}"\n`,
  );
  const installed = await runCli(['client', 'install', '--config', config, '--unit-dir', unitDir, '--user', 'nobody']);
  assert.equal(installed.code, 0, installed.stderr);
  const unit = readFileSync(join(unitDir, 'switchboard-client.service'), 'utf8');
  assert.match(unit, /^User=nobody$/m);
  assert.match(unit, new RegExp(`^ReadWritePaths=${join(dir.path, 'installed-state')}$`, 'm'));
  assert.ok(existsSync(join(dir.path, 'installed-state')), 'the writable state directory is made for the user');
  const removed = await runCli(['client', 'uninstall', '--unit-dir', unitDir]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.ok(!existsSync(join(unitDir, 'switchboard-client.service')));
  const again = await runCli(['client', 'uninstall', '--unit-dir', unitDir]);
  assert.match(again.stderr, /nothing to uninstall/);
});

// ---- relay settings, however the bin is started ---------------------------------------------------

test('`node bin/switchboard.js` runs Switchboard with the relay settings; signals and the exit code pass through', async () => {
  const data = join(dir.path, 'plain-node');
  // Exactly what a unit or a user might type: node, the bin, no flag, none of the shebang's environment.
  const env = { ...process.env };
  delete env.MALLOC_TRIM_THRESHOLD_;
  const child = spawn(process.execPath, [BIN, 'server', '--data', data, '--listen', '127.0.0.1:0'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // A failed check must not leave the server running (it would hold the test run open).
  after(() => void child.kill('SIGKILL'));
  const listening = await waitFor(
    () =>
      out
        .split('\n')
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })
        .find((l) => l?.msg === 'listening'),
    'the server listening',
  );
  const pid = Number(listening.pid);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(environ.includes('MALLOC_TRIM_THRESHOLD_=67108864'), 'the relay runs with the trim threshold');
  assert.ok(cmdline.includes('--initial-old-space-size=64'), `the relay runs with the heap flag: ${cmdline.join(' ')}`);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'SIGTERM reaches the server, which shuts down in order');
  assert.ok(out.includes('"msg":"shutting down"'));

  const failed = spawnSync(
    process.execPath,
    [BIN, 'restore', '--from', join(dir.path, 'none.sbk'), '--data', join(dir.path, 'none')],
    { env, encoding: 'utf8' },
  );
  assert.equal(failed.status, 1);
  assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr);
});

// ---- backup and restore -------------------------------------------------------------------------

test('backup of a running server, restore into a new directory: the restored server has the same keys, operators, servers, settings and certificate', async () => {
  await setup();
  const config = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(['config', '--data', server.data, ...args], { env });
  for (const args of [
    ['operator', 'add', 'alice', '--role', 'admin', '--password-env', 'PW'],
    ['server', 'add', '10.9.9.9:443', '--weight', '500'],
    ['set', 'heartbeat', '20'],
  ]) {
    const result = await config(args, { PW: 'alice password 1' });
    assert.equal(result.code, 0, result.stderr);
  }
  const out = join(dir.path, 'backup', 'store.sbk');
  const made = await runCli(['backup', '--data', server.data, '--out', out]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600, 'the backup is owner-only');
  assert.match((await runCli(['backup', '--data', server.data, '--out', out])).stderr, /exists/);

  const restored = join(dir.path, 'restored');
  const done = await runCli(['restore', '--from', out, '--data', restored]);
  assert.equal(done.code, 0, done.stderr);
  const show = async (data: string) =>
    JSON.parse((await runCli(['config', '--data', data, 'show', '--json'])).stdout) as Record<string, unknown>;
  const [before, after] = [await show(server.data), await show(restored)];
  for (const part of ['keys', 'operators', 'servers', 'settings', 'version'])
    assert.deepEqual(after[part], before[part], part);

  // A server started on it is the same server: the key works, the operator logs in, the certificate is the one clients pinned.
  const copy = await startServer(restored, ['--tls-self-signed', '--listen', '127.0.0.1:0']);
  procs.push(copy.proc);
  await waitFor(() => copy.proc.stderr.includes('fingerprint'), 'the fingerprint');
  assert.ok(copy.proc.stderr.includes(fingerprint), 'the same TLS certificate');
  const list = await runCli(
    [
      'control',
      '--gateway',
      copy.address,
      '--key',
      key,
      '--operator',
      'alice',
      '--password-env',
      'PW',
      'servers',
      '--json',
    ],
    { env: { PW: 'alice password 1' } },
  );
  assert.equal(list.code, 0, list.stderr);
  await copy.proc.stop();

  // Never over an existing store, and only from a Switchboard store.
  const over = await runCli(['restore', '--from', out, '--data', server.data]);
  assert.notEqual(over.code, 0);
  assert.match(over.stderr, /already holds a Switchboard store/);
  const notStore = await runCli([
    'restore',
    '--from',
    writeFile('not-a-store.sbk', 'hello'),
    '--data',
    join(dir.path, 'r2'),
  ]);
  assert.match(notStore.stderr, /not a Switchboard backup/);
  assert.ok(!existsSync(join(dir.path, 'r2', 'switchboard.db')));
});
