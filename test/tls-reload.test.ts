/**
 * Issue 18: a certificate replaced while the server runs. New files are served to new connections
 * at once; the open session and the connected clients keep going; a renewal with the same key
 * keeps key-pinned clients working; a bad pair is refused with a warning and the old certificate
 * stays; a key roll works for clients that pin both keys and refuses, naming the server, those that
 * pin only the old one.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spkiPin } from '../src/net/pins.js';
import { pinnedEchoSession, startEchoServer, startTrackedServer } from './helpers/external.js';
import { addKey, Proc, runCli, tempDir } from './helpers/harness.js';
import { stopAll } from './helpers/sb.js';
import { certificateFor, newKeyPair, replaceFile, servedCertificate } from './helpers/tlsStream.js';

const dir = tempDir('sb-tls-reload-');
const procs: Proc[] = [];
let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  echo = await startEchoServer();
});

after(async () => {
  await stopAll(procs);
  await echo?.close();
  dir.remove();
});

test('replaced --tls-cert/--tls-key files are served at once; sessions and clients stay; a key roll needs both pins', async () => {
  const data = join(dir.path, 'server');
  const key = await addKey(data, 'k1');
  const certFile = join(dir.path, 'cert.pem');
  const keyFile = join(dir.path, 'key.pem');
  const oldKey = newKeyPair();
  const first = await certificateFor(oldKey);
  writeFileSync(certFile, first);
  writeFileSync(keyFile, oldKey.privateKey, { mode: 0o600 });
  const server = await startTrackedServer(procs, data, ['--tls-cert', certFile, '--tls-key', keyFile]);
  const oldPin = spkiPin(first);
  const pinOf = (cert: string) => new X509Certificate(cert).fingerprint256;

  const { client, stream } = await pinnedEchoSession(procs, {
    address: server.address,
    pin: oldPin,
    key,
    state: join(dir.path, 'client'),
    echoPort: echo.port,
  });

  // A renewal: same key, new certificate, files replaced by rename.
  const renewed = await certificateFor(oldKey);
  let from = server.proc.lines.length;
  replaceFile(certFile, renewed);
  await server.proc.waitForMsg('TLS certificate reloaded', 15_000, from);
  assert.equal((await servedCertificate(server.address)).fingerprint256, pinOf(renewed));
  await stream.roundTrip();
  const browse = (pins: string) =>
    runCli(['control', '--gateway', server.address, '--key', key, '--tls-fingerprint', pins, 'browse', '--json']);
  const byOldPin = await browse(oldPin);
  assert.equal(byOldPin.code, 0, `a key pin survives the renewal: ${byOldPin.stderr}`);

  // A half-done replacement (a certificate of another key beside the old key) is refused, once, and the old one stays.
  const newKey = newKeyPair();
  const rolled = await certificateFor(newKey);
  from = server.proc.lines.length;
  replaceFile(certFile, rolled);
  const warning = await server.proc.waitForLine(
    (l) => l.level === 40 && String(l.msg).startsWith('TLS files not reloaded'),
    'the warning about a mismatched pair',
    15_000,
    from,
  );
  assert.match(String(warning.err), /not the key of the certificate/);
  assert.equal((await servedCertificate(server.address)).fingerprint256, pinOf(renewed));

  // The key roll completes: new connections get the new key; a control pinning only the old key is
  // refused with the server's name and what it presented; one pinning both gets in.
  from = server.proc.lines.length;
  replaceFile(keyFile, newKey.privateKey);
  await server.proc.waitForMsg('TLS certificate reloaded', 15_000, from);
  assert.equal((await servedCertificate(server.address)).fingerprint256, pinOf(rolled));
  const refused = await browse(oldPin);
  assert.notEqual(refused.code, 0);
  assert.ok(refused.stderr.includes(server.address), `names the server: ${refused.stderr}`);
  assert.ok(refused.stderr.includes(spkiPin(rolled)), `says what it presented: ${refused.stderr}`);
  const both = await browse(`${oldPin},${spkiPin(rolled)}`);
  assert.equal(both.code, 0, both.stderr);

  // Through all of it the session carried bytes and the client never reconnected.
  await stream.roundTrip();
  assert.equal(stream.closed(), false);
  assert.equal(client.lines.filter((l) => l.status === 'connected').length, 1);
  stream.close();
});
