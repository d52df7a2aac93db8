import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeClientFlags, parseClientConfig } from '../src/cli/clientConfigFile.js';
import { ClientStatusLog, REFUSAL_WARN_INTERVAL_MS } from '../src/cli/clientStatusLog.js';
import { missingRuntime, shouldRespawn, RELAY_NODE_ENV, RELAY_NODE_FLAGS } from '../src/cli/nodeRuntime.js';
import { execWord, renderUnit, unitName, type UnitSpec } from '../src/cli/units.js';
import { failureAdvice } from '../src/client/failureAdvice.js';
import { ErrorCodes } from '../src/protocol/errors.js';
import { shippedNodeEnv, shippedNodeFlags } from '../bench/processes.js';

// ---- the client's configuration file ------------------------------------------------------------

const FILE = '/etc/switchboard/client.toml';

test('client config file: every key maps to its flag; relative paths are taken from the file', () => {
  const text = [
    'gateway = "10.0.0.1:443"',
    'secondary = "10.0.0.2:443"',
    'key-file = "key.txt"',
    'name = "web-1"',
    'group = "web"',
    'state = "/var/lib/sb"',
    'allow-forward = [22, 8080]',
    'allow-exec = true',
    'proxy = "http://proxy:3128"',
    'tls-fingerprint = "AB:CD"',
    'ca = "ca.pem"',
    'log-level = "warn"',
  ].join('\n');
  const config = parseClientConfig(FILE, text);
  const merged = mergeClientFlags({ group: '', state: './.switchboard-client', logLevel: 'info' }, config, {});
  assert.deepEqual(merged, {
    gateway: '10.0.0.1:443',
    secondary: '10.0.0.2:443',
    keyFile: '/etc/switchboard/key.txt',
    name: 'web-1',
    group: 'web',
    state: '/var/lib/sb',
    allowForward: '22,8080',
    allowExec: true,
    proxy: 'http://proxy:3128',
    tlsFingerprint: 'AB:CD',
    ca: '/etc/switchboard/ca.pem',
    logLevel: 'warn',
  });
});

test('client config file: a flag on the command line wins over the file, the file over the defaults', () => {
  const config = parseClientConfig(FILE, 'gateway = "a:1"\nkey = "from-file"\nname = "file-name"\n');
  const merged = mergeClientFlags({ group: '', logLevel: 'info' }, config, { name: 'flag-name', keyFile: '/k' });
  assert.equal(merged.gateway, 'a:1');
  assert.equal(merged.name, 'flag-name');
  assert.equal(merged.logLevel, 'info');
  // The key is one choice: --key-file on the command line replaces the file's key.
  assert.equal(merged.key, undefined);
  assert.equal(merged.keyFile, '/k');
  assert.deepEqual(mergeClientFlags({ group: '' }, undefined, { gateway: 'b:2' }), { group: '', gateway: 'b:2' });
});

test('client config file: unknown keys, wrong types and bad TOML are refused with the file, line and key', () => {
  const refused = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseClientConfig(FILE, text),
      (err: Error) => {
        assert.match(err.message, pattern);
        assert.equal((err as Error & { code?: string }).code, 'SB_ERR_CONFIG');
        return true;
      },
    );
  refused('gateway = "a:1"\n\ngatway = "b:2"\n', /^\/etc\/switchboard\/client\.toml:3: unknown key "gatway"/);
  refused('gateway = "a:1"\nallow-forward = "22"\n', /client\.toml:2: key "allow-forward"/);
  refused('allow-forward = [22, 70000]\n', /client\.toml:1: key "allow-forward"/);
  refused('allow-exec = "yes"\n', /client\.toml:1: key "allow-exec"/);
  refused('log-level = "loud"\n', /client\.toml:1: key "log-level"/);
  refused('gateway = "a:1"\ngateway = "b:2"\n', /client\.toml:2: not valid TOML/);
  refused('gateway = \n', /client\.toml:1: not valid TOML/);
  refused('key = "k"\nkey-file = "f"\n', /client\.toml:2: give "key" or "key-file", not both/);
  refused('[client]\ngateway = "a:1"\n', /client\.toml:1: unknown key "client"/);
});

// ---- units -----------------------------------------------------------------------------------------

const spec: UnitSpec = {
  role: 'server',
  user: 'switchboard',
  node: '/usr/bin/node',
  entry: '/opt/switchboard/bin/switchboard.js',
  args: ['server', '--data', '/srv/switch board', '--listen', '0.0.0.0:443'],
  writablePaths: ['/srv/switch board'],
  privilegedPort: true,
  readPaths: [],
};

test('units: ExecStart runs the entry with the relay settings, a dedicated user, restart and hardening', () => {
  const unit = renderUnit(spec);
  assert.equal(unitName('server'), 'switchboard-server.service');
  assert.match(
    unit,
    /^ExecStart=\/usr\/bin\/node --initial-old-space-size=64 \/opt\/switchboard\/bin\/switchboard\.js server --data "\/srv\/switch board" --listen 0\.0\.0\.0:443$/m,
  );
  assert.match(unit, /^Environment=MALLOC_TRIM_THRESHOLD_=67108864$/m);
  for (const line of [
    'User=switchboard',
    'Restart=on-failure',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'ReadWritePaths="/srv/switch board"',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'CapabilityBoundingSet=CAP_NET_BIND_SERVICE',
    'WantedBy=multi-user.target',
  ]) {
    assert.ok(unit.split('\n').includes(line), `${line} in\n${unit}`);
  }
  const client = renderUnit({
    ...spec,
    role: 'client',
    args: ['client', '--config', '/home/ops/client.toml'],
    writablePaths: [],
    stateDirectory: 'switchboard-client',
    privilegedPort: false,
    readPaths: ['/home/ops/client.toml', '/tmp/ca.pem'],
  });
  assert.ok(client.includes('\nStateDirectory=switchboard-client\n'));
  assert.ok(client.includes('\nCapabilityBoundingSet=\n'));
  assert.ok(!client.includes('AmbientCapabilities'));
  // Files the service must read under /home or /tmp stay visible to it.
  assert.ok(client.includes('\nProtectHome=read-only\n'));
  assert.ok(client.includes('\nPrivateTmp=no\n'));
});

test('units: ExecStart words are quoted and escaped as systemd reads them', () => {
  assert.equal(execWord('/plain/path'), '/plain/path');
  assert.equal(execWord('a b'), '"a b"');
  assert.equal(execWord('50%'), '50%%');
  assert.equal(execWord('$HOME'), '$$HOME');
  assert.equal(execWord('say "hi"'), '"say \\"hi\\""');
  assert.equal(execWord(''), '""');
});

// ---- the node settings the relay needs ------------------------------------------------------------

test('relay settings: one source for the shebang, the units and the re-start; a process without them starts again once', () => {
  assert.deepEqual(shippedNodeFlags(), [...RELAY_NODE_FLAGS]);
  assert.deepEqual(shippedNodeEnv(), { ...RELAY_NODE_ENV });
  assert.equal(shouldRespawn([], {}), true);
  assert.equal(shouldRespawn([...RELAY_NODE_FLAGS], {}), true);
  assert.equal(shouldRespawn([], { ...RELAY_NODE_ENV }), true);
  assert.equal(shouldRespawn([...RELAY_NODE_FLAGS], { ...RELAY_NODE_ENV }), false);
  // The user's own values count as set; and a re-started process never starts again.
  assert.equal(shouldRespawn(['--initial-old-space-size=256'], { MALLOC_TRIM_THRESHOLD_: '0' }), false);
  assert.equal(shouldRespawn([], { SWITCHBOARD_RESPAWNED: '1' }), false);
  assert.deepEqual(missingRuntime(['--inspect'], { MALLOC_TRIM_THRESHOLD_: '1' }), {
    flags: [...RELAY_NODE_FLAGS],
    env: {},
  });
});

// ---- what the client's log says when it is refused ------------------------------------------------

test('client log: a refusal retrying will not cure is one warning that says what to fix, repeated at most every few minutes', () => {
  assert.match(failureAdvice(ErrorCodes.BAD_KEY)!, /--key-file/);
  assert.match(failureAdvice(ErrorCodes.TLS_MISMATCH)!, /--tls-fingerprint/);
  assert.match(failureAdvice(ErrorCodes.BAD_IDENTITY)!, /--state/);
  assert.equal(failureAdvice(undefined), undefined);
  assert.equal(failureAdvice('ECONNREFUSED'), undefined);

  const log = new ClientStatusLog();
  const t0 = 1_000_000;
  const refusal = { reason: 'key not accepted', code: ErrorCodes.BAD_KEY, delayMs: 400 };
  assert.equal(log.decide('connecting', { server: 'a:1' }, t0).level, 'info');
  const first = log.decide('waiting', refusal, t0);
  assert.equal(first.level, 'warn');
  assert.match(first.msg, /key/);
  assert.equal(first.fields.fix, failureAdvice(ErrorCodes.BAD_KEY));
  const levels = [];
  for (let i = 1; i <= 50; i++) {
    levels.push(log.decide('connecting', { server: 'a:1' }, t0 + i * 1000).level);
    levels.push(log.decide('waiting', refusal, t0 + i * 1000).level);
  }
  assert.deepEqual(new Set(levels), new Set(['debug']));
  assert.equal(log.decide('waiting', refusal, t0 + REFUSAL_WARN_INTERVAL_MS).level, 'warn');
  // Another refusal warns at once; a transient failure is info as before; connected starts over.
  assert.equal(
    log.decide('waiting', { reason: 'x', code: ErrorCodes.TLS_MISMATCH }, t0 + REFUSAL_WARN_INTERVAL_MS + 1).level,
    'warn',
  );
  assert.equal(
    log.decide('waiting', { reason: 'connect ECONNREFUSED' }, t0 + REFUSAL_WARN_INTERVAL_MS + 2).level,
    'info',
  );
  assert.equal(log.decide('connected', { server: 'a:1' }, t0 + REFUSAL_WARN_INTERVAL_MS + 3).level, 'info');
  assert.equal(log.decide('waiting', refusal, t0 + REFUSAL_WARN_INTERVAL_MS + 4).level, 'warn');
});
