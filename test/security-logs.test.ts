/**
 * docs/security.md, "Secrets in logs": a realistic run, with every process's stdout and stderr
 * kept, then searched for every secret value it handled.
 *
 * The run: a primary started with --init (TLS, trace logging, cluster secret from a file) and a
 * member (secret from the environment, trace logging); keys added offline and online; operators with
 * passwords and TOTP; clients (one with --key-file); controls that log in, browse and exec, and
 * controls with a wrong password or TOTP code; REST logins (right and wrong), a password change, a
 * key made through the API; `config --gateway`; a restart with --init, which prints nothing again.
 *
 * The secrets: every key value, every password (old and new), the cluster secret, the TOTP seed,
 * the password hashes, the primary's TLS private key, the REST bearer token and CSRF token. Allowed
 * places, by design: the one-time --init banner on stderr, the output of `key add` / `key list`
 * (which print key values), and of `operator totp` (the enrolment URI to scan). The audit log in the
 * store is a log too, and is searched the same way.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { login, request, secretOf, unusedTotp } from './helpers/api.js';
import { Proc, runCli, tempDir, type CliResult } from './helpers/harness.js';
import { freePort, stopAll } from './helpers/sb.js';

const dir = tempDir('sb-sec-logs-');
const procs: Proc[] = [];
const CLUSTER_SECRET = 'logs-cluster-secret-c0ffee-4242-beef';
const PASSWORDS = {
  ops: 'ops-first-password-Q1w2',
  opsNew: 'ops-second-password-E3r4',
  sec: 'sec-admin-password-T5y6',
  wrong: 'not-the-password-Z9',
};

/** Output by process, for the search: [label, text, allowed-by-design]. */
const outputs: { label: string; text: string; allowed?: boolean }[] = [];

function record(label: string, result: CliResult, allowedStdout = false): CliResult {
  outputs.push({ label: `${label} (stdout)`, text: result.stdout, allowed: allowedStdout });
  outputs.push({ label: `${label} (stderr)`, text: result.stderr });
  return result;
}

async function cli(label: string, args: string[], env: NodeJS.ProcessEnv = {}, allowedStdout = false): Promise<string> {
  const result = record(label, await runCli(args, { env, timeoutMs: 30_000 }), allowedStdout);
  if (result.code !== 0) throw new Error(`${label}: ${result.stderr}`);
  return result.stdout;
}

function spawn(label: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const proc = new Proc(args, env);
  procs.push(proc);
  (proc as Proc & { label?: string }).label = label;
  return proc;
}

after(async () => {
  await stopAll(procs);
  dir.remove();
});

test('no secret appears in any log of a realistic run, outside the --init banner and the commands that print keys by design', async () => {
  const port = await freePort();
  const [P, M] = [`127.0.73.1:${port}`, `127.0.73.2:${port}`];
  const pData = join(dir.path, 'p');
  const mData = join(dir.path, 'm');
  const secretFile = join(dir.path, 'cluster-secret');
  writeFileSync(secretFile, `${CLUSTER_SECRET}\n`);
  const serverArgs = [
    'server',
    '--data',
    pData,
    '--init',
    '--role',
    'primary',
    '--listen',
    P,
    '--advertise',
    P,
    '--tls-self-signed',
    '--cluster-secret-file',
    secretFile,
    '--log-level',
    'trace',
  ];

  // ---- the primary's first run, with --init -----------------------------------------------------
  let primary = spawn('primary (first run)', serverArgs);
  await primary.waitForMsg('listening');
  const banner = /key {7}default {3}(\S+)\n {2}operator {2}admin {5}password (\S+)/.exec(primary.stderr);
  assert.ok(banner, `the --init banner: ${primary.stderr}`);
  const [, defaultKey, adminPassword] = banner as unknown as [string, string, string];

  // ---- configuration, offline -----------------------------------------------------------------
  const k2 = (await cli('key add k2', ['config', '--data', pData, 'key', 'add', 'k2'], {}, true)).trim();
  const k3 = 'chosen-key-value-k3-5d6e7f80';
  await cli('key add k3 --value', ['config', '--data', pData, 'key', 'add', 'k3', '--value', k3], {}, true);
  await cli('key list', ['config', '--data', pData, 'key', 'list'], {}, true);
  await cli(
    'operator add ops',
    [
      'config',
      '--data',
      pData,
      'operator',
      'add',
      'ops',
      '--role',
      'operator',
      '--keys',
      'default,k2',
      '--password-env',
      'SB_NEW_PW',
    ],
    { SB_NEW_PW: PASSWORDS.ops },
  );
  // A TOTP code is accepted once, and only this step's and the next are, so an operator can log in
  // with TOTP twice per 30 s: the four TOTP logins below are shared by two admins, with no wait.
  await cli(
    'operator add sec',
    ['config', '--data', pData, 'operator', 'add', 'sec', '--role', 'admin', '--password-env', 'SB_NEW_PW'],
    { SB_NEW_PW: PASSWORDS.sec },
  );
  const seed = secretOf(
    (await cli('operator totp admin', ['config', '--data', pData, 'operator', 'totp', 'admin'], {}, true)).trim(),
  );
  const secSeed = secretOf(
    (await cli('operator totp sec', ['config', '--data', pData, 'operator', 'totp', 'sec'], {}, true)).trim(),
  );
  await cli('operator list', ['config', '--data', pData, 'operator', 'list']);
  await cli('show', ['config', '--data', pData, 'show', '--json']);
  await cli('server add', ['config', '--data', pData, 'server', 'add', M]);
  // The run makes several failed logins on purpose, all from 127.0.0.1.
  await cli('set lockout-attempts', ['config', '--data', pData, 'set', 'lockout-attempts', '50']);

  // ---- a member, the secret from the environment ----------------------------------------------
  const member = spawn(
    'member',
    [
      'server',
      '--data',
      mData,
      '--role',
      'member',
      '--listen',
      M,
      '--advertise',
      M,
      '--primary',
      P,
      '--log-level',
      'trace',
    ],
    { SWITCHBOARD_CLUSTER_SECRET: CLUSTER_SECRET },
  );
  await member.waitForMsg('configuration replicated', 30_000);

  // ---- clients --------------------------------------------------------------------------------
  const keyFile = join(dir.path, 'key-file');
  writeFileSync(keyFile, `${defaultKey}\n`);
  const c1 = spawn('client c1', [
    'client',
    '--gateway',
    P,
    '--key-file',
    keyFile,
    '--name',
    'c1',
    '--state',
    join(dir.path, 'c1'),
    '--allow-exec',
    '--log-level',
    'debug',
  ]);
  const c2 = spawn('client c2', [
    'client',
    '--gateway',
    P,
    '--key',
    k2,
    '--name',
    'c2',
    '--state',
    join(dir.path, 'c2'),
    '--log-level',
    'debug',
  ]);
  const wrongKey = spawn('client with a wrong key', [
    'client',
    '--gateway',
    P,
    '--key',
    `${k3}-wrong`,
    '--name',
    'c3',
    '--state',
    join(dir.path, 'c3'),
    '--log-level',
    'debug',
  ]);
  await Promise.all([c1, c2].map((c) => c.waitForLine((l) => l.status === 'connected', 'client connected', 30_000)));
  await wrongKey.waitForLine((l) => l.status === 'waiting', 'the wrong key refused');

  // ---- controls with operator logins, right and wrong -------------------------------------------
  const control = (label: string, args: string[], password: string, totp?: string) =>
    runCli(
      [
        'control',
        '--gateway',
        P,
        '--key',
        defaultKey,
        '--operator',
        label.startsWith('ops') ? 'ops' : label.startsWith('sec') ? 'sec' : 'admin',
        '--password-env',
        'SB_PW',
        ...(totp ? ['--totp', totp] : []),
        ...args,
      ],
      { env: { SB_PW: password }, timeoutMs: 30_000 },
    ).then((r) => record(`control ${label}`, r));
  assert.equal((await control('admin browse', ['browse', '--json'], adminPassword, await unusedTotp(seed))).code, 0);
  const exec = await control(
    'sec exec',
    ['exec', 'c1', '--', process.execPath, '-e', 'console.log("ran")'],
    PASSWORDS.sec,
    await unusedTotp(secSeed),
  );
  assert.equal(exec.stdout.trim(), 'ran', exec.stderr);
  assert.equal((await control('ops browse', ['browse'], PASSWORDS.ops)).code, 0);
  assert.notEqual((await control('ops wrong password', ['browse'], PASSWORDS.wrong)).code, 0);
  assert.notEqual((await control('admin wrong totp', ['browse'], adminPassword, '000000')).code, 0);
  assert.notEqual((await control('admin no totp', ['browse'], adminPassword)).code, 0);

  // ---- the REST API ---------------------------------------------------------------------------
  const admin = await login(P, 'admin', adminPassword, await unusedTotp(seed));
  assert.equal((await request(P, 'POST', 'login', { operator: 'ops', password: PASSWORDS.wrong })).status, 401);
  assert.equal(
    (await request(P, 'POST', 'login', { operator: 'admin', password: adminPassword, totp: '123456' })).status,
    401,
  );
  const ops = await login(P, 'ops', PASSWORDS.ops);
  assert.equal((await request(P, 'GET', 'clients', undefined, { token: ops.token })).status, 200);
  const k4 = (await request(P, 'POST', 'keys', { name: 'k4' }, { token: admin.token })).body.value as string;
  assert.ok(k4);
  assert.equal(
    (
      await request(
        P,
        'PUT',
        'operators/ops',
        { password: PASSWORDS.opsNew },
        { cookie: admin.cookie, csrf: admin.csrf },
      )
    ).status,
    200,
  );
  assert.equal((await request(P, 'POST', 'login', { operator: 'ops', password: PASSWORDS.ops })).status, 401);
  const opsAgain = await login(P, 'ops', PASSWORDS.opsNew);
  assert.equal(
    (
      await request(
        P,
        'POST',
        'exec',
        { client: 'c1', command: [process.execPath, '-e', '1'] },
        { token: opsAgain.token },
      )
    ).status,
    200,
  );
  await cli(
    'config --gateway key list',
    [
      'config',
      '--gateway',
      P,
      '--operator',
      'sec',
      '--password-env',
      'SB_PW',
      '--totp',
      await unusedTotp(secSeed),
      'key',
      'list',
    ],
    { SB_PW: PASSWORDS.sec },
    true,
  );
  record(
    'config --gateway wrong password',
    await runCli(['config', '--gateway', P, '--operator', 'admin', '--password-env', 'SB_PW', 'show'], {
      env: { SB_PW: PASSWORDS.wrong },
    }),
  );
  await request(P, 'POST', 'logout', undefined, { token: admin.token });

  // ---- a restart with --init prints no credentials again --------------------------------------
  await stopAll([primary]);
  primary = spawn('primary (second run)', serverArgs);
  await primary.waitForMsg('listening');
  await stopAll(procs);

  // ---- the search -----------------------------------------------------------------------------
  const db = new Database(join(pData, 'switchboard.db'), { readonly: true });
  const hashes = (db.prepare('SELECT password_hash FROM operators').all() as { password_hash: string }[]).map(
    (r) => r.password_hash,
  );
  const audit = (db.prepare('SELECT actor, action, detail FROM audit').all() as Record<string, string>[])
    .map((r) => `${r.actor} ${r.action} ${r.detail}`)
    .join('\n');
  db.close();
  const tlsKey = readFileSync(join(pData, 'tls-key.pem'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('-----'))
    .join('');
  const secrets: Record<string, string> = {
    'key default': defaultKey,
    'key k2': k2,
    'key k3': k3,
    'key k4': k4,
    'admin password': adminPassword,
    'ops password': PASSWORDS.ops,
    'ops new password': PASSWORDS.opsNew,
    'a wrong password': PASSWORDS.wrong,
    'cluster secret': CLUSTER_SECRET,
    'TOTP seed': seed,
    'TOTP seed (sec)': secSeed,
    'sec password': PASSWORDS.sec,
    'REST token': admin.token,
    'REST token (ops)': ops.token,
    'CSRF token': admin.csrf,
    'TLS private key': tlsKey.slice(0, 48),
    ...Object.fromEntries(hashes.map((h, i) => [`password hash ${i}`, h])),
  };
  for (const p of procs) {
    const label = (p as Proc & { label?: string }).label ?? p.child.spawnargs.join(' ');
    let stderr = p.stderr;
    if (label === 'primary (first run)') {
      // The one allowed place: the banner, shown once.
      assert.equal(stderr.split('these credentials are shown once').length, 2);
      stderr = stderr.replace(banner![0], '');
    }
    if (label === 'primary (second run)') assert.doesNotMatch(stderr, /credentials/);
    outputs.push({ label: `${label} (stdout)`, text: p.stdout }, { label: `${label} (stderr)`, text: stderr });
  }
  outputs.push({ label: 'audit log', text: audit });
  const logLines = outputs.filter((o) => !o.allowed).reduce((n, o) => n + o.text.split('\n').length, 0);
  assert.ok(logLines > 100, `the search covers a real amount of logging: ${logLines} lines`);
  assert.ok(
    procs.some((p) => p.stdout.includes('"level":20')),
    'debug logging was on',
  );
  const leaks: string[] = [];
  for (const { label, text, allowed } of outputs) {
    if (allowed) continue;
    for (const [what, value] of Object.entries(secrets)) {
      if (value && text.includes(value))
        leaks.push(
          `${what} in ${label}: ...${text.slice(Math.max(0, text.indexOf(value) - 120), text.indexOf(value) + value.length + 40)}...`,
        );
    }
  }
  assert.deepEqual(leaks, [], 'no secret in any log');
  // The allowed outputs do hold what they print by design, so the search would have found a leak.
  assert.ok(outputs.some((o) => o.allowed && o.text.includes(k2)));
  assert.ok(outputs.some((o) => o.allowed && o.text.includes(seed)));
});
