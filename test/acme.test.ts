/**
 * Issue 18: a certificate from an ACME CA, for real: Debian's pebble validates http-01 by dialling
 * our server at the address a small DNS server gives for the domain. The certificate and keys are
 * kept owner-only in the data directory; a renewal (SIGHUP with a renew-before window longer than
 * the certificate's life) is served to new connections while an open session and its client stay
 * connected, pinned by the public key; a restart reuses the stored certificate.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pinnedEchoSession, startEchoServer } from './helpers/external.js';
import { addKey, Proc, runCli, tempDir, waitFor } from './helpers/harness.js';
import { startDns, startPebble, type Pebble } from './helpers/pebble.js';
import { servedCertificate } from './helpers/tlsStream.js';

const HOST = '127.0.18.1';
const DOMAIN = 'sb-acme.test';
const dir = tempDir('sb-acme-');
const procs: Proc[] = [];
let pebble: Pebble;
let dns: Awaited<ReturnType<typeof startDns>>;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  dns = await startDns(new Map([[DOMAIN, HOST]]));
  pebble = await startPebble(dir.path, { dnsServer: dns.address });
  echo = await startEchoServer();
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await pebble?.stop();
  dns?.close();
  await echo?.close();
  dir.remove();
});

function acmeArgs(data: string, extra: string[] = []): string[] {
  return [
    'server',
    '--data',
    data,
    '--listen',
    `${HOST}:0`,
    '--acme-domain',
    DOMAIN,
    '--acme-directory',
    pebble.directory,
    '--acme-ca',
    join(dir.path, 'pebble-cert.pem'),
    '--acme-http-port',
    String(pebble.httpPort),
    '--acme-email',
    'ops@example.org',
    ...extra,
  ];
}

async function startAcmeServer(data: string, extra: string[] = []): Promise<{ proc: Proc; address: string }> {
  const proc = new Proc(acmeArgs(data, extra));
  procs.push(proc);
  const line = await proc.waitForMsg('listening', 60_000);
  await waitFor(() => proc.stderr.includes('public key pin'), 'the printed pins');
  return { proc, address: String(line.address) };
}

test('ACME: issued by pebble after a real http-01 validation, renewed on SIGHUP without dropping a session, reused after a restart', async () => {
  const data = join(dir.path, 'server');
  const key = await addKey(data, 'k1');
  const server = await startAcmeServer(data, ['--acme-renew-before', '36500']);
  const obtained = await server.proc.waitForMsg('ACME: certificate obtained');
  const first = await servedCertificate(server.address);
  assert.equal(first.fingerprint256, obtained.fingerprint);
  assert.match(first.subjectaltname ?? '', new RegExp(`DNS:${DOMAIN}`));
  const pin = String(obtained.pin);
  assert.match(pin, /^spki:sha256\/[A-Za-z0-9+/]{43}=$/);
  assert.ok(server.proc.stderr.includes(pin), 'the pin is printed at start');

  // Kept in the data directory, owner-only.
  const acmeDir = join(data, 'acme');
  assert.equal(statSync(acmeDir).mode & 0o777, 0o700);
  for (const f of ['account-key.pem', 'key.pem', 'cert.pem'])
    assert.equal(statSync(join(acmeDir, f)).mode & 0o777, 0o600, `${f} is owner-only`);

  // A client and a control pinned by the public key, and a session with bytes flowing.
  const { client, forward, stream } = await pinnedEchoSession(procs, {
    address: server.address,
    pin,
    key,
    state: join(dir.path, 'client-state'),
    echoPort: echo.port,
  });

  // Renewal: the renew-before window is longer than the certificate's life, so SIGHUP renews now.
  const from = server.proc.lines.length;
  server.proc.child.kill('SIGHUP');
  const renewed = await server.proc.waitForMsg('ACME: certificate renewed', 60_000, from);
  await server.proc.waitForMsg('TLS certificate reloaded', 15_000, from);
  assert.notEqual(renewed.fingerprint, obtained.fingerprint, 'a new certificate');
  assert.equal(renewed.pin, pin, 'the same key: the pin survives');
  const second = await servedCertificate(server.address);
  assert.equal(second.fingerprint256, renewed.fingerprint, 'new connections get the new certificate at once');

  // Nothing was dropped: the session still carries bytes, the client never reconnected.
  await stream.roundTrip();
  assert.equal(stream.closed(), false);
  assert.equal(client.lines.filter((l) => l.status === 'connected').length, 1, 'the client stayed connected');
  const browse = await runCli([
    'control',
    '--gateway',
    server.address,
    '--key',
    key,
    '--tls-fingerprint',
    pin,
    'browse',
    '--json',
  ]);
  assert.equal(browse.code, 0, browse.stderr);

  // The expiry is a gauge.
  const text = await (await fetch(`http://${server.address}/metrics`)).text();
  const expiry = Number(/^switchboard_tls_certificate_expiry_timestamp_seconds (\d+)/m.exec(text)?.[1]);
  assert.equal(expiry, Math.floor(new Date(second.valid_to).getTime() / 1000));
  stream.close();
  await forward.stop();
  await client.stop();

  // `tls show` prints both pins and the expiry from the data directory.
  const shown = await runCli(['tls', 'show', '--data', data]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.includes(pin));
  assert.ok(shown.stdout.includes(String(renewed.fingerprint)));
  assert.match(shown.stdout, /expires/);

  // A restart reuses the stored certificate (not due with the default 30-day window): no new order.
  await server.proc.stop();
  const again = await startAcmeServer(data);
  assert.equal(
    again.proc.lines.some((l) => l.msg === 'ACME: ordering a certificate'),
    false,
  );
  assert.equal((await servedCertificate(again.address)).fingerprint256, renewed.fingerprint);
  await again.proc.stop();
});

test('ACME: bad flags are refused with one clear line', async () => {
  const data = join(dir.path, 'bad');
  const noDirectory = await runCli(['server', '--data', data, '--acme-domain', DOMAIN]);
  assert.notEqual(noDirectory.code, 0);
  assert.match(noDirectory.stderr, /--acme-domain and --acme-directory go together/);
  const both = await runCli(['server', '--data', data, '--tls-self-signed', ...acmeArgs(data).slice(5, 9)]);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /one certificate source/);
  const badName = await runCli([
    'server',
    '--data',
    data,
    '--acme-domain',
    'not a name',
    '--acme-directory',
    'https://x/',
  ]);
  assert.match(badName.stderr, /--acme-domain must be a DNS name/);
});
