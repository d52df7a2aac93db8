/**
 * Issue 2 item 8: TLS. A self-signed certificate made once in the data directory (its fingerprint
 * printed and stable across restarts), or a certificate from files; clients and controls verify it
 * with --tls-fingerprint or --ca, or are told clearly why not; one port serves plain and TLS, and
 * `require-tls` (changed while the server runs) makes it refuse plain connections; `--tls-only`
 * makes the port TLS alone, answering a plain request with a plain refusal.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import {
  oneErrorLine,
  roundTrip,
  sha256,
  startEchoServer,
  startForwardProc,
  startTrackedClient,
  startTrackedServer,
} from './helpers/external.js';
import { addKey, runCli, type Proc, tempDir, waitFor, type RunningServer } from './helpers/harness.js';

const dir = tempDir('sb-tls-');
const procs: Proc[] = [];
const serverProcs: Proc[] = [];
let echo: Awaited<ReturnType<typeof startEchoServer>>;

/** The self-signed server, after one restart on the same data directory. */
let server: RunningServer;
let key: string;
let fingerprint: string;
let firstFingerprint: string;
let firstStderrFingerprint: string | undefined;

function printedFingerprint(s: RunningServer): string | undefined {
  return /TLS certificate SHA-256 fingerprint: ([0-9A-F:]+)/.exec(s.proc.stderr)?.[1];
}

function loggedFingerprint(s: RunningServer): string {
  return String(s.proc.lines.find((l) => l.msg === 'listening')?.fingerprint);
}

async function serverWith(name: string, args: string[]): Promise<RunningServer> {
  const s = await startTrackedServer(serverProcs, join(dir.path, name), args);
  // The fingerprint line is written right after "listening"; wait for it rather than race it.
  if (args.some((a) => a.startsWith('--tls')))
    await waitFor(() => printedFingerprint(s), `${name}: the printed fingerprint`);
  return s;
}

function client(args: string[], waitConnected = true): Promise<Proc> {
  return startTrackedClient(procs, args, waitConnected);
}

function control(s: RunningServer, ...args: string[]) {
  return runCli(['control', '--gateway', s.address, '--key', key, ...args]);
}

async function browseNames(s: RunningServer, ...trust: string[]): Promise<string[]> {
  const result = await control(s, ...trust, 'browse', '--json');
  assert.equal(result.code, 0, `browse failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { name: string }[]).map((c) => c.name).sort();
}

/** GET over plain HTTP or HTTPS (not verifying: this only looks at the status). */
function statusOf(s: RunningServer, path: string, secure: boolean): Promise<{ status: number; body: string }> {
  const [host, port] = [
    s.address.slice(0, s.address.lastIndexOf(':')),
    Number(s.address.slice(s.address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get({ host, port, path, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
  });
}

before(async () => {
  echo = await startEchoServer();
  const data = join(dir.path, 'self-signed');
  const first = await serverWith('self-signed', ['--tls-self-signed']);
  firstFingerprint = loggedFingerprint(first);
  firstStderrFingerprint = printedFingerprint(first);
  assert.equal(await first.proc.stop(), 0);
  server = await serverWith('self-signed', ['--tls-self-signed']);
  assert.equal(server.data, data);
  fingerprint = loggedFingerprint(server);
  key = await addKey(server.data, 'default');
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all(serverProcs.map((p) => p.stop()));
  await echo?.close();
  dir.remove();
});

test('--tls-self-signed makes a certificate once, keeps it in the data directory and prints its SHA-256 fingerprint', () => {
  const onDisk = new X509Certificate(readFileSync(join(server.data, 'tls-cert.pem'))).fingerprint256;
  assert.match(fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(fingerprint, onDisk, 'the fingerprint logged is the one of the certificate in the data directory');
  assert.equal(firstStderrFingerprint, firstFingerprint, 'the first run prints the fingerprint on stderr');
  assert.equal(printedFingerprint(server), fingerprint, 'the restart prints it too');
  assert.equal(fingerprint, firstFingerprint, 'a restart keeps the same certificate');
});

test('the self-signed certificate is signed with SHA-256, not SHA-1 (which browsers and OpenSSL 3 refuse)', () => {
  const der = new X509Certificate(readFileSync(join(server.data, 'tls-cert.pem'))).raw;
  const oid = (hex: string) => der.includes(Buffer.from(hex, 'hex'));
  assert.ok(!oid('06072a8648ce3d0401') && !oid('06092a864886f70d010105'), 'signed with SHA-1');
  assert.ok(
    oid('06082a8648ce3d040302') || oid('06092a864886f70d01010b'),
    'signed with ecdsa-with-SHA256 or sha256WithRSAEncryption',
  );
});

test('a client and a control pinning the fingerprint connect; forward and exec sessions work over TLS', async () => {
  const trust = ['--tls-fingerprint', fingerprint];
  await client([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'tls-pinned',
    '--state',
    join(dir.path, 'c-pinned'),
    '--allow-forward',
    String(echo.port),
    '--allow-exec',
    ...trust,
  ]);
  assert.deepEqual(await browseNames(server, ...trust), ['tls-pinned']);

  // The fingerprint in another spelling (lower case, no colons) is the same pin.
  assert.deepEqual(await browseNames(server, '--tls-fingerprint', fingerprint.replaceAll(':', '').toLowerCase()), [
    'tls-pinned',
  ]);

  const exec = await control(
    server,
    ...trust,
    'exec',
    'tls-pinned',
    '--',
    process.execPath,
    '-e',
    'process.stdout.write("over tls"); process.stderr.write("err"); process.exit(3)',
  );
  assert.equal(exec.code, 3, exec.stderr);
  assert.equal(exec.stdout, 'over tls');
  assert.equal(exec.stderr, 'err');

  const forward = await startForwardProc(
    ['--gateway', server.address, '--key', key, ...trust],
    'tls-pinned',
    echo.port,
  );
  procs.push(forward.proc);
  const payload = randomBytes(4 * 1024 * 1024);
  const back = await roundTrip(forward.port, payload);
  assert.equal(back.length, payload.length);
  assert.equal(sha256(back), sha256(payload));
  await forward.proc.stop();
});

test('a wrong fingerprint is refused with one clear line, and a client holding it never connects', async () => {
  const wrong = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '11' : '00');
  const line = oneErrorLine(await control(server, '--tls-fingerprint', wrong, 'browse'));
  assert.match(line, /^switchboard: .*fingerprint .* does not match/);

  const waiter = await client(
    [
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'tls-wrong',
      '--state',
      join(dir.path, 'c-wrong'),
      '--tls-fingerprint',
      wrong,
    ],
    false,
  );
  const waiting = await waiter.waitForLine((l) => l.status === 'waiting', 'the client to give up one attempt');
  assert.match(String(waiting.reason), /fingerprint .* does not match/);
  assert.ok(!waiter.lines.some((l) => l.status === 'connected'));
  await waiter.stop();
  assert.ok(!(await browseNames(server, '--tls-fingerprint', fingerprint)).includes('tls-wrong'));
});

test('--ca with the server certificate works, by IP and by name', async () => {
  const ca = join(server.data, 'tls-cert.pem');
  await client([
    '--gateway',
    `localhost:${server.address.split(':')[1]}`,
    '--key',
    key,
    '--name',
    'tls-ca',
    '--state',
    join(dir.path, 'c-ca'),
    '--ca',
    ca,
  ]);
  assert.ok((await browseNames(server, '--ca', ca)).includes('tls-ca'));
  const byName = await runCli([
    'control',
    '--gateway',
    `localhost:${server.address.split(':')[1]}`,
    '--key',
    key,
    '--ca',
    ca,
    'browse',
    '--json',
  ]);
  assert.equal(byName.code, 0, byName.stderr);
});

test('TLS without --ca or --tls-fingerprint is refused, telling the user to pass one', async () => {
  for (const args of [
    ['--gateway', server.address, '--tls'],
    ['--gateway', `https://${server.address}`],
  ]) {
    const line = oneErrorLine(await runCli(['control', ...args, '--key', key, 'browse']));
    assert.match(line, /--ca/, line);
    assert.match(line, /--tls-fingerprint/, line);
  }
  const waiter = await client(
    [
      '--gateway',
      server.address,
      '--key',
      key,
      '--name',
      'tls-untrusted',
      '--state',
      join(dir.path, 'c-untrusted'),
      '--tls',
    ],
    false,
  );
  const waiting = await waiter.waitForLine(
    (l) => l.status === 'waiting',
    'the untrusting client to give up one attempt',
  );
  assert.match(String(waiting.reason), /--ca FILE or --tls-fingerprint/);
  await waiter.stop();
});

test('--tls-cert/--tls-key serve a CA-signed certificate: --ca checks the chain and the name, --tls-fingerprint pins the leaf', async () => {
  const ca = await generate([{ name: 'commonName', value: 'Switchboard Test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  // selfsigned gives a CA-signed "localhost" certificate the names localhost and 127.0.0.1.
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
  });
  const otherName = await generate([{ name: 'commonName', value: 'elsewhere.example' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'elsewhere.example' }] }],
  });
  const files = (name: string, pems: { cert: string; private: string }) => {
    writeFileSync(join(dir.path, `${name}.pem`), pems.cert);
    writeFileSync(join(dir.path, `${name}.key`), pems.private, { mode: 0o600 });
    return ['--tls-cert', join(dir.path, `${name}.pem`), '--tls-key', join(dir.path, `${name}.key`)];
  };
  const caFile = join(dir.path, 'ca.pem');
  writeFileSync(caFile, ca.cert);
  assert.ok(new X509Certificate(leaf.cert).checkIssued(new X509Certificate(ca.cert)));

  const s = await serverWith('from-files', files('leaf', leaf));
  await addKey(s.data, 'default', key);
  const leafFingerprint = new X509Certificate(leaf.cert).fingerprint256;
  assert.equal(printedFingerprint(s), leafFingerprint);
  assert.equal(loggedFingerprint(s), leafFingerprint);

  await client([
    '--gateway',
    s.address,
    '--key',
    key,
    '--name',
    'files-client',
    '--state',
    join(dir.path, 'c-files'),
    '--ca',
    caFile,
    '--allow-forward',
    String(echo.port),
  ]);
  assert.deepEqual(await browseNames(s, '--ca', caFile), ['files-client']);
  assert.deepEqual(await browseNames(s, '--tls-fingerprint', leafFingerprint), ['files-client']);
  const forward = await startForwardProc(
    ['--gateway', s.address, '--key', key, '--ca', caFile],
    'files-client',
    echo.port,
  );
  procs.push(forward.proc);
  assert.equal(
    (await roundTrip(forward.port, Buffer.from('through a CA-signed certificate'))).toString(),
    'through a CA-signed certificate',
  );
  await forward.proc.stop();

  // The wrong CA: the self-signed server's certificate does not sign this one.
  const wrongCa = oneErrorLine(await control(s, '--ca', join(server.data, 'tls-cert.pem'), 'browse'));
  assert.match(wrongCa, /TLS .* failed/);
  // Without trust, the CA-signed chain is refused with the same hint.
  assert.match(oneErrorLine(await control(s, '--tls', 'browse')), /--ca FILE or --tls-fingerprint/);

  // The right CA but a certificate for another name: the name dialled must be in the certificate.
  const misnamed = await serverWith('misnamed', files('misnamed', otherName));
  await addKey(misnamed.data, 'default', key);
  const line = oneErrorLine(await control(misnamed, '--ca', caFile, 'browse'));
  assert.match(line, /127\.0\.0\.1/);
  assert.match(line, /does not match|not in the cert/i);
  // Pinning that certificate's fingerprint is an explicit trust of it, name or not.
  assert.deepEqual(
    await browseNames(misnamed, '--tls-fingerprint', new X509Certificate(otherName.cert).fingerprint256),
    [],
  );
});

test('one port serves plain and TLS; require-tls, set while the server runs, refuses plain connections and can be lifted', async () => {
  const trust = ['--tls-fingerprint', fingerprint];
  // Plain works on the TLS server's port: a plain client, a plain control.
  await client([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'plain-before',
    '--state',
    join(dir.path, 'c-plain-before'),
  ]);
  assert.ok((await browseNames(server)).includes('plain-before'));
  assert.equal((await statusOf(server, '/nowhere', false)).status, 404);

  const set = await runCli(['config', '--data', server.data, 'set', 'require-tls', 'true']);
  assert.equal(set.code, 0, set.stderr);
  // No restart: the running server picks the setting up (it watches its store).
  await waitFor(
    async () => (await statusOf(server, '/nowhere', false)).status === 403,
    'plain HTTP to be refused with 403',
  );
  const refusedBody = JSON.parse((await statusOf(server, '/api/v1/clients', false)).body) as {
    error: { code: string; message: string };
  };
  assert.equal(refusedBody.error.code, 'SB_ERR_TLS_REQUIRED');
  assert.equal((await statusOf(server, '/nowhere', true)).status, 404, 'HTTPS passes the TLS gate');

  const plainControl = oneErrorLine(await control(server, 'browse'));
  assert.match(plainControl, /requires TLS/);
  const plainClient = await client(
    ['--gateway', server.address, '--key', key, '--name', 'plain-after', '--state', join(dir.path, 'c-plain-after')],
    false,
  );
  const waiting = await plainClient.waitForLine((l) => l.status === 'waiting', 'the plain client to be refused');
  assert.match(String(waiting.reason), /requires TLS/);

  // TLS still works, sessions included: their data connections are TLS too, or they would be refused.
  await client([
    '--gateway',
    server.address,
    '--key',
    key,
    '--name',
    'tls-required',
    '--state',
    join(dir.path, 'c-tls-required'),
    '--allow-forward',
    String(echo.port),
    ...trust,
  ]);
  const names = await browseNames(server, ...trust);
  assert.ok(names.includes('tls-required'));
  assert.ok(!names.includes('plain-after'));
  const forward = await startForwardProc(
    ['--gateway', server.address, '--key', key, ...trust],
    'tls-required',
    echo.port,
  );
  procs.push(forward.proc);
  assert.equal((await roundTrip(forward.port, Buffer.from('tls only'))).toString(), 'tls only');
  await forward.proc.stop();

  // Lifted again, still without a restart: plain connections are back, and the waiting client gets in.
  const unset = await runCli(['config', '--data', server.data, 'set', 'require-tls', 'false']);
  assert.equal(unset.code, 0, unset.stderr);
  await waitFor(
    async () => (await statusOf(server, '/nowhere', false)).status === 404,
    'plain HTTP to be served again',
  );
  // Its retries back off to 30 s (jittered) while it was refused: the next may be that far off.
  await plainClient.waitForLine((l) => l.status === 'connected', 'the plain client to get in', 60_000);
  assert.ok((await browseNames(server)).includes('plain-after'));
});

/** Writes bytes on a raw TCP connection and collects whatever comes back until the server closes. */
function rawExchange(address: string, bytes: Buffer): Promise<string> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(address.slice(at + 1)), address.slice(0, at), () => socket.write(bytes));
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (answer += c));
    socket.once('close', () => resolve(answer));
    socket.once('error', reject);
  });
}

test('--tls-only: the port speaks TLS alone; a plain HTTP request is refused in plain HTTP, saying so, and TLS clients, controls and sessions work', async () => {
  const tlsOnly = await serverWith('tls-only', ['--tls-self-signed', '--tls-only']);
  const trust = ['--tls-fingerprint', loggedFingerprint(tlsOnly)];
  const onlyKey = await addKey(tlsOnly.data, 'default');

  // Even /healthz, which a sniffing port serves plain under require-tls, is refused here.
  const plain = await statusOf(tlsOnly, '/healthz', false);
  assert.equal(plain.status, 403);
  assert.equal((JSON.parse(plain.body) as { error: { code: string } }).error.code, 'SB_ERR_TLS_REQUIRED');
  const plainControl = oneErrorLine(
    await runCli(['control', '--gateway', tlsOnly.address, '--key', onlyKey, 'browse']),
  );
  assert.match(plainControl, /TLS only/);
  // Bytes that are neither TLS nor HTTP get no answer, only a close.
  assert.equal(await rawExchange(tlsOnly.address, Buffer.alloc(64, 0x01)), '');

  await client([
    '--gateway',
    tlsOnly.address,
    '--key',
    onlyKey,
    '--name',
    'behind-tls-only',
    '--state',
    join(dir.path, 'c-tls-only'),
    '--allow-forward',
    String(echo.port),
    ...trust,
  ]);
  const browsed = await runCli([
    'control',
    '--gateway',
    tlsOnly.address,
    '--key',
    onlyKey,
    ...trust,
    'browse',
    '--json',
  ]);
  assert.deepEqual(
    (JSON.parse(browsed.stdout) as { name: string }[]).map((c) => c.name),
    ['behind-tls-only'],
  );
  const forward = await startForwardProc(
    ['--gateway', tlsOnly.address, '--key', onlyKey, ...trust],
    'behind-tls-only',
    echo.port,
  );
  procs.push(forward.proc);
  assert.equal((await roundTrip(forward.port, Buffer.from('no sniff'))).toString(), 'no sniff');
  await forward.proc.stop();
});

test('--tls-only without a certificate is refused at start', async () => {
  const result = await runCli([
    'server',
    '--data',
    join(dir.path, 'tls-only-no-cert'),
    '--listen',
    '127.0.0.1:0',
    '--tls-only',
  ]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /--tls-only needs a certificate/);
});
